// Package render writes what an annotation says: a deploy's and a
// rollout's title, description and link, and the summary of what changed.
// Pure functions of data: nothing here reads a file, the clock or the
// network.
package render

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// Limits of Axiom's annotations API, the strictest target: what is
// rendered fits them.
const (
	MaxTitle       = 256
	MaxDescription = 512
)

// maxField bounds what one value from the system (host name, label,
// revision) may take of the description, so that the rest still fits.
const maxField = 80

// typePattern is what Axiom accepts as an annotation type.
var typePattern = regexp.MustCompile(`^[a-z0-9-]+$`)

// Settings are what the user chose about the annotation.
type Settings struct {
	Datasets []string
	Type     string
	// RepositoryURL is where the configuration's commits are browsed: an
	// https URL or a flake reference (github:owner/repo).
	RepositoryURL string
}

// Validate checks the settings the way Axiom would.
func (s Settings) Validate() error {
	if len(s.Datasets) == 0 {
		return fmt.Errorf("no dataset: name at least one")
	}
	for _, d := range s.Datasets {
		if strings.TrimSpace(d) == "" {
			return fmt.Errorf("empty dataset name")
		}
	}
	if !typePattern.MatchString(s.Type) {
		return fmt.Errorf("invalid annotation type %q: use lowercase letters, digits and -", s.Type)
	}
	if s.RepositoryURL != "" {
		if _, err := repositoryBase(s.RepositoryURL); err != nil {
			return err
		}
	}
	return nil
}

// CheckHostname says what is wrong with a host name given for the
// annotation, nil when nothing is: it must be what text.Line makes of it,
// so without control characters, invisible formatting characters
// (bidirectional overrides, zero-width spaces) or surrounding spaces.
func CheckHostname(h string) error {
	if !text.IsLine(h) || len(h) > maxField {
		return fmt.Errorf("invalid host name %q: want at most %d characters, no control or invisible formatting characters and no surrounding spaces", h, maxField)
	}
	return nil
}

package render

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// commitPattern is what a revision must look like to get a link.
var commitPattern = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// commitLink is the page of a commit in the repository, "" without a
// repository or when the revision is not a commit.
func commitLink(repository, rev string) string {
	if repository == "" || !commitPattern.MatchString(rev) {
		return ""
	}
	u, _ := commitURL(repository, rev)
	return u
}

// RepositoryURL is the repository's web address, as the commit links are
// made from it: https://host/owner/repo.
func RepositoryURL(repository string) (string, error) {
	u, err := repositoryBase(repository)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// commitURL is the page of a commit in a repository: …/commit/<rev> for
// GitHub, Codeberg, Gitea, Forgejo and sourcehut, …/-/commit/<rev> for GitLab.
func commitURL(repository, rev string) (string, error) {
	base, err := repositoryBase(repository)
	if err != nil {
		return "", err
	}
	sep := "/commit/"
	if strings.Contains(base.Host, "gitlab") {
		sep = "/-/commit/"
	}
	return base.String() + sep + url.PathEscape(rev), nil
}

var flakeRefHosts = map[string]string{
	"github":    "https://github.com/",
	"gitlab":    "https://gitlab.com/",
	"sourcehut": "https://git.sr.ht/",
}

func repositoryBase(repository string) (*url.URL, error) {
	r := strings.TrimSpace(repository)
	if scheme, rest, ok := strings.Cut(r, ":"); ok {
		if prefix, ok := flakeRefHosts[scheme]; ok {
			r = prefix + strings.TrimPrefix(rest, "/")
		}
	}
	// An error repeats the URL without what may be a credential
	// (text.URL): check-config's errors go into the Nix build log.
	u, err := url.Parse(r)
	switch {
	case err == nil && (u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != ""):
		return nil, fmt.Errorf("invalid repository URL %q: no user, password, query or fragment; want https://host/owner/repo or github:owner/repo", text.URL(repository))
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return nil, fmt.Errorf("invalid repository URL %q: want https://host/owner/repo or github:owner/repo", text.URL(repository))
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
	u.RawPath = ""
	if parts := strings.Split(strings.Trim(u.Path, "/"), "/"); len(parts) < 2 || slices.Contains(parts, "") {
		return nil, fmt.Errorf("invalid repository URL %q: name the repository, as in https://host/owner/repo or github:owner/repo", text.URL(repository))
	}
	return u, nil
}

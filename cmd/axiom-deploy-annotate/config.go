package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
)

// config is every setting, from defaults, then the --config file, then
// flags. Its JSON form is the --config file.
type config struct {
	Profile         string   `json:"profile"`
	CurrentSystem   string   `json:"currentSystem"`
	Hostname        string   `json:"hostname"`
	StateDir        string   `json:"stateDir"`
	TokenFile       string   `json:"tokenFile"`
	OrgID           string   `json:"orgId"`
	APIEndpoint     string   `json:"apiEndpoint"`
	Datasets        []string `json:"datasets"`
	Type            string   `json:"type"`
	RepositoryURL   string   `json:"repositoryUrl"`
	TracesEndpoint  string   `json:"tracesEndpoint"`
	TracesDataset   string   `json:"tracesDataset"`
	TracesTokenFile string   `json:"tracesTokenFile"`
	Timeout         duration `json:"timeout"`
	SpoolLimit      int      `json:"spoolLimit"`

	// Set only by flags.
	configFile string
	dryRun     bool
	force      bool
	version    bool
	// tokenFileSet says the token file was chosen, so it must be read,
	// rather than the default tried after AXIOM_TOKEN.
	tokenFileSet bool
}

const defaultTokenFile = "/run/secrets/axiom_token"

func defaults() config {
	return config{
		Profile:        "/nix/var/nix/profiles/system",
		CurrentSystem:  "/run/current-system",
		StateDir:       "/var/lib/axiom-deploy-annotation",
		TokenFile:      defaultTokenFile,
		APIEndpoint:    "https://api.axiom.co/v2/annotations",
		Datasets:       []string{"deployments"},
		Type:           "nix-deploy",
		TracesEndpoint: "https://api.axiom.co/v1/traces",
		Timeout:        duration(30 * time.Second),
		SpoolLimit:     100,
	}
}

// duration is a time.Duration written as "30s" in JSON.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timeout: want a duration such as \"30s\"")
	}
	v, err := parseDuration(s)
	*d = duration(v)
	return err
}

func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("invalid timeout %q: want a positive duration such as 30s", s)
	}
	return v, nil
}

// parseConfigFile reads a --config file over c. Unknown keys are errors,
// so that a misspelt setting is not silently ignored.
func parseConfigFile(b []byte, c *config) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

type datasetsFlag struct {
	list *[]string
	set  bool
}

func (f *datasetsFlag) String() string { return "" }
func (f *datasetsFlag) Set(v string) error {
	if !f.set {
		*f.list, f.set = nil, true
	}
	*f.list = append(*f.list, v)
	return nil
}

// usageError is an error in the command line itself, which the hint to
// --help follows.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// parseArgs reads the flags, the --config file they name, and checks the
// result. Flags win over the file.
func parseArgs(args []string) (config, error) {
	c := defaults()
	fs := flag.NewFlagSet("axiom-deploy-annotate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f config
	var timeout string
	var datasets []string
	fs.StringVar(&f.configFile, "config", "", "")
	fs.StringVar(&f.Profile, "profile", "", "")
	fs.StringVar(&f.CurrentSystem, "current-system", "", "")
	fs.StringVar(&f.Hostname, "hostname", "", "")
	fs.StringVar(&f.StateDir, "state-dir", "", "")
	fs.StringVar(&f.TokenFile, "token-file", "", "")
	fs.StringVar(&f.OrgID, "org-id", "", "")
	fs.StringVar(&f.APIEndpoint, "api-endpoint", "", "")
	fs.Var(&datasetsFlag{list: &datasets}, "dataset", "")
	fs.StringVar(&f.Type, "type", "", "")
	fs.StringVar(&f.RepositoryURL, "repository-url", "", "")
	fs.StringVar(&f.TracesEndpoint, "traces-endpoint", "", "")
	fs.StringVar(&f.TracesDataset, "traces-dataset", "", "")
	fs.StringVar(&f.TracesTokenFile, "traces-token-file", "", "")
	fs.StringVar(&timeout, "timeout", "", "")
	fs.IntVar(&f.SpoolLimit, "spool-limit", 0, "")
	fs.BoolVar(&f.dryRun, "dry-run", false, "")
	fs.BoolVar(&f.force, "force", false, "")
	fs.BoolVar(&f.version, "version", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, usageError{err}
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}

	if f.configFile != "" {
		b, err := os.ReadFile(f.configFile)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		tokenFile := c.TokenFile
		c.TokenFile = ""
		if err := parseConfigFile(b, &c); err != nil {
			return c, fmt.Errorf("config %s: %v", f.configFile, err)
		}
		if c.TokenFile == "" {
			c.TokenFile = tokenFile
		} else {
			c.tokenFileSet = true
		}
	}

	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	str := func(name string, dst *string, v string) {
		if set[name] {
			*dst = v
		}
	}
	str("profile", &c.Profile, f.Profile)
	str("current-system", &c.CurrentSystem, f.CurrentSystem)
	str("hostname", &c.Hostname, f.Hostname)
	str("state-dir", &c.StateDir, f.StateDir)
	str("token-file", &c.TokenFile, f.TokenFile)
	str("org-id", &c.OrgID, f.OrgID)
	str("api-endpoint", &c.APIEndpoint, f.APIEndpoint)
	str("type", &c.Type, f.Type)
	str("repository-url", &c.RepositoryURL, f.RepositoryURL)
	str("traces-endpoint", &c.TracesEndpoint, f.TracesEndpoint)
	str("traces-dataset", &c.TracesDataset, f.TracesDataset)
	str("traces-token-file", &c.TracesTokenFile, f.TracesTokenFile)
	if set["token-file"] {
		c.tokenFileSet = true
	}
	if set["dataset"] {
		c.Datasets = datasets
	}
	if set["spool-limit"] {
		c.SpoolLimit = f.SpoolLimit
	}
	if set["timeout"] {
		d, err := parseDuration(timeout)
		if err != nil {
			return c, err
		}
		c.Timeout = duration(d)
	}
	c.configFile, c.dryRun, c.force, c.version = f.configFile, f.dryRun, f.force, f.version
	return c, c.validate()
}

func (c *config) settings() annotator.Settings {
	return annotator.Settings{Datasets: c.Datasets, Type: c.Type, RepositoryURL: c.RepositoryURL}
}

func (c *config) validate() error {
	if err := c.settings().Validate(); err != nil {
		return err
	}
	if err := checkEndpoint("API endpoint", c.APIEndpoint); err != nil {
		return err
	}
	if _, err := annotator.APIBase(c.APIEndpoint); err != nil {
		return err
	}
	if c.TracesEndpoint != "" {
		if err := checkEndpoint("traces endpoint", c.TracesEndpoint); err != nil {
			return err
		}
	}
	for name, p := range map[string]string{"profile": c.Profile, "current system": c.CurrentSystem, "state directory": c.StateDir} {
		if p == "" {
			return fmt.Errorf("empty %s path", name)
		}
	}
	if c.Hostname != annotator.Clean(c.Hostname) {
		return fmt.Errorf("invalid host name %q", c.Hostname)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("invalid timeout %s: want a positive duration", time.Duration(c.Timeout))
	}
	if c.SpoolLimit < 1 {
		return fmt.Errorf("invalid spool limit %d: want 1 or more", c.SpoolLimit)
	}
	return nil
}

// checkEndpoint allows https, and plain http only to a loopback address,
// where no token crosses a network.
func checkEndpoint(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("invalid %s %q: want an https URL", what, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("invalid %s %q: must be https (plain http only to a loopback address)", what, raw)
}

// readToken reads a token file: surrounding white space trimmed, a warning
// when others may read it.
func readToken(path string, warn func(msg string, args ...any)) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o004 != 0 {
		warn("token file is readable by every user: chmod o-r it", "file", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

const usage = `Usage: axiom-deploy-annotate [annotate|flush|check-config] [flags]

Tells Axiom once about the NixOS or nix-darwin system that runs now: an
annotation on the chosen datasets, and a trace of the run.

Modes:
  annotate        annotate the current system if it is a new deploy, then
                  deliver anything spooled (the default)
  flush           only deliver what earlier runs could not
  check-config    check the settings and exit: 0 when good, 2 when not

Flags:
  --config FILE             JSON settings (keys as the flags, camelCase);
                            flags win
  --profile PATH            system profile (/nix/var/nix/profiles/system)
  --current-system PATH     running system (/run/current-system)
  --hostname NAME           host name to report (the short host name)
  --state-dir DIR           state and spool (/var/lib/axiom-deploy-annotation)
  --token-file FILE         Axiom token (/run/secrets/axiom_token, else
                            $AXIOM_TOKEN)
  --org-id ID               organisation, for a personal token (xapt-...)
  --api-endpoint URL        (https://api.axiom.co/v2/annotations)
  --dataset NAME            dataset to annotate, repeatable (deployments)
  --type TYPE               annotation type (nix-deploy)
  --repository-url URL      links the commit: https://github.com/o/r or
                            github:o/r (none)
  --traces-endpoint URL     OTLP/HTTP traces (https://api.axiom.co/v1/traces);
                            "" turns export off
  --traces-dataset NAME     Axiom traces dataset (none: no export)
  --traces-token-file FILE  token for traces (the annotation token)
  --timeout DURATION        deadline for the whole run (30s)
  --spool-limit N           undelivered annotations kept (100)
  --dry-run                 print what would be sent as JSON (with flush:
                            what is spooled); send nothing, write nothing
  --force                   annotate even if this system was annotated last
  --version                 print the version
  --help                    print this help

Exit status: 0 annotated, already annotated, or spooled for later; 1 internal
error; 2 usage or configuration error; 3 not a NixOS or nix-darwin system;
4 state directory unusable.
`

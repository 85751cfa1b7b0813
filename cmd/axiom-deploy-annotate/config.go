package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/bdsqqq/axiom-deploy-annotation/dashboard"
	"github.com/bdsqqq/axiom-deploy-annotation/dashboard/monitor"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// config is every setting: the defaults, then the --config file, then
// flags. Its JSON form is the --config file.
type config struct {
	Scope           string   `json:"scope"`
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
	Revision        string   `json:"revision"`
	CommitTime      unixTime `json:"commitTime"`
	Annotate        bool     `json:"annotate"`
	Environment     string   `json:"environment"`
	TracesEndpoint  string   `json:"tracesEndpoint"`
	TracesDataset   string   `json:"tracesDataset"`
	TracesTokenFile string   `json:"tracesTokenFile"`
	Timeout         duration `json:"timeout"`
	SpoolLimit      int      `json:"spoolLimit"`
	DashboardUID    string   `json:"dashboardUid"`

	// Set only by flags.
	configFile string
	dryRun     bool
	force      bool
	verbose    bool
	version    bool
	since      duration
	jsonOut    bool
	// For monitors.
	notifiers                              []string
	spooledAfter, silentAfter, behindAfter duration
	// tokenFileSet says the token file was chosen, so it must be read,
	// rather than the default tried after AXIOM_TOKEN.
	tokenFileSet bool
	// profileSet and currentSystemSet say the paths were chosen, so that
	// the scope's defaults do not replace them.
	profileSet, currentSystemSet bool
}

const defaultTokenFile = "/run/secrets/axiom_token"

func defaults() config {
	return config{
		Scope:          string(nixinfo.System),
		Profile:        "/nix/var/nix/profiles/system",
		CurrentSystem:  "/run/current-system",
		StateDir:       defaultStateDir(),
		TokenFile:      defaultTokenFile,
		APIEndpoint:    "https://api.axiom.co/v2/annotations",
		Datasets:       []string{"deployments"},
		Type:           "nix-deploy",
		Annotate:       true,
		TracesEndpoint: "https://api.axiom.co/v1/traces",
		Timeout:        duration(30 * time.Second),
		SpoolLimit:     100,
		DashboardUID:   dashboard.DefaultUID,
		since:          duration(dashboard.DefaultSince),
		spooledAfter:   duration(monitor.DefaultSpooledAfter),
		silentAfter:    duration(monitor.DefaultSilentAfter),
		behindAfter:    duration(monitor.DefaultBehindAfter),
	}
}

// setting is one setting, declared once: its flag, its key in the config
// file (none for flags that only act on one run), how it reads a value,
// and its help.
type setting struct {
	flag, key, arg, help string
	value                func(c *config) flag.Value
}

// settings is every flag, in the order --help lists them.
var settings = []setting{
	{"config", "", "FILE", "JSON settings, keys as shown below; flags win", func(c *config) flag.Value { return (*stringValue)(&c.configFile) }},
	{"scope", "scope", "SCOPE", "whose deploys: system, or home-manager for your Home Manager generations (then Home Manager's profile and current generation are the defaults)", str(func(c *config) *string { return &c.Scope })},
	{"profile", "profile", "PATH", "the profile whose generations are deployed", func(c *config) flag.Value { return &chosenValue{&c.Profile, &c.profileSet} }},
	{"current-system", "currentSystem", "PATH", "what runs now: the system, or with scope home-manager the generation", func(c *config) flag.Value { return &chosenValue{&c.CurrentSystem, &c.currentSystemSet} }},
	{"hostname", "hostname", "NAME", "host name to report (default: the short host name)", str(func(c *config) *string { return &c.Hostname })},
	{"state-dir", "stateDir", "DIR", "state and spool (not as root: $XDG_STATE_HOME/axiom-deploy-annotation)", str(func(c *config) *string { return &c.StateDir })},
	{"token-file", "tokenFile", "FILE", "Axiom token; when no file is named, $AXIOM_TOKEN wins over this default", func(c *config) flag.Value { return &chosenValue{&c.TokenFile, &c.tokenFileSet} }},
	{"org-id", "orgId", "ID", "organisation, for a personal token (xapt-...)", str(func(c *config) *string { return &c.OrgID })},
	{"api-endpoint", "apiEndpoint", "URL", "Axiom's annotations API; its scheme and host are Axiom's base URL", str(func(c *config) *string { return &c.APIEndpoint })},
	{"dataset", "datasets", "NAME", "dataset to annotate, repeatable", func(c *config) flag.Value { return &listValue{list: &c.Datasets} }},
	{"type", "type", "TYPE", "annotation type", str(func(c *config) *string { return &c.Type })},
	{"repository-url", "repositoryUrl", "URL", "links the commit: https://host/owner/repo, github:o/r, gitlab:o/r, sourcehut:~o/r", str(func(c *config) *string { return &c.RepositoryURL })},
	{"revision", "revision", "REV", "the configuration's commit (-dirty for a dirty tree) where the generation carries none, as Home Manager's never do; rollout: the one deployed (default: git HEAD here)", str(func(c *config) *string { return &c.Revision })},
	{"commit-time", "commitTime", "SECONDS", "when the revision was committed, in Unix seconds (a flake's self.lastModified): gives lead time", func(c *config) flag.Value { return &c.CommitTime }},
	{"annotate", "annotate", "BOOL", "send annotations; --annotate=false records and traces deploys only", func(c *config) flag.Value { return (*boolValue)(&c.Annotate) }},
	{"environment", "environment", "NAME", string(semconv.DeploymentEnvironmentNameKey) + " of the traces, e.g. production", str(func(c *config) *string { return &c.Environment })},
	{"traces-endpoint", "tracesEndpoint", "URL", `OTLP/HTTP traces; "" turns export off`, str(func(c *config) *string { return &c.TracesEndpoint })},
	{"traces-dataset", "tracesDataset", "NAME", "Axiom traces dataset (needed when the endpoint is Axiom's)", str(func(c *config) *string { return &c.TracesDataset })},
	{"traces-token-file", "tracesTokenFile", "FILE", "token for traces (default: the annotation token)", str(func(c *config) *string { return &c.TracesTokenFile })},
	{"timeout", "timeout", "DURATION", "deadline for the whole run", func(c *config) flag.Value { return &c.Timeout }},
	{"spool-limit", "spoolLimit", "N", "undelivered deploys kept", func(c *config) flag.Value { return (*intValue)(&c.SpoolLimit) }},
	{"dashboard-uid", "dashboardUid", "UID", "the dashboard's uid, for dashboard", str(func(c *config) *string { return &c.DashboardUID })},
	{"since", "", "DURATION", "how far back fleet looks", func(c *config) flag.Value { return &c.since }},
	{"json", "", "", "fleet: print JSON", func(c *config) flag.Value { return (*boolValue)(&c.jsonOut) }},
	{"notifier", "", "ID", "monitors: an Axiom notifier to tell, repeatable (none: the monitors only show in Axiom)", func(c *config) flag.Value { return &listValue{list: &c.notifiers} }},
	{"spooled-after", "", "DURATION", "monitors: alert when every flush of a host left deploys undelivered for this long", func(c *config) flag.Value { return &c.spooledAfter }},
	{"silent-after", "", "DURATION", "monitors: alert when no flush run of a host reached Axiom for this long", func(c *config) flag.Value { return &c.silentAfter }},
	{"behind-after", "", "DURATION", "monitors: alert when a host runs another revision than the fleet's newest deploy, made this long ago", func(c *config) flag.Value { return &c.behindAfter }},
	{"dry-run", "", "", "print what would be sent as JSON; send nothing, write nothing (not with rollout)", func(c *config) flag.Value { return (*boolValue)(&c.dryRun) }},
	{"force", "", "", "annotate even if this system was annotated last; dashboard, monitors: overwrite edits made in Axiom", func(c *config) flag.Value { return (*boolValue)(&c.force) }},
	{"verbose", "", "", "log debug lines: where spans go, why nothing is exported, and why the Nix daemon is not used", func(c *config) flag.Value { return (*boolValue)(&c.verbose) }},
	{"version", "", "", "print the version", func(c *config) flag.Value { return (*boolValue)(&c.version) }},
}

func str(field func(c *config) *string) func(c *config) flag.Value {
	return func(c *config) flag.Value { return (*stringValue)(field(c)) }
}

// usageError is an error in the command line itself, which the hint to
// --help follows.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// flagSet binds every flag straight onto c.
func flagSet(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("axiom-deploy-annotate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, s := range settings {
		fs.Var(s.value(c), s.flag, s.help)
	}
	return fs
}

// maxConfig bounds a --config file: settings take a few hundred bytes.
const maxConfig = 64 << 10

// parseArgs reads the flags, the --config file they name, and checks the
// result: the flags are read once to find --config, then again over the
// file's settings, so that flags win. With interspersed, the arguments
// that are not flags (drop's ids) may come before, between or after them.
func parseArgs(args []string, interspersed bool) (config, []string, error) {
	probe := defaults()
	if _, err := parseAll(flagSet(&probe), args, interspersed); err != nil {
		return probe, nil, err
	}
	c := defaults()
	if probe.configFile != "" {
		// A pipe that never ends is given the run's time, no more.
		b, err := bounded.ReadFile(probe.configFile, maxConfig, newBudget(time.Duration(probe.Timeout), time.Now()).deadline)
		if err != nil {
			return c, nil, fmt.Errorf("config %s: %w", probe.configFile, err)
		}
		if err := parseConfigFile(b, &c); err != nil {
			return c, nil, fmt.Errorf("config %s: %v", probe.configFile, err)
		}
	}
	rest, err := parseAll(flagSet(&c), args, interspersed)
	if err != nil {
		return c, nil, err
	}
	c.scopeDefaults(os.Getenv)
	return c, rest, c.validate()
}

// parseFlags parses args, saying flag errors with the double dash the help
// uses.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return err
	case strings.HasPrefix(err.Error(), "flag provided but not defined: -"):
		name := strings.TrimPrefix(err.Error(), "flag provided but not defined: -")
		return usageError{fmt.Errorf("unknown flag --%s", strings.TrimPrefix(name, "-"))}
	case strings.HasPrefix(err.Error(), "flag needs an argument: -"):
		name := strings.TrimPrefix(err.Error(), "flag needs an argument: -")
		return usageError{fmt.Errorf("flag --%s needs a value", strings.TrimPrefix(name, "-"))}
	case strings.HasPrefix(err.Error(), "invalid "):
		// "invalid value "x" for flag -timeout: …", "invalid boolean value
		// "x" for -verbose: …"
		msg := strings.Replace(err.Error(), " for flag -", " for -", 1)
		msg = strings.Replace(msg, " for -", " for --", 1)
		return usageError{errors.New(msg)}
	}
	return usageError{err}
}

// parseConfigFile reads a --config file over c. Keys are exact and each may
// appear once, so that a misspelt or doubled setting is not silently
// ignored.
func parseConfigFile(b []byte, c *config) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("empty file: want a JSON object such as {\"datasets\": [\"deployments\"]}")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("want a JSON object of settings")
	}
	byKey := map[string]setting{}
	for _, s := range settings {
		if s.key != "" {
			byKey[s.key] = s
		}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonError(err)
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return jsonError(err)
		}
		s, ok := byKey[key]
		if !ok {
			return fmt.Errorf("unknown key %q (keys are case-sensitive, as in --help)", key)
		}
		if seen[key] {
			return fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		if err := setJSON(s.value(c), raw); err != nil {
			return fmt.Errorf("%s %v", key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value")
	}
	return nil
}

func jsonError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("unexpected end of JSON: the file is cut short")
	}
	return err
}

// jsonValue is a flag.Value that also reads its config-file form.
type jsonValue interface {
	flag.Value
	setJSON(raw json.RawMessage) error
}

func setJSON(v flag.Value, raw json.RawMessage) error {
	return v.(jsonValue).setJSON(raw)
}

type stringValue string

func (v *stringValue) String() string     { return string(*v) }
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) setJSON(raw json.RawMessage) error {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return errors.New("must be a string")
	}
	*v = stringValue(s)
	return nil
}

type boolValue bool

func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }
func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) setJSON(raw json.RawMessage) error {
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return errors.New("must be true or false")
	}
	*v = boolValue(b)
	return nil
}

type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want a whole number")
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) setJSON(raw json.RawMessage) error {
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return errors.New("must be a whole number")
	}
	*v = intValue(n)
	return nil
}

// listValue is a repeatable flag: the first use replaces the default.
type listValue struct {
	list *[]string
	set  bool
}

func (v *listValue) String() string {
	if v.list == nil {
		return ""
	}
	return strings.Join(*v.list, ",")
}
func (v *listValue) Set(s string) error {
	if !v.set {
		*v.list, v.set = nil, true
	}
	*v.list = append(*v.list, s)
	return nil
}
func (v *listValue) setJSON(raw json.RawMessage) error {
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil || l == nil {
		return errors.New("must be a list of strings")
	}
	*v.list = l
	return nil
}

package telemetry

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/authhttp"
)

// Destination says where a run's spans go, or why they go nowhere.
type Destination struct {
	// Endpoint is the traces URL in force (scheme, host and path only);
	// empty when nothing is exported.
	Endpoint string
	// Source is what chose Endpoint: "config", or the environment
	// variable that replaced it.
	Source string
	// Dataset is the X-Axiom-Dataset sent, if any.
	Dataset string
	// Token says whether the Axiom token goes with the spans.
	Token bool
	// EnvHeaders says that OTEL_EXPORTER_OTLP_(TRACES_)HEADERS decide the
	// headers, and none of ours are sent.
	EnvHeaders bool
	// Why says why nothing is exported; empty when spans are exported.
	Why string
}

// String is the destination in one line, for a log or a --verbose run.
func (d Destination) String() string {
	if d.Why != "" {
		return "nowhere: " + d.Why
	}
	s := d.Endpoint
	if d.Source != "config" {
		s += " (from " + d.Source + ")"
	}
	switch {
	case d.EnvHeaders:
		s += ", headers from the environment"
	case d.Dataset != "":
		s += ", dataset " + d.Dataset
	}
	if d.Token {
		s += ", with the Axiom token"
	}
	return s
}

// plan is what Setup does about export: where, with which headers, and
// what it tells the log.
type plan struct {
	dest Destination
	// headers are ours; nil leaves the environment's in force.
	headers map[string]string
	// warn is a problem the user should fix; info is worth knowing.
	warn, info string
}

// decide resolves the endpoint in force and what may go with it. The
// environment's endpoint, where set, replaces the configured one, as the
// OTLP exporter would have it; the Axiom token, dataset and org id go only
// where the token is safe (see authhttp.TokenMayGo), and Axiom itself gets spans
// only with a dataset.
func decide(cfg Config, getenv func(string) string) plan {
	var p plan
	if cfg.Endpoint == "" {
		p.dest.Why = "no traces endpoint"
		if name := envName(getenv, "TRACES_ENDPOINT", "ENDPOINT"); name != "" {
			p.dest.Why += " (" + name + " only replaces one)"
		}
		return p
	}
	u, source, err := resolve(cfg.Endpoint, getenv)
	if err != nil {
		p.dest.Why = err.Error()
		p.warn = "traces not exported: " + err.Error()
		return p
	}
	p.dest.Endpoint, p.dest.Source = u.String(), source
	if source != "config" {
		p.info = fmt.Sprintf("traces go to %s, as %s says", u, source)
	}
	axiom := isAxiom(u.Hostname())
	safe := authhttp.TokenMayGo(u)
	if axiom && !safe {
		p.dest = Destination{Why: fmt.Sprintf("%s is plain http: Axiom takes traces only over https", u)}
		p.warn, p.info = "traces not exported: "+p.dest.Why, ""
		return p
	}
	if name := envName(getenv, "TRACES_HEADERS", "HEADERS"); name != "" {
		p.dest.EnvHeaders = true
		return p
	}
	if axiom && cfg.Dataset == "" {
		p.dest = Destination{Why: fmt.Sprintf("no traces dataset for %s: set --traces-dataset", u)}
		p.warn, p.info = "traces not exported: "+p.dest.Why, ""
		return p
	}
	p.headers = map[string]string{}
	if !safe {
		if cfg.Token != "" || cfg.Dataset != "" || cfg.OrgID != "" {
			p.info = join(p.info, fmt.Sprintf("the Axiom token, dataset and org id are not sent to %s: it is plain http to another machine", u))
		}
		return p
	}
	if cfg.Dataset != "" {
		p.headers["X-Axiom-Dataset"] = cfg.Dataset
		p.dest.Dataset = cfg.Dataset
	}
	if cfg.Token != "" {
		p.headers["Authorization"] = "Bearer " + cfg.Token
		p.dest.Token = true
	}
	if cfg.OrgID != "" {
		p.headers["X-Axiom-Org-Id"] = cfg.OrgID
	}
	return p
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

const envPrefix = "OTEL_EXPORTER_OTLP_"

// envName is the full name of the first of the OTEL_EXPORTER_OTLP_ keys
// that is set, or "".
func envName(getenv func(string) string, keys ...string) string {
	for _, k := range keys {
		if strings.TrimSpace(getenv(envPrefix+k)) != "" {
			return envPrefix + k
		}
	}
	return ""
}

// resolve is the traces URL the OTLP/HTTP exporter (v1.47) would use:
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else
// OTEL_EXPORTER_OTLP_ENDPOINT with /v1/traces appended, else the configured
// one; an environment URL's scheme is then overridden by
// OTEL_EXPORTER_OTLP_INSECURE and OTEL_EXPORTER_OTLP_TRACES_INSECURE. It
// keeps the scheme, host and path only, as the exporter does, and refuses
// what the exporter would quietly replace by https://localhost:4318.
func resolve(configured string, getenv func(string) string) (*url.URL, string, error) {
	// A malformed ENDPOINT is refused even when TRACES_ENDPOINT is set:
	// the exporter parses both, and would print the bad one, secrets and
	// all.
	var u *url.URL
	source := ""
	for _, k := range []string{"ENDPOINT", "TRACES_ENDPOINT"} {
		raw := strings.TrimSpace(getenv(envPrefix + k))
		if raw == "" {
			continue
		}
		v, err := parseEndpoint(raw)
		if err != nil {
			return nil, "", fmt.Errorf("%s%s is %v", envPrefix, k, err)
		}
		if k == "ENDPOINT" {
			v.Path = path.Join(v.Path, "/v1/traces")
		} else if v.Path == "" {
			v.Path = "/"
		}
		u, source = v, envPrefix+k
	}
	if u == nil {
		v, err := parseEndpoint(configured)
		if err != nil {
			return nil, "", fmt.Errorf("the traces endpoint is %v", err)
		}
		if v.Path == "" {
			v.Path = "/"
		}
		return v, "config", nil
	}
	for _, k := range []string{"INSECURE", "TRACES_INSECURE"} {
		if v := strings.TrimSpace(getenv(envPrefix + k)); v != "" {
			u.Scheme = "https"
			if strings.EqualFold(v, "true") {
				u.Scheme = "http"
			}
			source += " and " + envPrefix + k
		}
	}
	return u, source, nil
}

// parseEndpoint takes an http or https URL with a host, and keeps what the
// exporter uses of it.
func parseEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("not an http or https URL with a host, such as https://api.axiom.co/v1/traces")
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}, nil
}

// isAxiom says whether host is Axiom's: api.axiom.co, or an edge
// deployment's domain.
func isAxiom(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "axiom.co" || strings.HasSuffix(host, ".axiom.co")
}

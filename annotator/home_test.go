package annotator

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/health"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

func home(g nixinfo.Generation) *nixinfo.Generation {
	g.Scope, g.User = nixinfo.HomeManager, "alice"
	if g.Hostname == "" {
		g.Hostname = "laptop"
	}
	return &g
}

// TestHomeManagerDeployment: two users deploying at the same instant on
// one host are two deploys, each saying whose it is on its spans.
func TestHomeManagerDeployment(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	alice := home(nixinfo.Generation{Number: intp(3), StorePath: "/nix/store/aaaa-home-manager-generation"})
	bob := home(nixinfo.Generation{Number: intp(3), StorePath: alice.StorePath})
	bob.User = "bob"
	ea, eb := &outbox.Entry{StorePath: alice.StorePath, Time: at, Discovered: alice}, &outbox.Entry{StorePath: bob.StorePath, Time: at, Discovered: bob}
	if ea.DeploymentID() == eb.DeploymentID() {
		t.Errorf("alice's and bob's deploys share the deployment id %s", ea.DeploymentID())
	}
	attrs := map[attribute.Key]string{}
	for _, kv := range DeployAttributes(ea, "") {
		attrs[kv.Key] = kv.Value.String()
	}
	for k, want := range map[attribute.Key]string{
		vocab.NixScope: string(vocab.ScopeHomeManager), "user.name": "alice", "host.name": "laptop",
		"deployment.name": "alice@laptop hm gen 3",
	} {
		if attrs[k] != want {
			t.Errorf("%s = %q, want %q", k, attrs[k], want)
		}
	}
	sys := &outbox.Entry{StorePath: "/nix/store/dddd-nixos-system", Time: at, Discovered: &nixinfo.Generation{Hostname: "laptop", StorePath: "/nix/store/dddd-nixos-system"}}
	attrs = map[attribute.Key]string{}
	for _, kv := range DeployAttributes(sys, "") {
		attrs[kv.Key] = kv.Value.String()
	}
	if attrs[vocab.NixScope] != string(vocab.ScopeSystem) || attrs["user.name"] != "" {
		t.Errorf("a system deploy recorded by an older version: scope %q, user %q", attrs[vocab.NixScope], attrs["user.name"])
	}
}

// TestScopesInVocabulary: each scope the discovery knows is a value the
// vocabulary declares for nix.scope.
func TestScopesInVocabulary(t *testing.T) {
	declared := map[vocab.Scope]bool{vocab.ScopeSystem: true, vocab.ScopeHomeManager: true}
	for _, s := range nixinfo.Scopes {
		if !declared[vocab.Scope(s)] {
			t.Errorf("scope %q is not a value of %s", s, vocab.NixScope)
		}
	}
	if len(nixinfo.Scopes) != len(declared) {
		t.Errorf("nixinfo has %d scopes, the vocabulary %d", len(nixinfo.Scopes), len(declared))
	}
}

// judgeOnly is a Health that counts what it was asked.
type judgeOnly struct{ asked int }

func (j *judgeOnly) Before(context.Context) health.Before {
	j.asked++
	return health.Before{Known: true}
}
func (j *judgeOnly) Judge(context.Context, string, health.Before) *health.Report {
	j.asked++
	return &health.Report{Status: health.Healthy}
}

// TestHomeManagerHealthUnknown: a user's generation on NixOS is not
// judged by the system's failed units: unknown, and systemd not asked.
func TestHomeManagerHealthUnknown(t *testing.T) {
	j := &judgeOnly{}
	a := &Annotator{opts: Options{Health: j}}
	g := home(nixinfo.Generation{Number: intp(3), StorePath: "/nix/store/aaaa-home-manager-generation", Platform: nixinfo.NixOS})
	e := &outbox.Entry{StorePath: g.StorePath, Discovered: g}
	a.judge(context.Background(), e)
	if e.Health == nil || e.Health.Status != health.Unknown || j.asked != 0 {
		t.Errorf("health %+v, systemd asked %d times; want unknown, never asked", e.Health, j.asked)
	}
	sys := &outbox.Entry{StorePath: "/nix/store/dddd-nixos-system", Discovered: &nixinfo.Generation{StorePath: "/nix/store/dddd-nixos-system", Platform: nixinfo.NixOS}}
	a.judge(context.Background(), sys)
	if sys.Health == nil || sys.Health.Status != health.Healthy || j.asked != 2 {
		t.Errorf("system deploy: health %+v, asked %d times; want healthy, asked twice", sys.Health, j.asked)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// homeUser is a user's Home Manager profile on the host, with the state
// directory the module gives the command.
type homeUser struct {
	h     *host
	home  *nixtest.Machine
	state string
}

func (h *host) homeManager() *homeUser {
	return &homeUser{h: h, home: nixtest.NewHome(h.t), state: filepath.Join(h.t.TempDir(), "hm-state")}
}

// run runs the command as the user alice's Home Manager module does: the
// scope, the profile, the current generation and the state directory are
// hers, the rest the host's.
func (u *homeUser) run(mode string, args ...string) result {
	u.h.t.Helper()
	env := u.h.env
	u.h.env = append(slices.Clone(env), "USER=alice")
	defer func() { u.h.env = env }()
	return u.h.run(append([]string{mode, "--scope", "home-manager", "--profile", u.home.Profile(),
		"--current-system", u.home.CurrentSystem(), "--state-dir", u.state}, args...)...)
}

func (u *homeUser) mustRun(mode string, args ...string) result {
	u.h.t.Helper()
	r := u.run(mode, args...)
	if r.code != 0 {
		u.h.t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", mode, r.code, r.stdout, r.stderr)
	}
	return r
}

// switchTo does what home-manager switch does with the module: the
// profile gets the new generation, its activation records it (given
// $newGenPath) and then links it as current-home; the user service
// delivers after.
func (u *homeUser) switchTo(generation string, args ...string) (record, flush result) {
	u.h.t.Helper()
	u.home.Boot(generation)
	record = u.mustRun("record", append([]string{"--current-system", generation}, args...)...)
	u.home.Activate(generation)
	return record, u.mustRun("flush", args...)
}

// TestHomeManagerGenerationsNix deploys a user's Home Manager generations
// as the module runs the command: a record at each activation (no network:
// the Axiom endpoint and the trace endpoint see nothing), a flush after,
// a dry run between, a test activation and a rollback; each annotated
// once, named as never the host's system, with what changed in the
// generation's closure: home-path's packages and those only its services
// use.
func TestHomeManagerGenerationsNix(t *testing.T) {
	h := newHost(t)
	u := h.homeManager()
	p := nixtest.BuildHome(t,
		nixtest.Home{Label: "25.11+abcd1234", Packages: []nixtest.Package{{Name: "hello", Version: "2.12"}}, Services: []nixtest.Package{{Name: "syncthing", Version: "1.27.0"}}},
		nixtest.Home{Label: "25.11+abcd1234", Packages: []nixtest.Package{{Name: "hello", Version: "2.13"}, {Name: "ripgrep", Version: "14.1.0"}}, Services: []nixtest.Package{{Name: "syncthing", Version: "1.27.1"}}},
		nixtest.Home{Label: "25.11+abcd1234", Packages: []nixtest.Package{{Name: "hello", Version: "2.13"}}},
	)

	rec, fl := u.switchTo(p[0], "--revision", revA)
	if rec.stdout != "recorded \"alice@web1 hm gen 1\"\n" {
		t.Errorf("record: %q\n%s", rec.stdout, rec.stderr)
	}
	if !strings.HasPrefix(fl.stdout, "delivered 1, 0 still spooled") {
		t.Errorf("flush: %q\n%s", fl.stdout, fl.stderr)
	}
	anns := h.axiom.Annotations()
	if len(anns) != 1 {
		t.Fatalf("%d annotations after the first generation", len(anns))
	}
	a := anns[0]
	if a.Title != "alice@web1 hm gen 1 (0123456)" || a.URL != "https://github.com/me/dots/commit/"+revA {
		t.Errorf("annotation %q, %q", a.Title, a.URL)
	}
	for _, want := range []string{"alice@web1 Home Manager generation 1, Home Manager 25.11+abcd1234.\n", "Generation: " + p[0] + "\n", "first deploy"} {
		if !strings.Contains(a.Description, want) {
			t.Errorf("description lacks %q:\n%s", want, a.Description)
		}
	}

	// The dry run of the next generation, as the profile has it before its
	// activation links it: the title, whose generation it is, and what
	// changed, as nix store diff-closures says.
	u.home.Boot(p[1])
	r := u.mustRun("annotate", "--dry-run", "--current-system", p[1], "--revision", revB+"-dirty")
	var dry struct {
		Annotation map[string]any   `json:"annotation"`
		Generation map[string]any   `json:"generation"`
		Changes    []nixtest.Change `json:"changes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &dry); err != nil {
		t.Fatalf("dry run: %v\n%s", err, r.stdout)
	}
	g := dry.Generation
	if dry.Annotation["title"] != "alice@web1 hm gen 2 (89abcde-dirty)" || g["scope"] != "home-manager" || g["user"] != "alice" || g["hostname"] != "web1" ||
		g["number"] != 2.0 || g["previous"] != p[0] || g["revision"] != revB || g["dirty"] != true || g["label"] != "25.11+abcd1234" {
		t.Errorf("dry run: %s", r.stdout)
	}
	want := nixtest.DiffClosures(t, p[0], p[1])
	if !reflect.DeepEqual(dry.Changes, want) {
		t.Errorf("dry run changes %v, nix store diff-closures %v", dry.Changes, want)
	}
	for _, c := range []nixtest.Change{{Name: "hello", Before: []string{"2.12"}, After: []string{"2.13"}}, {Name: "ripgrep", Before: []string{}, After: []string{"14.1.0"}}, {Name: "syncthing", Before: []string{"1.27.0"}, After: []string{"1.27.1"}}} {
		if !slices.ContainsFunc(dry.Changes, func(d nixtest.Change) bool { return reflect.DeepEqual(c, d) }) {
			t.Errorf("dry run changes %v lack %v", dry.Changes, c)
		}
	}
	if len(h.axiom.Annotations()) != 1 {
		t.Error("the dry run sent an annotation")
	}

	// The record sends nothing and exports nothing: the flush does.
	requests, spans := len(h.axiom.Requests()), len(h.otlp.Spans())
	u.home.Activate(p[0])
	rec = u.mustRun("record", "--current-system", p[1], "--revision", revB+"-dirty")
	if len(h.axiom.Requests()) != requests || len(h.otlp.Spans()) != spans {
		t.Errorf("the record reached Axiom (%d requests, %d spans; before %d, %d)", len(h.axiom.Requests()), len(h.otlp.Spans()), requests, spans)
	}
	if rec.stdout != "recorded \"alice@web1 hm gen 2\"\n" {
		t.Errorf("record: %q", rec.stdout)
	}
	u.home.Activate(p[1])
	u.mustRun("flush")
	a = h.axiom.Annotations()[1]
	if a.Title != "alice@web1 hm gen 2 (89abcde-dirty)" || !strings.Contains(a.Description, "hello 2.12→2.13") ||
		!strings.Contains(a.Description, "syncthing 1.27.0→1.27.1") || !strings.Contains(a.Description, "+ripgrep 14.1.0") ||
		!strings.Contains(a.Description, "Previous: "+p[0]) {
		t.Errorf("second generation: %q\n%s", a.Title, a.Description)
	}
	checkHomeSpans(t, h.otlp.Spans(), p[1])

	// A record that runs again (an activation of the same generation)
	// sends nothing more.
	if r := u.mustRun("record", "--current-system", p[1]); !strings.HasPrefix(r.stdout, "already annotated: alice@web1 hm gen 2") {
		t.Errorf("again: %q", r.stdout)
	}

	// home-manager switch --test: activated, no generation; the one
	// before is the profile's.
	u.mustRun("record", "--current-system", p[2])
	u.home.Activate(p[2])
	u.mustRun("flush")
	// home-manager switch, then switch --rollback: the profile goes back
	// to generation 2 while 3 exists, and generation 2 is activated again.
	u.home.Switch(p[2])
	u.home.Rollback()
	u.mustRun("record", "--current-system", p[1], "--revision", revB+"-dirty")
	u.mustRun("flush")

	anns = h.axiom.Annotations()
	if len(anns) != 4 {
		t.Fatalf("%d annotations after four deploys", len(anns))
	}
	if anns[2].Title != "alice@web1 hm test" || !strings.Contains(anns[2].Description, "Previous: "+p[1]) {
		t.Errorf("test activation: %q\n%s", anns[2].Title, anns[2].Description)
	}
	if anns[3].Title != "alice@web1 hm rollback to gen 2 (89abcde-dirty)" || !strings.Contains(anns[3].Description, "Previous: "+p[2]) ||
		!strings.Contains(anns[3].Description, "+ripgrep 14.1.0") || !strings.Contains(anns[3].Description, "+syncthing 1.27.1") {
		t.Errorf("rollback: %q\n%s", anns[3].Title, anns[3].Description)
	}
	for _, a := range anns {
		if strings.Contains(a.Description, "NixOS") || strings.HasPrefix(a.Title, "web1 ") {
			t.Errorf("a Home Manager generation annotated as the system: %q\n%s", a.Title, a.Description)
		}
	}

	// What is not a Home Manager generation is refused, exit 3, one line.
	sys := nixtest.Build(t, nixtest.System{Host: "web1", Label: "24.05", Salt: "not-home"})
	r = u.run("record", "--current-system", sys[0])
	if r.code != exitNotNix || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "not a Home Manager generation") {
		t.Errorf("a system as the generation: exit %d\n%s", r.code, r.stderr)
	}
}

// checkHomeSpans: the run and delivery of a Home Manager generation say
// whose deploy it is, and so does the flush run that delivered it.
func checkHomeSpans(t *testing.T, spans []fakeotlp.Span, generation string) {
	t.Helper()
	var deliver, flush fakeotlp.Span
	for _, s := range spans {
		switch {
		case s.Name == "deliver" && s.Attr("nix.store_path") == generation:
			deliver = s
		case s.Name == "run" && s.Attr("deploy.mode") == "flush":
			flush = s
		}
	}
	for name, s := range map[string]fakeotlp.Span{"deliver": deliver, "flush run": flush} {
		if s.Attr("nix.scope") != "home-manager" || s.Attr("user.name") != "alice" || s.ResourceAttr("host.name") != "web1" {
			t.Errorf("%s: nix.scope %q, user.name %q, host %q", name, s.Attr("nix.scope"), s.Attr("user.name"), s.ResourceAttr("host.name"))
		}
	}
	if deliver.Attr("deployment.name") != "alice@web1 hm gen 2" || deliver.Attr("nix.platform") == "" {
		t.Errorf("deliver: deployment.name %q, nix.platform %q", deliver.Attr("deployment.name"), deliver.Attr("nix.platform"))
	}
}

// TestHomeManagerAsUserNix runs the command as a user other than root, as
// Home Manager's activation and user service do, with nothing but the
// scope and the endpoints chosen: Home Manager's profile and state under
// the user's $HOME, the user's name from the uid (no $USER), the state in
// $XDG_STATE_HOME's default, the store through the Nix daemon. The
// record writes only there, the flush delivers, with what changed.
func TestHomeManagerAsUserNix(t *testing.T) {
	h := newHost(t)
	d := nixtest.StartDaemon(t)
	uid, gid := nixtest.Nobody(t)
	bin := nixtest.CopyForUser(t, binary(t))
	home := nixtest.NewHome(t)
	p := nixtest.BuildHome(t,
		nixtest.Home{Packages: []nixtest.Package{{Name: "hello", Version: "2.12"}}, Salt: "as-user"},
		nixtest.Home{Packages: []nixtest.Package{{Name: "hello", Version: "2.13"}}, Salt: "as-user"},
	)
	asUser := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--api-endpoint", h.axiom.Endpoint(), "--traces-endpoint", h.otlp.Endpoint(),
			"--traces-dataset", "deploy-traces", "--hostname", "laptop", "--timeout", "10s")...)
		cmd.Env = append(os.Environ(), "HOME="+home.Root, "USER=", "XDG_STATE_HOME=", "AXIOM_TOKEN="+nixToken, "NIX_REMOTE=",
			"OTEL_SDK_DISABLED=", "TRACEPARENT=", "OTEL_EXPORTER_OTLP_ENDPOINT=")
		cmd.Env = append(cmd.Env, d.Env()...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		r := result{stdout: stdout.String(), stderr: stderr.String()}
		if err != nil {
			t.Fatalf("%s as nobody: %v\n%s", args[0], err, r.stderr)
		}
		h.output = append(h.output, r.stdout, r.stderr)
		return r
	}
	// The home is the user's; the profile's links are Nix's, made as root.
	err := filepath.WalkDir(home.Root, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(uid), int(gid))
	})
	if err != nil {
		t.Fatal(err)
	}

	for i, g := range p {
		home.Boot(g)
		if r := asUser("record", "--scope", "home-manager", "--current-system", g); r.stdout != fmt.Sprintf("recorded \"nobody@laptop hm gen %d\"\n", i+1) {
			t.Errorf("record as nobody: %q\n%s", r.stdout, r.stderr)
		}
		home.Activate(g)
		if r := asUser("flush", "--scope", "home-manager"); !strings.HasPrefix(r.stdout, "delivered 1, 0 still spooled") {
			t.Errorf("flush as nobody: %q\n%s", r.stdout, r.stderr)
		}
	}
	anns := h.axiom.Annotations()
	if len(anns) != 2 || anns[1].Title != "nobody@laptop hm gen 2" || !strings.Contains(anns[1].Description, "Changes: hello 2.12→2.13") {
		t.Fatalf("annotations as nobody: %+v", anns)
	}
	state := filepath.Join(home.Root, ".local", "state", "axiom-deploy-annotation")
	if fi, err := os.Stat(state); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uid {
		t.Errorf("state directory %s: %v", state, err)
	}
	// The dry run, with the defaults: the generation current-home links,
	// annotated already.
	var dry struct {
		Reason     string         `json:"reason"`
		Generation map[string]any `json:"generation"`
	}
	r := asUser("--dry-run", "--scope", "home-manager")
	if err := json.Unmarshal([]byte(r.stdout), &dry); err != nil || dry.Generation["storePath"] != p[1] || dry.Generation["user"] != "nobody" ||
		!strings.HasPrefix(dry.Reason, "this Home Manager generation was annotated last, as ann_000002") {
		t.Errorf("dry run as nobody: %v\n%s", err, r.stdout)
	}
}

package health

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	for _, c := range []struct {
		name          string
		before        Before
		now           []string
		status        Status
		failed, still []string
		deployment    string
	}{
		{"nothing failed", Before{Known: true}, nil, Healthy, nil, nil, "succeeded"},
		{"a unit the deploy failed", Before{Known: true}, []string{"nginx.service"}, Failed, []string{"nginx.service"}, nil, "failed"},
		{"fixed", Before{Known: true, Units: []string{"nginx.service"}}, nil, Healthy, nil, nil, "succeeded"},
		{"failed before and still", Before{Known: true, Units: []string{"a.service"}}, []string{"a.service"}, Degraded, nil, []string{"a.service"}, "succeeded"},
		{"both", Before{Known: true, Units: []string{"a.service"}}, []string{"b.service", "a.service"}, Failed, []string{"b.service"}, []string{"a.service"}, "failed"},
		{"before unknown", Before{}, []string{"a.service"}, Failed, []string{"a.service"}, nil, "failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Judge(c.before, c.now)
			if r.Status != c.status || !slices.Equal(r.Failed, c.failed) || !slices.Equal(r.AlreadyFailed, c.still) || r.DeploymentStatus() != c.deployment {
				t.Errorf("Judge = %+v (%q), want %s %v %v (%q)", r, r.DeploymentStatus(), c.status, c.failed, c.still, c.deployment)
			}
		})
	}
	if s := Unknowable("no bus").DeploymentStatus(); s != "" {
		t.Errorf("unknown: deployment.status %q, want none", s)
	}
}

func TestJudgeBounded(t *testing.T) {
	var now, before []string
	for i := range 30 {
		now = append(now, fmt.Sprintf("u%02d.service", i))
		if i >= 10 {
			before = append(before, now[i])
		}
	}
	r := Judge(Before{Known: true, Units: before}, now)
	if len(r.Failed) != 10 || len(r.AlreadyFailed) != MaxUnits-10 || r.More != 30-MaxUnits {
		t.Errorf("%d failed, %d already, %d more; want 10, %d, %d", len(r.Failed), len(r.AlreadyFailed), r.More, MaxUnits-10, 30-MaxUnits)
	}
}

// Output of systemd 252's systemctl --plain --no-legend --full.
func TestParse(t *testing.T) {
	units := parseUnits("broken.service loaded failed failed Broken on purpose\n" +
		"● other\\x20x.service not-found failed failed other\\x20x.service\n" +
		"fine.service loaded active running Fine\n")
	if want := []string{"broken.service", `other\x20x.service`}; !slices.Equal(units, want) {
		t.Errorf("parseUnits = %q, want %q", units, want)
	}
	jobs := parseJobs("122 multi-user.target start waiting\n"+
		"130 axiom-deploy-annotation-flush.service start running\n"+
		"131 slow.service      start running\n"+
		"No jobs running.\n", "axiom-deploy-annotation-flush.service")
	if want := []string{"multi-user.target", "slow.service"}; !slices.Equal(jobs, want) {
		t.Errorf("parseJobs = %q, want %q", jobs, want)
	}
}

func TestFailedBefore(t *testing.T) {
	out := "Id=old.service\nStateChangeTimestamp=Thu 2026-06-11 10:00:00.123456 UTC\n\n" +
		"Id=new.service\nStateChangeTimestamp=Thu 2026-06-11 10:00:00.123458 UTC\n\nId=never.service\nStateChangeTimestamp=\n"
	if got := failedBefore(out, time.Date(2026, 6, 11, 10, 0, 0, 123457000, time.UTC)); !slices.Equal(got, []string{"old.service"}) {
		t.Errorf("failedBefore = %q, want [old.service]", got)
	}
}

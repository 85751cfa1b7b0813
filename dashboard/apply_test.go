package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

const testToken = "xaat-00000000-fake-0000-0000-000000000000"

func client(t *testing.T, s *fakeaxiom.Server) *axiom.Client {
	t.Helper()
	c, err := axiom.NewClient(axiom.SetURL(s.URL), axiom.SetToken(testToken), axiom.SetNoEnv(), axiom.SetNoRetry())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// methods lists the dashboards requests the fake saw, as "GET", "PUT"…
func methods(s *fakeaxiom.Server) string {
	var m []string
	for _, r := range s.Requests() {
		if strings.HasPrefix(r.Path, "/v2/dashboards") {
			m = append(m, r.Method)
		}
	}
	return strings.Join(m, " ")
}

func lastBody(t *testing.T, s *fakeaxiom.Server) map[string]any {
	t.Helper()
	r := s.Requests()
	var m map[string]any
	if err := json.Unmarshal(r[len(r)-1].Body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func oneLine(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want one line with %q", err, want)
	}
	if err != nil && strings.Contains(err.Error(), testToken) {
		t.Errorf("the testToken in %v", err)
	}
}

// Run twice, it leaves one dashboard: the second run a versioned update.
func TestApplyTwice(t *testing.T) {
	s := fakeaxiom.New(testToken)
	defer s.Close()
	c := client(t, s)
	req := build(t)
	res, err := Apply(context.Background(), c, req, false)
	if err != nil || res.Status != "created" || res.Version != 1 || res.UID != DefaultUID {
		t.Fatalf("first run: %+v %v", res, err)
	}
	if b := lastBody(t, s); b["version"] != nil || b["overwrite"] != nil {
		t.Errorf("create sent version or overwrite: %v", b)
	}
	res, err = Apply(context.Background(), c, req, false)
	if err != nil || res.Status != "updated" || res.Version != 2 || res.Overwritten {
		t.Fatalf("second run: %+v %v", res, err)
	}
	if b := lastBody(t, s); b["version"] != float64(1) || b["overwrite"] != nil {
		t.Errorf("update sent %v, want the version read and no overwrite", b)
	}
	if got := methods(s); got != "GET POST GET PUT" {
		t.Errorf("requests %s", got)
	}
	if d := s.Dashboards(); len(d) != 1 || d[0].Version != 2 || d[0].UID != DefaultUID {
		t.Errorf("the fake holds %+v", d)
	}
	var doc Document
	if err := json.Unmarshal(s.Dashboards()[0].Dashboard, &doc); err != nil || len(doc.Charts) != len(req.Dashboard.Charts) {
		t.Errorf("stored %d charts, %v", len(doc.Charts), err)
	}
}

// An edit made in Axiom is not silently overwritten: it takes force.
func TestApplyEdited(t *testing.T) {
	s := fakeaxiom.New(testToken)
	defer s.Close()
	c := client(t, s)
	req := build(t)
	if _, err := Apply(context.Background(), c, req, false); err != nil {
		t.Fatal(err)
	}
	if err := s.EditDashboard(DefaultUID, func(d map[string]any) { d["name"] = "Mine now" }); err != nil {
		t.Fatal(err)
	}
	_, err := Apply(context.Background(), c, req, false)
	oneLine(t, err, "--force")
	if !errors.Is(err, ErrEdited) || s.Dashboards()[0].Version != 2 {
		t.Fatalf("%v; version %d: the edit was overwritten", err, s.Dashboards()[0].Version)
	}
	res, err := Apply(context.Background(), c, req, true)
	if err != nil || res.Status != "updated" || res.Version != 3 || !res.Overwritten {
		t.Fatalf("with force: %+v %v", res, err)
	}
	if b := lastBody(t, s); b["overwrite"] != true {
		t.Errorf("force sent %v", b)
	}
	var doc Document
	json.Unmarshal(s.Dashboards()[0].Dashboard, &doc)
	if doc.Name != DefaultName || edited(doc) {
		t.Errorf("after force: name %q, edited %v", doc.Name, edited(doc))
	}
}

func TestApplyErrors(t *testing.T) {
	t.Run("412", func(t *testing.T) {
		s := fakeaxiom.New(testToken)
		defer s.Close()
		c := client(t, s)
		Apply(context.Background(), c, build(t), false)
		// Someone saves in between the read and the update.
		s.Fail(fakeaxiom.Fault{Status: http.StatusPreconditionFailed, Body: []byte(`{"code":"version_conflict","message":"stale","currentVersion":5}`), Method: http.MethodPut})
		_, err := Apply(context.Background(), c, build(t), false)
		oneLine(t, err, "changed in Axiom while it was being updated")
		oneLine(t, err, "--force")
	})
	t.Run("403", func(t *testing.T) {
		for perm, want := range map[string]string{
			"dashboards":        "may not read dashboards",
			"dashboards:create": "may not create dashboards",
		} {
			s := fakeaxiom.New(testToken)
			s.Deny(perm)
			_, err := Apply(context.Background(), client(t, s), build(t), false)
			oneLine(t, err, want)
			oneLine(t, err, "dashboards permission")
			s.Close()
		}
		s := fakeaxiom.New(testToken)
		defer s.Close()
		Apply(context.Background(), client(t, s), build(t), false)
		s.Deny("dashboards:update")
		_, err := Apply(context.Background(), client(t, s), build(t), false)
		oneLine(t, err, "may not update dashboards")
	})
	t.Run("401", func(t *testing.T) {
		s := fakeaxiom.New("xaat-another")
		defer s.Close()
		_, err := Apply(context.Background(), client(t, s), build(t), false)
		oneLine(t, err, "token was refused")
	})
	t.Run("409 on create", func(t *testing.T) {
		s := fakeaxiom.New(testToken)
		defer s.Close()
		c := client(t, s)
		Apply(context.Background(), c, build(t), false)
		// The first read misses the dashboard another run is making.
		s.Fail(fakeaxiom.Fault{Status: http.StatusNotFound, Body: []byte(`{"code":"not_found","message":"dashboard not found"}`), Method: http.MethodGet})
		res, err := Apply(context.Background(), c, build(t), false)
		if err != nil || res.Status != "updated" || res.Version != 2 {
			t.Fatalf("%+v %v", res, err)
		}
		if got := methods(s); got != "GET POST GET POST GET PUT" {
			t.Errorf("requests %s", got)
		}
	})
}

// What Axiom's answers say is shown on one line and bounded: a status, a
// uid, an error message holding escapes, line breaks and a megabyte.
func TestApplyHostileAnswers(t *testing.T) {
	hostile := strings.Repeat("\x1b]0;pwned\x07\x1b[2J\r\nfake line\u202e", 50_000)
	for _, tc := range []struct {
		status int
		body   string
	}{
		{http.StatusBadRequest, `{"message":` + quote(hostile) + `}`},
		{http.StatusInternalServerError, `{"message":` + quote(hostile) + `}`},
		{http.StatusTeapot, `{"message":` + quote(hostile) + `}`},
	} {
		s := fakeaxiom.New(testToken)
		s.Fail(fakeaxiom.Fault{Status: tc.status, Body: []byte(tc.body), Method: http.MethodGet})
		_, err := Apply(context.Background(), client(t, s), build(t), false)
		s.Close()
		if err == nil || !text.IsLine(err.Error()) || len(err.Error()) > 400 {
			t.Errorf("%d: error of %d bytes, one safe line: %v", tc.status, len(fmt.Sprint(err)), err != nil && text.IsLine(err.Error()))
		}
	}

	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"not found"}`))
			return
		}
		w.Write([]byte(`{"status":` + quote(hostile) + `,"dashboard":{"uid":"x\u001b[2J","version":1}}`))
	}))
	defer s.Close()
	c, err := axiom.NewClient(axiom.SetURL(s.URL), axiom.SetToken(testToken), axiom.SetNoEnv(), axiom.SetNoRetry())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Apply(context.Background(), c, build(t), false)
	if err != nil {
		t.Fatal(err)
	}
	if !text.IsLine(res.Status) || len(res.Status) > maxStatus || res.UID != DefaultUID {
		t.Errorf("status %q, uid %q", res.Status, res.UID)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

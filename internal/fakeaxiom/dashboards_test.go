package fakeaxiom

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const doc = `{"name":"d","owner":"X-AXIOM-EVERYONE","charts":[{"id":"n","type":"Note","text":"hi"}],"layout":[{"i":"n","x":0,"y":0,"w":12,"h":2}],"refreshTime":60,"schemaVersion":2,"timeWindowStart":"qr-now-7d","timeWindowEnd":"qr-now"}`

func TestDashboards(t *testing.T) {
	s := New(token)
	defer s.Close()
	c, ctx := s.Client(), context.Background()
	base := s.URL + "/v2/dashboards"
	byUID := base + "/uid/mine"
	for _, tc := range []struct {
		name, method, url, body string
		want                    int
	}{
		{"get absent", http.MethodGet, byUID, "", http.StatusNotFound},
		{"create", http.MethodPost, base, `{"uid":"mine","dashboard":` + doc + `}`, http.StatusCreated},
		{"create again", http.MethodPost, base, `{"uid":"mine","dashboard":` + doc + `}`, http.StatusConflict},
		{"get", http.MethodGet, byUID, "", http.StatusOK},
		{"update without a version", http.MethodPut, byUID, `{"uid":"mine","dashboard":` + doc + `}`, http.StatusBadRequest},
		{"update a stale version", http.MethodPut, byUID, `{"uid":"mine","version":7,"dashboard":` + doc + `}`, http.StatusPreconditionFailed},
		{"update", http.MethodPut, byUID, `{"uid":"mine","version":1,"dashboard":` + doc + `}`, http.StatusOK},
		{"overwrite", http.MethodPut, byUID, `{"overwrite":true,"dashboard":` + doc + `}`, http.StatusOK},
		{"another uid in the body", http.MethodPut, byUID, `{"uid":"other","version":3,"dashboard":` + doc + `}`, http.StatusBadRequest},
		{"no dashboard", http.MethodPost, base, `{"uid":"x"}`, http.StatusBadRequest},
		{"unknown key", http.MethodPost, base, `{"uid":"x","colour":"red","dashboard":` + doc + `}`, http.StatusBadRequest},
		{"bad layout", http.MethodPost, base, `{"uid":"x","dashboard":` + strings.Replace(doc, `"w":12`, `"w":13`, 1) + `}`, http.StatusBadRequest},
		{"list", http.MethodGet, base, "", http.StatusOK},
		{"wrong token", http.MethodGet, byUID, "", http.StatusUnauthorized},
	} {
		tok := token
		if tc.name == "wrong token" {
			tok = "xaat-wrong"
		}
		resp, b, err := do(t, c, ctx, tc.method, tc.url, tok, tc.body)
		if err != nil || resp.StatusCode != tc.want {
			t.Errorf("%s: %v %s %v, want %d", tc.name, resp.Status, b, err, tc.want)
			continue
		}
		if tc.want == http.StatusPreconditionFailed {
			var e struct {
				Code           string
				CurrentVersion int64
			}
			if json.Unmarshal(b, &e); e.CurrentVersion != 1 || e.Code == "" {
				t.Errorf("412 answer %s: want the current version", b)
			}
		}
	}
	d := s.Dashboards()
	if len(d) != 1 || d[0].UID != "mine" || d[0].Version != 3 {
		t.Fatalf("holds %+v", d)
	}
	if err := s.EditDashboard("mine", func(m map[string]any) { m["name"] = "edited" }); err != nil || s.Dashboards()[0].Version != 4 || !strings.Contains(string(s.Dashboards()[0].Dashboard), `"edited"`) {
		t.Errorf("EditDashboard: %v %+v", err, s.Dashboards())
	}
	if resp, _, _ := do(t, c, ctx, http.MethodDelete, byUID, token, ""); resp.StatusCode != http.StatusNoContent || len(s.Dashboards()) != 0 {
		t.Errorf("delete: %v", resp.Status)
	}
}

func TestDashboardPermissions(t *testing.T) {
	s := New(token)
	defer s.Close()
	c, ctx := s.Client(), context.Background()
	create := `{"uid":"mine","dashboard":` + doc + `}`
	s.Deny("dashboards:create")
	if resp, _, _ := do(t, c, ctx, http.MethodPost, s.URL+"/v2/dashboards", token, create); resp.StatusCode != http.StatusForbidden {
		t.Errorf("create answered %s", resp.Status)
	}
	if resp, _, _ := do(t, c, ctx, http.MethodGet, s.URL+"/v2/dashboards/uid/mine", token, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("read answered %s: only create is denied", resp.Status)
	}
	s.Deny("dashboards")
	if resp, _, _ := do(t, c, ctx, http.MethodGet, s.URL+"/v2/dashboards/uid/mine", token, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("read answered %s", resp.Status)
	}
	// Annotations are another permission.
	if resp, _, _ := do(t, c, ctx, http.MethodPost, s.Endpoint(), token, body); resp.StatusCode != http.StatusCreated {
		t.Errorf("annotation answered %s", resp.Status)
	}
}

func TestAPL(t *testing.T) {
	s := New(token)
	defer s.Close()
	c, ctx := s.Client(), context.Background()
	s.SetQueryResult("traces", []QueryField{{Name: "host", Type: "string"}, {Name: "n", Type: "integer"}}, []any{"a", "b"}, []any{1, 2})
	url := s.URL + "/v1/datasets/_apl?format=tabular"
	const q = `{"apl":"['traces'] | summarize n = count() by host","startTime":"2026-03-01T00:00:00Z"}`
	resp, b, err := do(t, c, ctx, http.MethodPost, url, token, q)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%v %s %v", resp, b, err)
	}
	var res struct {
		Tables []struct {
			Fields  []QueryField
			Columns [][]any
		}
	}
	if err := json.Unmarshal(b, &res); err != nil || len(res.Tables) != 1 || res.Tables[0].Fields[1].Name != "n" || res.Tables[0].Columns[0][1] != "b" {
		t.Errorf("answer %s: %v", b, err)
	}
	for _, tc := range []struct {
		name, url, body string
		want            int
	}{
		{"no startTime", url, `{"apl":"['traces'] | take 1"}`, http.StatusBadRequest},
		{"not tabular", s.URL + "/v1/datasets/_apl?format=legacy", q, http.StatusBadRequest},
		{"end before start", url, `{"apl":"['traces']","startTime":"2026-03-01T00:00:00Z","endTime":"2026-02-01T00:00:00Z"}`, http.StatusBadRequest},
		{"missing dataset", url, `{"apl":"['other'] | take 1","startTime":"2026-03-01T00:00:00Z"}`, http.StatusNotFound},
	} {
		if resp, b, _ := do(t, c, ctx, http.MethodPost, tc.url, token, tc.body); resp.StatusCode != tc.want {
			t.Errorf("%s: %s %s, want %d", tc.name, resp.Status, b, tc.want)
		}
	}
	s.Deny("query")
	if resp, _, _ := do(t, c, ctx, http.MethodPost, url, token, q); resp.StatusCode != http.StatusForbidden {
		t.Errorf("denied query answered %s", resp.Status)
	}
}

func TestValidate(t *testing.T) {
	if err := Validate("DashboardUpsertRequest", []byte(`{"dashboard":`+doc+`}`)); err != nil {
		t.Fatal(err)
	}
	if err := Validate("DashboardUpsertRequest", []byte(`{"dashboard":{}}`)); err == nil {
		t.Error("an empty dashboard validates")
	}
	if err := Validate("NoSuchDef", []byte(`{}`)); err == nil {
		t.Error("an unknown definition validates")
	}
}

// The API description the tests carry says what Axiom publishes: where the
// published one is at hand beside the checkout, every definition matches.
func TestSchemaMatchesPublished(t *testing.T) {
	published, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "axiom", "api-v2.schema.json"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no published schema beside the checkout")
	}
	if err != nil {
		t.Fatal(err)
	}
	var ours, theirs struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(apiSchema, &ours); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(published, &theirs); err != nil {
		t.Fatal(err)
	}
	for name, def := range ours.Defs {
		var a, b any
		json.Unmarshal(def, &a)
		if json.Unmarshal(theirs.Defs[name], &b) != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("$defs/%s differs from the published schema", name)
		}
	}
}

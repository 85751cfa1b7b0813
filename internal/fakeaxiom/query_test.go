package fakeaxiom

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/kusto"
)

// query sends apl to the fake's APL endpoint: the status, the rows of the
// first column, whether the answer says it is partial, and its message.
func query(t *testing.T, s *Server, apl string) (status, rows int, partial bool, msg string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"apl": apl, "startTime": "2026-03-14T00:00:00Z"})
	resp, body, err := do(t, s.Client(), context.Background(), http.MethodPost, s.URL+"/v1/datasets/_apl?format=tabular", token, string(b))
	if err != nil {
		t.Fatal(err)
	}
	var ans struct {
		Message string `json:"message"`
		Status  struct {
			IsPartial bool `json:"isPartial"`
		} `json:"status"`
		Tables []struct {
			Columns [][]any `json:"columns"`
		} `json:"tables"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if len(ans.Tables) > 0 && len(ans.Tables[0].Columns) > 0 {
		rows = len(ans.Tables[0].Columns[0])
	}
	return resp.StatusCode, rows, ans.Status.IsPartial, ans.Message
}

// Queries answer 1,000 rows unless they end asking for a number; a
// partial answer says so.
func TestQueryRows(t *testing.T) {
	s := New(token)
	defer s.Close()
	col := make([]any, 2500)
	for i := range col {
		col[i] = fmt.Sprint(i)
	}
	s.SetQueryResult("ds", []QueryField{{Name: "host", Type: "string"}}, col)
	for apl, want := range map[string]int{
		"['ds'] | summarize count() by host":              1000,
		"['ds'] | summarize count() by host | limit 2001": 2001,
		"['ds'] | take 10\n":                              10,
		"['ds'] | limit 9000":                             2500,
	} {
		if status, rows, partial, _ := query(t, s, apl); status != http.StatusOK || rows != want || partial {
			t.Errorf("%q: %d, %d rows, partial %v; want %d rows", apl, status, rows, partial, want)
		}
	}
	s.SetQueryPartial("ds", true)
	if _, _, partial, _ := query(t, s, "['ds'] | take 1"); !partial {
		t.Error("not partial")
	}
}

// With the dataset's columns, the analyzer judges: a query naming a column
// the dataset lacks is refused as Axiom refuses it.
func TestQueryColumns(t *testing.T) {
	s := New(token)
	defer s.Close()
	s.SetQueryResult("ds", []QueryField{{Name: "n", Type: "integer"}}, []any{1.0})
	s.SetQueryColumns("ds", map[string]string{"_time": "datetime", "name": "string"}, kusto.Start(t))
	if status, rows, _, msg := query(t, s, "['ds'] | where name == 'run' | count"); status != http.StatusOK || rows != 1 {
		t.Errorf("a query that binds: %d, %d rows, %s", status, rows, msg)
	}
	status, _, _, msg := query(t, s, "['ds'] | where ['status.message'] != ''")
	if status != http.StatusBadRequest || !strings.Contains(msg, "'status.message' does not refer to any known column") {
		t.Errorf("a query naming a missing column: %d %s", status, msg)
	}
}

package kusto

import (
	"strings"
	"testing"
)

// The analyzer is a real one: it finds syntax errors, and binding names a
// column the table lacks, while column_ifexists binds either way.
func TestAnalyzer(t *testing.T) {
	a := Start(t)
	if errs := a.Parse("['ds'] | where | summarize"); len(errs) == 0 {
		t.Error("no syntax error found in a broken query")
	}
	if errs := a.Parse("['ds'] | where ['attributes.custom']['nix.generation'] > 3 | summarize count() by bin_auto(_time)"); len(errs) != 0 {
		t.Errorf("APL refused: %q", errs)
	}
	cols := map[string]string{"_time": "datetime", "kind": "string", "attributes.custom": "dynamic", "duration": "timespan"}
	for q, want := range map[string]string{
		"['ds'] | where kind == 'server' | project duration":                              "",
		"['ds'] | extend r = tostring(column_ifexists('status.message', '')) | project r": "",
		"['ds'] | extend r = tostring(['status.message'])":                                "'status.message' does not refer to any known column",
		"['other'] | take 1": "'other'",
	} {
		errs := a.Bind(q, "ds", cols)
		got := strings.Join(errs, "; ")
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("Bind(%q) = %q, want %q", q, got, want)
		}
	}
	if s := Schema(map[string]string{"kind": "string", "_time": "datetime"}); s != "(['_time']:datetime, ['kind']:string)" {
		t.Errorf("schema %s", s)
	}
}

package nixinfo

import (
	"encoding/json"
	"testing"
)

func TestChangeKind(t *testing.T) {
	for _, tc := range []struct {
		c    Change
		want ChangeKind
	}{
		{Change{"openssl", []string{"3.0.13"}, []string{"3.0.14"}}, Upgrade},
		{Change{"curl", []string{"8.7.1"}, []string{"8.6.0"}}, Downgrade},
		{Change{"htop", nil, []string{"3.3.0"}}, Added},
		{Change{"htop", []string{}, []string{""}}, Added},
		{Change{"nano", []string{"7.2"}, []string{}}, Removed},
		{Change{"zlib", []string{""}, []string{"1.3"}}, Upgrade},
		{Change{"python3", []string{"3.11.8", "3.12.2"}, []string{"3.11.9"}}, Changed},
		{Change{"x", []string{"1.0"}, []string{"1.00"}}, Changed},
		{Change{"x", nil, nil}, Changed},
	} {
		if got := tc.c.Kind(); got != tc.want {
			t.Errorf("%+v.Kind() = %v, want %v", tc.c, got, tc.want)
		}
	}
	for k, want := range map[ChangeKind]string{Changed: "changed", Upgrade: "upgrade", Downgrade: "downgrade", Added: "added", Removed: "removed", 9: "ChangeKind(9)"} {
		if k.String() != want {
			t.Errorf("ChangeKind(%d).String() = %q, want %q", int(k), k.String(), want)
		}
	}
}

func TestChangeJSON(t *testing.T) {
	b, err := json.Marshal([]Change{{Name: "htop", After: []string{"3.3.0"}}, {Name: "zlib", Before: []string{""}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"htop","before":[],"after":["3.3.0"]},{"name":"zlib","before":[""],"after":[]}]`
	if string(b) != want {
		t.Errorf("json = %s\nwant   %s", b, want)
	}
	var back []Change
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 2 || back[0].Name != "htop" || back[1].Before[0] != "" {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

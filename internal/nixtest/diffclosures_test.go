package nixtest

import (
	"reflect"
	"testing"
)

func TestParseDiffClosures(t *testing.T) {
	out := "acpi-call: 2020-04-07-5.8.16 → 2020-04-07-5.8.18\n" +
		"bluez-qt: \x1b[31;1m+12.6 KiB\x1b[0m\n" +
		"dolphin: 20.08.1 → 20.08.2, \x1b[31;1m+13.9 KiB\x1b[0m\n" +
		"kdeconnect: 20.08.2 → ∅, -6597.8 KiB\n" +
		"libfoo: 1.2, 1.3 → 1.4, ε\n" +
		"zlib: ε → 1.3\n"
	want := []Change{
		{"acpi-call", []string{"2020-04-07-5.8.16"}, []string{"2020-04-07-5.8.18"}},
		{"dolphin", []string{"20.08.1"}, []string{"20.08.2"}},
		{"kdeconnect", []string{"20.08.2"}, []string{}},
		{"libfoo", []string{"1.2", "1.3"}, []string{"1.4", ""}},
		{"zlib", []string{""}, []string{"1.3"}},
	}
	if got, err := ParseDiffClosures(out); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseDiffClosures = %q, %v\nwant %q", got, err, want)
	}
}

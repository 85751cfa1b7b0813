package nixinfo

import "testing"

func FuzzParseNixOSVersion(f *testing.F) {
	f.Add([]byte(`{"nixosVersion":"24.05.1","configurationRevision":"abc-dirty","nixpkgsRevision":"x"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"nixosVersion":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseNixOSVersion(b)
		if err != nil && v != (versionInfo{}) {
			t.Errorf("error %v with a value %+v", err, v)
		}
	})
}

func FuzzParseDarwinVersion(f *testing.F) {
	f.Add([]byte(`{"darwinLabel":"25.05","configurationRevision":"abc","nixpkgsRevision":"x","darwinRevision":"y"}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseDarwinVersion(b)
		if err != nil && v != (versionInfo{}) {
			t.Errorf("error %v with a value %+v", err, v)
		}
	})
}

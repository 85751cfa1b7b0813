package nixinfo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The other way of querying two closures, which DiffSystems does not take
// (see closuresBySize): one `nix path-info --json --recursive` of both, the
// closures walked in Go. It stays here to be measured again, on other Nix
// versions too, and reads the JSON of each of them.

// storeObject is what nix path-info --json says of a store path: its NAR
// size and references, by base name (HASH-NAME).
type storeObject struct {
	narSize    int64
	references []string
}

// closuresByReferences queries the union of the two closures with one
// `nix path-info --json --recursive`, and walks each closure in Go.
func closuresByReferences(ctx context.Context, before, after string) (old, new closure, err error) {
	out, err := pathInfo(ctx, []string{"--json", "--recursive"}, before, after)
	if err != nil {
		return closure{}, closure{}, err
	}
	objects, err := parsePathInfoJSON(out)
	if err != nil {
		return closure{}, closure{}, fmt.Errorf("closure of %s and %s: %w", before, after, err)
	}
	if old, err = walk(objects, before); err != nil {
		return closure{}, closure{}, err
	}
	if new, err = walk(objects, after); err != nil {
		return closure{}, closure{}, err
	}
	return old, new, nil
}

// walk collects the closure of root from objects.
func walk(objects map[string]storeObject, root string) (closure, error) {
	seen := map[string]bool{baseName(root): true}
	todo := []string{baseName(root)}
	var c closure
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		o, ok := objects[p]
		if !ok {
			return closure{}, fmt.Errorf("closure of %s: nix path-info left out %s", root, p)
		}
		c.paths = append(c.paths, p)
		c.size += o.narSize
		for _, r := range o.references {
			if !seen[r] {
				seen[r] = true
				todo = append(todo, r)
			}
		}
	}
	return c, nil
}

// baseName is a store path's last element, HASH-NAME.
func baseName(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// pathInfoJSON is one store object in any of nix path-info's JSON shapes.
type pathInfoJSON struct {
	Path       string   `json:"path"`
	Valid      *bool    `json:"valid"`
	NarSize    int64    `json:"narSize"`
	References []string `json:"references"`
}

// parsePathInfoJSON reads `nix path-info --json` in the shape of any Nix
// version, keyed by base name:
//   - up to Nix 2.18, and Lix: an array of objects with a "path";
//   - from 2.19 (and 2.33's --json-format 1): an object keyed by store path,
//     null for a path that is not valid;
//   - 2.33's --json-format 2 and later: {"version", "storeDir", "info"},
//     whose "info" is keyed by base name, the references base names too.
func parsePathInfoJSON(out []byte) (map[string]storeObject, error) {
	out = bytes.TrimSpace(out)
	objects := map[string]storeObject{}
	add := func(path string, o *pathInfoJSON) error {
		if o == nil || o.Valid != nil && !*o.Valid {
			return fmt.Errorf("%s is not valid", path)
		}
		refs := make([]string, len(o.References))
		for i, r := range o.References {
			refs[i] = baseName(r)
		}
		objects[baseName(path)] = storeObject{o.NarSize, refs}
		return nil
	}
	if len(out) > 0 && out[0] == '[' {
		var list []*pathInfoJSON
		if err := json.Unmarshal(out, &list); err != nil {
			return nil, fmt.Errorf("nix path-info --json: %w", err)
		}
		for _, o := range list {
			if o == nil || o.Path == "" {
				return nil, errors.New("nix path-info --json: an entry without a path")
			}
			if err := add(o.Path, o); err != nil {
				return nil, err
			}
		}
		return objects, nil
	}
	var byPath map[string]*pathInfoJSON
	if isRecord(out) {
		var top struct {
			Version int                      `json:"version"`
			Info    map[string]*pathInfoJSON `json:"info"`
		}
		if err := json.Unmarshal(out, &top); err != nil {
			return nil, fmt.Errorf("nix path-info --json: %w", err)
		}
		if top.Version < 2 || top.Info == nil {
			return nil, fmt.Errorf("nix path-info --json: unknown format version %d", top.Version)
		}
		byPath = top.Info
	} else if err := json.Unmarshal(out, &byPath); err != nil {
		return nil, fmt.Errorf("nix path-info --json: %w", err)
	}
	for p, o := range byPath {
		if err := add(p, o); err != nil {
			return nil, err
		}
	}
	return objects, nil
}

// isRecord says whether out is the record --json-format 2 introduced rather
// than an object keyed by store path, from its first key: "info",
// "storeDir" or "version" can be no store path.
func isRecord(out []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(out))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	key, err := dec.Token()
	if err != nil {
		return false
	}
	switch key {
	case "info", "storeDir", "version":
		return true
	}
	return false
}

const (
	hashA  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB  = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	hashA1 = "cccccccccccccccccccccccccccccccc"
	hashB1 = "dddddddddddddddddddddddddddddddd"
	hashS  = "ffffffffffffffffffffffffffffffff"
)

// The union of two closures, A → a-1.0 → shared and B → b-2.0 → shared,
// as each Nix version prints it (trimmed to the fields that matter and a
// few that do not).
var pathInfoShapes = map[string]string{
	"array, up to 2.18 and Lix": `[
  {"path":"/nix/store/` + hashA + `-sys-1","narHash":"sha256-x","narSize":100,"references":["/nix/store/` + hashA1 + `-a-1.0"],"registrationTime":1,"ultimate":true},
  {"path":"/nix/store/` + hashA1 + `-a-1.0","narSize":10,"references":["/nix/store/` + hashS + `-shared"]},
  {"path":"/nix/store/` + hashS + `-shared","narSize":1,"references":[],"valid":true},
  {"path":"/nix/store/` + hashB1 + `-b-2.0","narSize":20,"references":["/nix/store/` + hashS + `-shared","/nix/store/` + hashB1 + `-b-2.0"]},
  {"path":"/nix/store/` + hashB + `-sys-2","narSize":200,"references":["/nix/store/` + hashB1 + `-b-2.0"]}
]`,
	"object by store path, 2.19 to 2.32": `{
  "/nix/store/` + hashA + `-sys-1":{"narHash":"sha256-x","narSize":100,"references":["/nix/store/` + hashA1 + `-a-1.0"],"ca":null,"deriver":null},
  "/nix/store/` + hashA1 + `-a-1.0":{"narSize":10,"references":["/nix/store/` + hashS + `-shared"]},
  "/nix/store/` + hashB + `-sys-2":{"narSize":200,"references":["/nix/store/` + hashB1 + `-b-2.0"]},
  "/nix/store/` + hashB1 + `-b-2.0":{"narSize":20,"references":["/nix/store/` + hashS + `-shared","/nix/store/` + hashB1 + `-b-2.0"]},
  "/nix/store/` + hashS + `-shared":{"narSize":1,"references":[]}
}`,
	"object by store path, 2.33 --json-format 1": `{
  "/nix/store/` + hashA + `-sys-1":{"version":1,"storeDir":"/nix/store","narSize":100,"references":["/nix/store/` + hashA1 + `-a-1.0"]},
  "/nix/store/` + hashA1 + `-a-1.0":{"version":1,"storeDir":"/nix/store","narSize":10,"references":["/nix/store/` + hashS + `-shared"]},
  "/nix/store/` + hashB + `-sys-2":{"version":1,"storeDir":"/nix/store","narSize":200,"references":["/nix/store/` + hashB1 + `-b-2.0"]},
  "/nix/store/` + hashB1 + `-b-2.0":{"version":1,"storeDir":"/nix/store","narSize":20,"references":["/nix/store/` + hashS + `-shared","/nix/store/` + hashB1 + `-b-2.0"]},
  "/nix/store/` + hashS + `-shared":{"version":1,"storeDir":"/nix/store","narSize":1,"references":[]}
}`,
	"record by base name, 2.33 --json-format 2": `{
  "info":{
    "` + hashA + `-sys-1":{"version":2,"storeDir":"/nix/store","narHash":{"algorithm":"sha256","format":"base64","hash":"x"},"narSize":100,"references":["` + hashA1 + `-a-1.0"],"ca":null},
    "` + hashA1 + `-a-1.0":{"narSize":10,"references":["` + hashS + `-shared"]},
    "` + hashB + `-sys-2":{"narSize":200,"references":["` + hashB1 + `-b-2.0"]},
    "` + hashB1 + `-b-2.0":{"narSize":20,"references":["` + hashS + `-shared","` + hashB1 + `-b-2.0"]},
    "` + hashS + `-shared":{"narSize":1,"references":[]}
  },
  "storeDir":"/nix/store",
  "version":2
}`,
	"record by base name, --json-format 3": `{"version":3,"storeDir":"/nix/store","info":{
    "` + hashA + `-sys-1":{"narSize":100,"references":["` + hashA1 + `-a-1.0"],"signatures":[{"keyName":"k","sig":"s"}]},
    "` + hashA1 + `-a-1.0":{"narSize":10,"references":["` + hashS + `-shared"]},
    "` + hashB + `-sys-2":{"narSize":200,"references":["` + hashB1 + `-b-2.0"]},
    "` + hashB1 + `-b-2.0":{"narSize":20,"references":["` + hashS + `-shared","` + hashB1 + `-b-2.0"]},
    "` + hashS + `-shared":{"narSize":1,"references":[]}
}}`,
}

func TestParsePathInfoJSONShapes(t *testing.T) {
	for shape, out := range pathInfoShapes {
		t.Run(shape, func(t *testing.T) {
			objects, err := parsePathInfoJSON([]byte(out))
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				root  string
				paths []string
				size  int64
			}{
				{"/nix/store/" + hashA + "-sys-1", []string{hashA + "-sys-1", hashA1 + "-a-1.0", hashS + "-shared"}, 111},
				{"/nix/store/" + hashB + "-sys-2", []string{hashB + "-sys-2", hashB1 + "-b-2.0", hashS + "-shared"}, 221},
			} {
				c, err := walk(objects, tc.root)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(slices.Sorted(slices.Values(c.paths)), slices.Sorted(slices.Values(tc.paths))) || c.size != tc.size {
					t.Errorf("closure of %s = %q, %d; want %q, %d", tc.root, c.paths, c.size, tc.paths, tc.size)
				}
			}
			a, _ := walk(objects, "/nix/store/"+hashA+"-sys-1")
			b, _ := walk(objects, "/nix/store/"+hashB+"-sys-2")
			want := []Change{{"a", []string{"1.0"}, []string{}}, {"b", []string{}, []string{"2.0"}}, {"sys", []string{"1"}, []string{"2"}}}
			if got := diffClosures(a.paths, b.paths); !equalChanges(got, want) {
				t.Errorf("diffClosures =\n%s\nwant\n%s", showChanges(got), showChanges(want))
			}
		})
	}
}

func TestParsePathInfoJSONErrors(t *testing.T) {
	for _, out := range []string{
		``,
		`[`,
		`{"version":1,"info":{}}`,
		`{"info":{"` + hashA + `-a":null},"version":2}`,
		`{"/nix/store/` + hashA + `-a":null}`,
		`[{"path":"/nix/store/` + hashA + `-a","valid":false}]`,
		`[{"narSize":1}]`,
		`[null]`,
		`"text"`,
	} {
		if _, err := parsePathInfoJSON([]byte(out)); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("parsePathInfoJSON(%s) error = %v, want a one-line error", out, err)
		}
	}
	objects, err := parsePathInfoJSON([]byte(pathInfoShapes["array, up to 2.18 and Lix"]))
	if err != nil {
		t.Fatal(err)
	}
	delete(objects, hashS+"-shared")
	if _, err := walk(objects, "/nix/store/"+hashA+"-sys-1"); err == nil || !strings.Contains(err.Error(), hashS) {
		t.Errorf("walk with a reference left out: %v; want an error naming it", err)
	}
}

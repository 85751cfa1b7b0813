package fakeaxiom

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ErrNoSchema says that the shared Axiom API schema is not there to
// validate against; tests skip on it. Under CI=true its absence is a
// failure instead.
var ErrNoSchema = errors.New("the shared Axiom API schema ../shared/axiom/api-v2.schema.json is absent")

// SchemaPath is the shared Axiom API schema: ../shared/axiom/api-v2.schema.json
// from the repository root, found by walking up from the working
// directory to go.mod.
func SchemaPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "axiom", "api-v2.schema.json"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

var (
	schemaMu sync.Mutex
	compiled = map[string]*jsonschema.Schema{}
)

// Validate checks a JSON body against #/$defs/<def> of the shared schema,
// for example "DashboardUpsertRequest". Without the schema it returns
// ErrNoSchema, unless CI is true.
func Validate(def string, body []byte) error {
	sch, err := schema(def)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	return sch.Validate(v)
}

func schema(def string) (*jsonschema.Schema, error) {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if s, ok := compiled[def]; ok {
		return s, nil
	}
	path, err := SchemaPath()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			return nil, fmt.Errorf("%s is absent, and CI is true: it must be there", path)
		}
		return nil, ErrNoSchema
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://schemas.invalid/api-v2.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(url + "#/$defs/" + def)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	compiled[def] = s
	return s, nil
}

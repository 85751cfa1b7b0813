package fakeaxiom

import (
	"bytes"
	_ "embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// apiSchema describes the bodies of Axiom's REST API v2 that the project
// sends (dashboards, annotations, monitors, notifiers), as Axiom publishes
// them. It travels with the tests, so a clone checks its bodies on its own.
//
//go:embed api-v2.schema.json
var apiSchema []byte

var (
	schemaMu sync.Mutex
	compiled = map[string]*jsonschema.Schema{}
)

// Validate checks a JSON body against #/$defs/<def> of the API schema, for
// example "DashboardUpsertRequest" or "NewAnnotation".
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
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(apiSchema))
	if err != nil {
		return nil, fmt.Errorf("api-v2.schema.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://schemas.invalid/api-v2.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(url + "#/$defs/" + def)
	if err != nil {
		return nil, fmt.Errorf("api-v2.schema.json: %v", err)
	}
	compiled[def] = s
	return s, nil
}

package fakeaxiom

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"time"
)

// QueryField names and types one column of a tabular answer.
type QueryField struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type table struct {
	fields  []QueryField
	columns [][]any
}

// SetQueryResult makes APL queries of dataset answer this table, in
// Axiom's tabular form: columns[i] holds the values of fields[i]. A
// dataset without a result does not exist (404).
func (s *Server) SetQueryResult(dataset string, fields []QueryField, columns ...[]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables == nil {
		s.tables = map[string]table{}
	}
	s.tables[dataset] = table{fields: fields, columns: columns}
}

// datasetOf is the dataset an APL query starts from: ['name'] or a bare
// name before the first pipe.
var datasetOf = regexp.MustCompile(`^\s*(?:\[\s*'([^']+)'\s*\]|\[\s*"([^"]+)"\s*\]|([A-Za-z0-9_.-]+))`)

// serveAPL is POST /v1/datasets/_apl?format=tabular: body {apl,
// startTime, endTime}; startTime is required here, as the default range
// is undocumented. Deny("query") answers 403.
func (s *Server) serveAPL(w http.ResponseWriter, r *http.Request, body []byte) int {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return http.StatusMethodNotAllowed
	}
	if s.denies("query") {
		writeError(w, http.StatusForbidden, "forbidden")
		return http.StatusForbidden
	}
	if f := r.URL.Query().Get("format"); f != "tabular" {
		writeError(w, http.StatusBadRequest, "format must be tabular, not "+f)
		return http.StatusBadRequest
	}
	var req struct {
		APL       string     `json:"apl"`
		StartTime *time.Time `json:"startTime"`
		EndTime   *time.Time `json:"endTime"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil || req.APL == "" {
		writeError(w, http.StatusBadRequest, "a body with apl is required")
		return http.StatusBadRequest
	}
	if req.StartTime == nil {
		writeError(w, http.StatusBadRequest, "startTime is required")
		return http.StatusBadRequest
	}
	end := time.Now().UTC()
	if req.EndTime != nil {
		end = *req.EndTime
	}
	if end.Before(*req.StartTime) {
		writeError(w, http.StatusBadRequest, "endTime is before startTime")
		return http.StatusBadRequest
	}
	m := datasetOf.FindStringSubmatch(req.APL)
	name := ""
	if m != nil {
		name = m[1] + m[2] + m[3]
	}
	s.mu.Lock()
	t, ok := s.tables[name]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "dataset not found")
		return http.StatusNotFound
	}
	columns := t.columns
	if columns == nil {
		columns = [][]any{}
	}
	fields := t.fields
	if fields == nil {
		fields = []QueryField{}
	}
	rows := 0
	if len(columns) > 0 {
		rows = len(columns[0])
	}
	writeJSON(w, r, http.StatusOK, map[string]any{
		"format": "tabular",
		"status": map[string]any{"elapsedTime": 1200, "rowsExamined": rows, "rowsMatched": rows},
		"tables": []map[string]any{{
			"name":    "0",
			"sources": []map[string]string{{"name": name}},
			"fields":  fields,
			"order":   []any{},
			"groups":  []any{},
			"range":   map[string]any{"field": "_time", "start": req.StartTime, "end": end},
			"columns": columns,
		}},
		"datasetNames":  []string{name},
		"fieldsMetaMap": map[string]any{},
	}, false, 0)
	return http.StatusOK
}

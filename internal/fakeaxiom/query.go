package fakeaxiom

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
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
	partial bool
	// schema is the dataset's columns, when a test gave them.
	schema map[string]string
}

// Analyzer binds APL against a table's columns and says what is wrong:
// internal/kusto's, which binds as Axiom does.
type Analyzer interface {
	Bind(apl, table string, columns map[string]string) []string
}

// defaultRows is how many rows Axiom answers unless the query asks for
// more (or fewer) with limit or take.
const defaultRows = 1000

// SetQueryResult makes APL queries of dataset answer this table, in
// Axiom's tabular form: columns[i] holds the values of fields[i], cut to
// the rows the query asks for (1,000 unless it ends in limit or take). A
// dataset without a result does not exist (404).
func (s *Server) SetQueryResult(dataset string, fields []QueryField, columns ...[]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables == nil {
		s.tables = map[string]table{}
	}
	t := s.tables[dataset]
	t.fields, t.columns, t.partial = fields, columns, false
	s.tables[dataset] = t
}

// SetQueryColumns gives dataset its columns (name to Kusto type), as a
// traces dataset has them once its spans carried them; an analyzer
// judges each query, and one that names a column the dataset lacks, or
// is otherwise wrong, is refused (400) as Axiom refuses it. The table a
// query answers is still the one SetQueryResult gave.
func (s *Server) SetQueryColumns(dataset string, columns map[string]string, an Analyzer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables == nil {
		s.tables = map[string]table{}
	}
	t := s.tables[dataset]
	t.schema = columns
	s.tables[dataset] = t
	s.analyzer = an
}

// SetQueryPartial makes the answers for dataset say they are partial
// (status.isPartial), as Axiom's do when it did not read everything.
func (s *Server) SetQueryPartial(dataset string, partial bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[dataset]
	t.partial = partial
	s.tables[dataset] = t
}

// rowLimit is the row count a query ends by asking for: the last limit or
// take, else Axiom's default.
var rowLimit = regexp.MustCompile(`\|\s*(?:limit|take)\s+(\d+)\s*$`)

func rowsAsked(apl string) int {
	if m := rowLimit.FindStringSubmatch(strings.TrimSpace(apl)); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			return n
		}
	}
	return defaultRows
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
	an := s.analyzer
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "dataset not found")
		return http.StatusNotFound
	}
	if status, msg := judge(an, req.APL, name, t.schema); status != 0 {
		writeError(w, status, msg)
		return status
	}
	writeTable(w, r, name, t, req.APL, *req.StartTime, end)
	return http.StatusOK
}

// judge binds apl against the dataset's columns, when a test gave them:
// the status and message of a refusal, or 0 when the query may run.
func judge(an Analyzer, apl, name string, schema map[string]string) (int, string) {
	switch {
	case schema == nil:
		return 0, ""
	case an == nil:
		return http.StatusInternalServerError, "the fake has columns for " + name + " but no analyzer to judge queries"
	}
	if errs := an.Bind(apl, name, schema); len(errs) > 0 {
		return http.StatusBadRequest, "invalid query: " + strings.Join(errs, "; ")
	}
	return 0, ""
}

// writeTable answers t as Axiom's tabular answer to apl, cut to the rows
// it asks for.
func writeTable(w http.ResponseWriter, r *http.Request, name string, t table, apl string, start, end time.Time) {
	columns := make([][]any, len(t.columns))
	for i, c := range t.columns {
		columns[i] = c[:min(len(c), rowsAsked(apl))]
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
		"status": map[string]any{"elapsedTime": 1200, "blocksExamined": 1, "rowsExamined": rows, "rowsMatched": rows,
			"numGroups": 0, "isPartial": t.partial, "cacheStatus": 1, "minBlockTime": start, "maxBlockTime": end},
		"tables": []map[string]any{{
			"name":    "0",
			"sources": []map[string]string{{"name": name}},
			"fields":  fields,
			"order":   []any{},
			"groups":  []any{},
			"range":   map[string]any{"field": "_time", "start": start, "end": end},
			"columns": columns,
		}},
		"datasetNames":  []string{name},
		"fieldsMetaMap": map[string]any{},
	}, false, 0)
}

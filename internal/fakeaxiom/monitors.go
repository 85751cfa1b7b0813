package fakeaxiom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The monitors API, as Axiom's published OpenAPI describes it: GET and
// POST /v2/monitors (200, MonitorWithId), GET, PUT (200) and DELETE (204)
// /v2/monitors/{id}, with ids mon_*; GET /v2/notifiers lists notifiers,
// ids notify_*. The permissions are monitors (read, create, update,
// delete) and notifiers (read).

// Monitor is a monitor the fake holds, with the published schema's field
// names. A request's body is read into it as a Go server reads JSON, so a
// key spelt in another case (the Go SDK's "notifierIDs") lands in its
// field; what the schema does not name is dropped.
type Monitor struct {
	ID                           string     `json:"id"`
	Name                         string     `json:"name"`
	Type                         string     `json:"type"`
	Description                  string     `json:"description,omitempty"`
	APLQuery                     string     `json:"aplQuery,omitempty"`
	MPLQuery                     string     `json:"mplQuery,omitempty"`
	ColumnName                   string     `json:"columnName,omitempty"`
	Operator                     string     `json:"operator,omitempty"`
	Threshold                    float64    `json:"threshold"`
	IntervalMinutes              int64      `json:"intervalMinutes"`
	RangeMinutes                 int64      `json:"rangeMinutes"`
	SecondDelay                  int64      `json:"secondDelay,omitempty"`
	AlertOnNoData                bool       `json:"alertOnNoData"`
	NotifyByGroup                bool       `json:"notifyByGroup"`
	NotifyEveryRun               bool       `json:"notifyEveryRun,omitempty"`
	Resolvable                   bool       `json:"resolvable"`
	SkipResolved                 bool       `json:"skipResolved,omitempty"`
	TriggerFromNRuns             int64      `json:"triggerFromNRuns,omitempty"`
	TriggerAfterNPositiveResults int64      `json:"triggerAfterNPositiveResults,omitempty"`
	Tolerance                    float64    `json:"tolerance,omitempty"`
	CompareDays                  int64      `json:"compareDays,omitempty"`
	NotifierIDs                  []string   `json:"notifierIds"`
	Disabled                     bool       `json:"disabled"`
	DisabledUntil                *time.Time `json:"disabledUntil"`
	CreatedAt                    time.Time  `json:"createdAt"`
	CreatedBy                    string     `json:"createdBy"`
	UpdatedAt                    time.Time  `json:"updatedAt"`
}

// Notifier is a notifier the fake holds, as GET /v2/notifiers lists it.
type Notifier struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties"`
	CreatedAt  time.Time      `json:"createdAt"`
	CreatedBy  string         `json:"createdBy"`
}

// Monitors is what the fake holds, in the order created.
func (s *Server) Monitors() []Monitor {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Monitor, len(s.monitors))
	for i, m := range s.monitors {
		out[i] = *m
		out[i].NotifierIDs = slices.Clone(m.NotifierIDs)
	}
	return out
}

// AddMonitor stores m as if someone had made it in Axiom, under a new id,
// which it returns.
func (s *Server) AddMonitor(m Monitor) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addMonitor(m, "usr_someone", time.Now().UTC()).ID
}

func (s *Server) addMonitor(m Monitor, by string, now time.Time) Monitor {
	s.nextMonitor++
	m.ID = fmt.Sprintf("mon_%06d", s.nextMonitor)
	m.CreatedAt, m.CreatedBy, m.UpdatedAt = now, by, now
	s.monitors = append(s.monitors, &m)
	return m
}

// EditMonitor changes monitor id as someone in Axiom's UI would.
func (s *Server) EditMonitor(id string, edit func(m *Monitor)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.monitorIndex(id)
	if i < 0 {
		return fmt.Errorf("no monitor %q", id)
	}
	edit(s.monitors[i])
	s.monitors[i].ID, s.monitors[i].UpdatedAt = id, time.Now().UTC()
	return nil
}

// AddNotifier makes a notifier with an email address and returns its id.
func (s *Server) AddNotifier(name, email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notifiers = append(s.notifiers, Notifier{
		ID: fmt.Sprintf("notify_%06d", len(s.notifiers)+1), Name: name,
		Properties: map[string]any{"email": map[string]any{"emails": []string{email}}},
		CreatedAt:  time.Now().UTC(), CreatedBy: "usr_someone",
	})
	return s.notifiers[len(s.notifiers)-1].ID
}

func (s *Server) monitorIndex(id string) int {
	return slices.IndexFunc(s.monitors, func(m *Monitor) bool { return m.ID == id })
}

// ValidateMonitor checks a monitor body as the fake does before it stores
// one: the published Monitor schema, then what Axiom documents beyond it
// (a name, one query, interval and range of at least a minute, the
// operators a MatchEvent query may use, a Threshold query that ends in
// summarize without bin_auto).
func ValidateMonitor(body []byte) error {
	_, err := readMonitor(body)
	return err
}

func readMonitor(body []byte) (Monitor, error) {
	if err := Validate("Monitor", body); err != nil {
		return Monitor{}, err
	}
	var m Monitor
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&m); err != nil {
		return Monitor{}, err
	}
	switch {
	case strings.TrimSpace(m.Name) == "":
		return m, errors.New("a monitor needs a name")
	case (m.APLQuery == "") == (m.MPLQuery == ""):
		return m, errors.New("give one of aplQuery and mplQuery")
	case m.IntervalMinutes < 1 || m.RangeMinutes < 1:
		return m, errors.New("intervalMinutes and rangeMinutes must be at least 1")
	}
	if m.APLQuery != "" {
		return m, CheckMonitorQuery(m.Type, m.APLQuery)
	}
	return m, nil
}

// serveMonitors answers /v2/monitors and /v2/monitors/{id}.
func (s *Server) serveMonitors(w http.ResponseWriter, r *http.Request, body []byte) int {
	if s.denies("monitors", "monitors:"+verb(r.Method)) {
		return dashboardError(w, http.StatusForbidden, "forbidden", "forbidden", 0)
	}
	id, byID := strings.CutPrefix(r.URL.Path, "/v2/monitors/")
	switch {
	case r.URL.Path == "/v2/monitors" && r.Method == http.MethodGet:
		writeJSON(w, r, http.StatusOK, s.answerMonitors(), false, 0)
		return http.StatusOK
	case r.URL.Path == "/v2/monitors" && r.Method == http.MethodPost:
		m, status := s.acceptMonitor(w, r, body)
		if status != 0 {
			return status
		}
		s.mu.Lock()
		m = s.addMonitor(m, "token", time.Now().UTC())
		s.mu.Unlock()
		writeJSON(w, r, http.StatusOK, answerMonitor(m), false, 0)
		return http.StatusOK
	case byID && id != "" && !strings.Contains(id, "/"):
	default:
		writeError(w, http.StatusNotFound, "not found")
		return http.StatusNotFound
	}
	s.mu.Lock()
	i := s.monitorIndex(id)
	s.mu.Unlock()
	if i < 0 {
		return dashboardError(w, http.StatusNotFound, "not_found", "monitor not found", 0)
	}
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		m := *s.monitors[i]
		s.mu.Unlock()
		writeJSON(w, r, http.StatusOK, answerMonitor(m), false, 0)
		return http.StatusOK
	case http.MethodPut:
		m, status := s.acceptMonitor(w, r, body)
		if status != 0 {
			return status
		}
		s.mu.Lock()
		if i = s.monitorIndex(id); i >= 0 {
			old := s.monitors[i]
			m.ID, m.CreatedAt, m.CreatedBy, m.UpdatedAt = id, old.CreatedAt, old.CreatedBy, time.Now().UTC()
			s.monitors[i] = &m
		}
		s.mu.Unlock()
		writeJSON(w, r, http.StatusOK, answerMonitor(m), false, 0)
		return http.StatusOK
	case http.MethodDelete:
		s.mu.Lock()
		s.monitors = slices.DeleteFunc(s.monitors, func(m *Monitor) bool { return m.ID == id })
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	}
	writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	return http.StatusMethodNotAllowed
}

// acceptMonitor reads a create or update body, answering 400 (and its
// status) when it is not one Axiom takes.
func (s *Server) acceptMonitor(w http.ResponseWriter, r *http.Request, body []byte) (Monitor, int) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return Monitor{}, dashboardError(w, http.StatusBadRequest, "invalid_payload", "content type "+ct, 0)
	}
	m, err := readMonitor(body)
	if err != nil {
		return Monitor{}, dashboardError(w, http.StatusBadRequest, "invalid_payload", err.Error(), 0)
	}
	// What the server sets is not the client's to choose.
	m.CreatedAt, m.CreatedBy, m.UpdatedAt = time.Time{}, "", time.Time{}
	if m.DisabledUntil != nil && m.DisabledUntil.IsZero() {
		m.DisabledUntil = nil
	}
	return m, 0
}

func (s *Server) answerMonitors() []Monitor {
	out := s.Monitors()
	for i := range out {
		out[i] = answerMonitor(out[i])
	}
	return out
}

// answerMonitor is m as Axiom answers it: no null list.
func answerMonitor(m Monitor) Monitor {
	if m.NotifierIDs == nil {
		m.NotifierIDs = []string{}
	}
	return m
}

// serveNotifiers answers GET /v2/notifiers.
func (s *Server) serveNotifiers(w http.ResponseWriter, r *http.Request) int {
	if s.denies("notifiers", "notifiers:"+verb(r.Method)) {
		return dashboardError(w, http.StatusForbidden, "forbidden", "forbidden", 0)
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return http.StatusMethodNotAllowed
	}
	s.mu.Lock()
	out := slices.Clone(s.notifiers)
	s.mu.Unlock()
	if out == nil {
		out = []Notifier{}
	}
	writeJSON(w, r, http.StatusOK, out, false, 0)
	return http.StatusOK
}

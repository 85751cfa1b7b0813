package fakeaxiom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Dashboard is a dashboard the fake holds, as GET /v2/dashboards/uid/{uid}
// answers it.
type Dashboard struct {
	UID       string          `json:"uid"`
	ID        string          `json:"id"`
	Version   int64           `json:"version"`
	Dashboard json.RawMessage `json:"dashboard"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
	CreatedBy string          `json:"createdBy"`
	UpdatedBy string          `json:"updatedBy"`
}

// Dashboards is what the fake holds, in the order created.
func (s *Server) Dashboards() []Dashboard {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Dashboard
	for _, uid := range s.dashboardOrder {
		out = append(out, *s.dashboards[uid])
	}
	return out
}

// EditDashboard changes a dashboard as someone in Axiom's UI would: edit
// gets its document, and the version goes up.
func (s *Server) EditDashboard(uid string, edit func(doc map[string]any)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dashboards[uid]
	if !ok {
		return fmt.Errorf("no dashboard %q", uid)
	}
	var doc map[string]any
	if err := json.Unmarshal(d.Dashboard, &doc); err != nil {
		return err
	}
	edit(doc)
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	d.Dashboard, d.Version, d.UpdatedAt, d.UpdatedBy = b, d.Version+1, time.Now().UTC(), "usr_someone"
	return nil
}

// dashboardError answers as Axiom's DashboardError.
func dashboardError(w http.ResponseWriter, status int, code, msg string, current int64) int {
	body := map[string]any{"code": code, "message": msg}
	if current > 0 {
		body["currentVersion"] = current
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
	return status
}

// verb is what a request of the dashboards or monitors API does, as its
// permission names it: "dashboards" denies all of them,
// "dashboards:create" (and read, update, delete) one.
func verb(method string) string {
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodDelete:
		return "delete"
	}
	return "read"
}

func (s *Server) denies(perms ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(perms, func(p string) bool { return slices.Contains(s.denied, p) })
}

// serveDashboards is /v2/dashboards: list and create, and
// /v2/dashboards/uid/{uid}: get, update (with the version check) and
// delete. Bodies are checked against the API description (api-v2.schema.json).
func (s *Server) serveDashboards(w http.ResponseWriter, r *http.Request, body []byte) int {
	if s.denies("dashboards", "dashboards:"+verb(r.Method)) {
		return dashboardError(w, http.StatusForbidden, "forbidden", "forbidden", 0)
	}
	uid, byUID := strings.CutPrefix(r.URL.Path, "/v2/dashboards/uid/")
	switch {
	case r.URL.Path == "/v2/dashboards" && r.Method == http.MethodGet:
		writeJSON(w, r, http.StatusOK, s.Dashboards(), false, 0)
		return http.StatusOK
	case r.URL.Path == "/v2/dashboards" && r.Method == http.MethodPost:
		return s.upsert(w, r, "", body)
	case byUID && uid != "" && !strings.Contains(uid, "/"):
	default:
		writeError(w, http.StatusNotFound, "not found")
		return http.StatusNotFound
	}
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		d, ok := s.dashboards[uid]
		var out Dashboard
		if ok {
			out = *d
		}
		s.mu.Unlock()
		if !ok {
			return dashboardError(w, http.StatusNotFound, "not_found", "dashboard not found", 0)
		}
		writeJSON(w, r, http.StatusOK, out, false, 0)
		return http.StatusOK
	case http.MethodPut:
		return s.upsert(w, r, uid, body)
	case http.MethodDelete:
		s.mu.Lock()
		_, ok := s.dashboards[uid]
		delete(s.dashboards, uid)
		s.dashboardOrder = slices.DeleteFunc(s.dashboardOrder, func(u string) bool { return u == uid })
		s.mu.Unlock()
		if !ok {
			return dashboardError(w, http.StatusNotFound, "not_found", "dashboard not found", 0)
		}
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	}
	writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	return http.StatusMethodNotAllowed
}

// upsert is a create (POST, pathUID empty) or an update (PUT).
func (s *Server) upsert(w http.ResponseWriter, r *http.Request, pathUID string, body []byte) int {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return dashboardError(w, http.StatusBadRequest, "invalid_payload", "content type "+ct, 0)
	}
	if err := Validate("DashboardUpsertRequest", body); err != nil {
		return dashboardError(w, http.StatusBadRequest, "invalid_payload", err.Error(), 0)
	}
	var req struct {
		UID       string          `json:"uid"`
		Dashboard json.RawMessage `json:"dashboard"`
		Version   *int64          `json:"version"`
		Overwrite bool            `json:"overwrite"`
		Message   string          `json:"message"`
	}
	// The schema leaves the request's own keys open; Axiom refuses
	// unknown ones.
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return dashboardError(w, http.StatusBadRequest, "invalid_payload", err.Error(), 0)
	}
	if len(req.Dashboard) == 0 || string(req.Dashboard) == "null" {
		return dashboardError(w, http.StatusBadRequest, "invalid_payload", "a dashboard is required", 0)
	}
	uid := req.UID
	if pathUID != "" {
		if uid != "" && uid != pathUID {
			return dashboardError(w, http.StatusBadRequest, "invalid_payload", "uid differs from the path's", 0)
		}
		uid = pathUID
	}
	now := time.Now().UTC()
	// Decided under the lock, answered outside it: the answer's writer
	// takes the lock too.
	status, code, msg, current, out := s.storeDashboard(uid, pathUID, req.Dashboard, req.Version, req.Overwrite, now)
	if code != "" {
		return dashboardError(w, status, code, msg, current)
	}
	answer := map[string]any{"status": "updated", "dashboard": out, "overwritten": req.Overwrite}
	if status == http.StatusCreated {
		answer = map[string]any{"status": "created", "dashboard": out}
	}
	writeJSON(w, r, status, answer, false, 0)
	return status
}

// storeDashboard creates or updates a dashboard: the status to answer, and an
// error code and message, or what is stored now.
func (s *Server) storeDashboard(uid, pathUID string, doc json.RawMessage, version *int64, overwrite bool, now time.Time) (int, string, string, int64, Dashboard) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dashboards == nil {
		s.dashboards = map[string]*Dashboard{}
	}
	if uid == "" {
		uid = fmt.Sprintf("dsh_%06d", len(s.dashboardOrder)+1)
	}
	d, exists := s.dashboards[uid]
	switch {
	case !exists:
		s.nextDashboard++
		d = &Dashboard{UID: uid, ID: fmt.Sprintf("%08d", s.nextDashboard), Version: 1, Dashboard: doc,
			CreatedAt: now, UpdatedAt: now, CreatedBy: "token", UpdatedBy: "token"}
		s.dashboards[uid] = d
		s.dashboardOrder = append(s.dashboardOrder, uid)
		return http.StatusCreated, "", "", 0, *d
	case pathUID == "" && !overwrite:
		return http.StatusConflict, "already_exists", "a dashboard with this uid exists", 0, Dashboard{}
	case !overwrite && version == nil:
		return http.StatusBadRequest, "invalid_payload", "version is required unless overwrite is true", 0, Dashboard{}
	case !overwrite && *version != d.Version:
		return http.StatusPreconditionFailed, "version_conflict", "the dashboard changed since that version", d.Version, Dashboard{}
	}
	d.Dashboard, d.Version, d.UpdatedAt, d.UpdatedBy = doc, d.Version+1, now, "token"
	return http.StatusOK, "", "", 0, *d
}

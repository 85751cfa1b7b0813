package fakeaxiom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// The annotations API: POST /v2/annotations creates, GET lists.

// Annotation is what the fake stores.
type Annotation struct {
	ID          string    `json:"id"`
	Datasets    []string  `json:"datasets"`
	Type        string    `json:"type"`
	Time        time.Time `json:"time"`
	EndTime     time.Time `json:"endTime,omitzero"`
	Title       string    `json:"title,omitempty"`
	Description string    `json:"description,omitempty"`
	URL         string    `json:"url,omitempty"`
}

// Annotations is what the fake holds.
func (s *Server) Annotations() []Annotation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.annotations)
}

var typePattern = regexp.MustCompile(`^[a-z0-9-]+$`)

// store keeps an annotation as Axiom would and gives it an id.
func (s *Server) store(a Annotation) Annotation {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	a.ID = fmt.Sprintf("ann_%06d", s.next)
	s.annotations = append(s.annotations, a)
	return a
}

// serveAnnotations answers the annotations API; stored is the annotation a
// fault stored before answering, if any.
func (s *Server) serveAnnotations(w http.ResponseWriter, r *http.Request, body []byte, fault Fault, faulty bool, stored *Annotation) int {
	if !s.may(r) {
		writeError(w, http.StatusForbidden, "forbidden")
		return http.StatusForbidden
	}
	slow := faulty && fault.SlowBody
	switch r.Method {
	case http.MethodPost:
		if stored != nil {
			writeJSON(w, r, http.StatusCreated, *stored, slow, fault.SlowEvery)
			return http.StatusCreated
		}
		a, err := validate(r, body)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return http.StatusBadRequest
		}
		a = s.store(a)
		if faulty && fault.StoreThenDrop {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
				return 0
			}
			panic(http.ErrAbortHandler)
		}
		writeJSON(w, r, http.StatusCreated, a, slow, fault.SlowEvery)
		return http.StatusCreated
	case http.MethodGet:
		q := r.URL.Query()
		start, err1 := parseTime(q.Get("start"))
		end, err2 := parseTime(q.Get("end"))
		if err1 != nil || err2 != nil || len(q["start"]) > 1 || len(q["end"]) > 1 {
			writeError(w, http.StatusBadRequest, "invalid start or end")
			return http.StatusBadRequest
		}
		out := []Annotation{}
		s.mu.Lock()
		for _, a := range s.annotations {
			if len(q["datasets"]) > 0 && !slices.ContainsFunc(a.Datasets, func(d string) bool { return slices.Contains(q["datasets"], d) }) {
				continue
			}
			if (!start.IsZero() && a.Time.Before(start)) || (!end.IsZero() && a.Time.After(end)) {
				continue
			}
			out = append(out, a)
		}
		s.mu.Unlock()
		writeJSON(w, r, http.StatusOK, out, slow, fault.SlowEvery)
		return http.StatusOK
	}
	writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	return http.StatusMethodNotAllowed
}

// may says whether the request's token may do what it asks.
func (s *Server) may(r *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return r.Header.Get("Authorization") == "Bearer "+s.Token && !slices.Contains(s.denied, permission(r.Method))
}

// permission is what a request needs of the token.
func permission(method string) string {
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodGet:
		return "read"
	}
	return ""
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// validate checks a create request as Axiom documents it.
func validate(r *http.Request, body []byte) (Annotation, error) {
	var a Annotation
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return a, fmt.Errorf("content type %q", ct)
	}
	if err := Validate("NewAnnotation", body); err != nil {
		return a, err
	}
	var raw struct {
		Datasets    []string `json:"datasets"`
		Type        string   `json:"type"`
		Time        *string  `json:"time"`
		EndTime     *string  `json:"endTime"`
		Title       string   `json:"title"`
		Description string   `json:"description"`
		URL         string   `json:"url"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return a, fmt.Errorf("body: %v", err)
	}
	if len(raw.Datasets) == 0 {
		return a, fmt.Errorf("datasets: required")
	}
	for _, d := range raw.Datasets {
		if d == "" {
			return a, fmt.Errorf("datasets: empty name")
		}
	}
	if !typePattern.MatchString(raw.Type) {
		return a, fmt.Errorf("type: %q", raw.Type)
	}
	a.Time = time.Now().UTC()
	if raw.Time != nil {
		t, err := time.Parse(time.RFC3339Nano, *raw.Time)
		if err != nil || t.Year() < 2000 {
			return a, fmt.Errorf("time: %q", *raw.Time)
		}
		a.Time = t
	}
	if raw.EndTime != nil {
		t, err := time.Parse(time.RFC3339Nano, *raw.EndTime)
		if err != nil || t.Before(a.Time) {
			return a, fmt.Errorf("endTime: %q is not a time at or after time", *raw.EndTime)
		}
		a.EndTime = t
	}
	if utf8.RuneCountInString(raw.Title) > 256 || !utf8.ValidString(raw.Title) {
		return a, fmt.Errorf("title: longer than 256 characters")
	}
	if utf8.RuneCountInString(raw.Description) > 512 || !utf8.ValidString(raw.Description) {
		return a, fmt.Errorf("description: longer than 512 characters")
	}
	if raw.URL != "" {
		if u, err := url.Parse(raw.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			return a, fmt.Errorf("url: %q", raw.URL)
		}
	}
	a.Datasets, a.Type, a.Title, a.Description, a.URL = raw.Datasets, raw.Type, raw.Title, raw.Description, raw.URL
	return a, nil
}

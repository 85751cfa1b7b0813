// Package fakeaxiom is an Axiom annotations API on loopback for tests. It
// checks requests the way Axiom's API documents them (bearer token, JSON body,
// required fields, limits), keeps what it accepted, and can be told to
// misbehave for the next requests: answer an error status, hang, or store an
// annotation and drop the connection before answering.
package fakeaxiom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
)

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

// Fault is how the fake answers one request instead of normally.
type Fault struct {
	// Status answers with this status and a JSON error body.
	Status int
	// Header is added to a Status answer (Retry-After, say).
	Header http.Header
	// Hang holds the request until the client gives up.
	Hang bool
	// StoreThenDrop stores the annotation, then closes the connection
	// without an answer: a POST whose answer was lost.
	StoreThenDrop bool
	// Method limits the fault to requests of this method; empty means any.
	Method string
}

// Request is what the fake saw of one request.
type Request struct {
	Method        string
	Path          string
	Query         url.Values
	Authorization string
	Header        http.Header
	Body          []byte
	Status        int
}

// Server is the fake API.
type Server struct {
	*httptest.Server
	// Token is the only token it accepts.
	Token string

	mu          sync.Mutex
	annotations []Annotation
	faults      []Fault
	requests    []Request
	next        int
}

// New starts a fake that accepts token.
func New(token string) *Server {
	s := &Server{Token: token}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Endpoint is the annotations endpoint, as --api-endpoint takes it.
func (s *Server) Endpoint() string { return s.URL + "/v2/annotations" }

// Fail makes the next requests misbehave, one fault each, in order.
func (s *Server) Fail(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// Annotations is what the fake holds.
func (s *Server) Annotations() []Annotation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.annotations)
}

// Requests is every request the fake saw.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

var typePattern = regexp.MustCompile(`^[a-z0-9-]+$`)

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (s *Server) takeFault(method string) (Fault, bool) {
	for i, f := range s.faults {
		if f.Method == "" || f.Method == method {
			s.faults = slices.Delete(s.faults, i, i+1)
			return f, true
		}
	}
	return Fault{}, false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Authorization: r.Header.Get("Authorization"), Header: r.Header.Clone(), Body: body}
	fault, faulty := s.takeFault(r.Method)
	s.mu.Unlock()
	status := s.handle(w, r, body, fault, faulty)
	rec.Status = status
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, body []byte, fault Fault, faulty bool) int {
	if faulty {
		switch {
		case fault.Hang:
			<-r.Context().Done()
			return 0
		case fault.Status != 0:
			for k, v := range fault.Header {
				w.Header()[k] = v
			}
			writeError(w, fault.Status, http.StatusText(fault.Status))
			return fault.Status
		}
	}
	if r.URL.Path != "/v2/annotations" {
		writeError(w, http.StatusNotFound, "not found")
		return http.StatusNotFound
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		writeError(w, http.StatusUnauthorized, "invalid token")
		return http.StatusUnauthorized
	}
	switch r.Method {
	case http.MethodPost:
		a, err := validate(r, body)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return http.StatusBadRequest
		}
		s.mu.Lock()
		s.next++
		a.ID = fmt.Sprintf("ann_%06d", s.next)
		s.annotations = append(s.annotations, a)
		s.mu.Unlock()
		if faulty && fault.StoreThenDrop {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return 0
				}
			}
			panic(http.ErrAbortHandler)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(a)
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
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
		return http.StatusOK
	}
	writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	return http.StatusMethodNotAllowed
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

// Package fakeaxiom is an Axiom API on loopback for tests: annotations,
// dashboards (/v2/dashboards) and monitors (/v2/monitors, /v2/notifiers),
// their bodies checked against Axiom's published v2 API (api-v2.schema.json), and APL queries
// (/v1/datasets/_apl, answering tables a test sets). It checks requests the way Axiom's API documents them (bearer token, JSON
// body, required fields, limits), keeps what it accepted, and can be told
// to misbehave for the next requests: answer an error status, hang, send
// its answer slowly, or store an annotation and lose the answer. It can
// also play a token that lacks a permission (Deny).
package fakeaxiom

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Fault is how the fake answers one request instead of normally.
type Fault struct {
	// Status answers with this status and a JSON error body.
	Status int
	// Header is added to a Status answer (Retry-After, say).
	Header http.Header
	// Body replaces the error body of a Status answer.
	Body []byte
	// Hang holds the request until the client gives up.
	Hang bool
	// SlowBody answers normally, but sends the body one byte every
	// SlowEvery (100ms when zero) until it is sent or the client gives up.
	SlowBody  bool
	SlowEvery time.Duration
	// Store makes a POST store its annotation before the fault: a proxy's
	// 502 or a hang after Axiom stored it.
	Store bool
	// StoreThenDrop stores the annotation, then closes the connection
	// without an answer: a POST whose answer was lost.
	StoreThenDrop bool
	// Delay and Until hold the request before it is handled at all: until
	// Delay has passed and Until (when not nil) is closed. The request is
	// then handled as usual whether or not the client still waits: an
	// Axiom that stores what it was sent, however late, and answers slowly.
	Delay time.Duration
	Until <-chan struct{}
	// Arrived, when set, is told (without blocking) that the request has
	// arrived, before it is held.
	Arrived chan<- struct{}
	// Huge answers 200 with a JSON body this many bytes long, streamed:
	// a tabular answer whose one value is a string of that size.
	Huge int64
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
	// Status is what the fake answered; 0 when it answered nothing or the
	// request is still being answered.
	Status int
	// Time is when the request arrived.
	Time time.Time
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
	denied      []string
	next        int

	// inflight counts the requests being handled, for WaitIdle.
	inflight sync.WaitGroup

	dashboards     map[string]*Dashboard
	dashboardOrder []string
	nextDashboard  int
	tables         map[string]table
	analyzer       Analyzer

	monitors    []*Monitor
	nextMonitor int
	notifiers   []Notifier
}

// New starts a fake that accepts token.
func New(token string) *Server {
	s := &Server{Token: token}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// NewTLS starts a fake that accepts token over https, with a certificate
// that only the fake's Client trusts. The handshakes that other clients
// fail are what it is for: they are not logged.
func NewTLS(token string) *Server {
	s := &Server{Token: token}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	return s
}

// Deny takes permissions from the token, as an Axiom API token made
// without them: "create" (POST) and "read" (GET) of annotations;
// "dashboards", or one of "dashboards:read", "dashboards:create",
// "dashboards:update", "dashboards:delete"; the same for "monitors";
// "notifiers" or "notifiers:read"; "query" for APL. Requests that
// need one are answered 403. Deny() gives every permission back.
func (s *Server) Deny(permissions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied = slices.Clone(permissions)
}

// Endpoint is the annotations endpoint, as --api-endpoint takes it.
func (s *Server) Endpoint() string { return s.URL + "/v2/annotations" }

// Fail makes the next requests misbehave, one fault each, in order.
func (s *Server) Fail(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// Requests is every request the fake saw.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

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

// WaitIdle waits until every request that arrived so far has been handled,
// delayed ones included.
func (s *Server) WaitIdle() { s.inflight.Wait() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	arrived := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Authorization: r.Header.Get("Authorization"), Header: r.Header.Clone(), Body: body, Time: arrived})
	i := len(s.requests) - 1
	fault, faulty := s.takeFault(r.Method)
	s.mu.Unlock()
	if faulty && fault.Arrived != nil {
		select {
		case fault.Arrived <- struct{}{}:
		default:
		}
	}
	if faulty && fault.Delay > 0 {
		time.Sleep(fault.Delay)
	}
	if faulty && fault.Until != nil {
		<-fault.Until
	}
	s.handle(&statusWriter{ResponseWriter: w, s: s, i: i}, r, body, fault, faulty)
}

// statusWriter records the status of an answer as soon as it is sent, so
// that a slow body's status is known while the body is still going.
type statusWriter struct {
	http.ResponseWriter
	s *Server
	i int
}

func (w *statusWriter) WriteHeader(status int) {
	w.s.mu.Lock()
	w.s.requests[w.i].Status = status
	w.s.mu.Unlock()
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// handle answers one request: its fault first, then the API it names.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, body []byte, fault Fault, faulty bool) int {
	var stored *Annotation
	if faulty && fault.Store && r.Method == http.MethodPost && r.URL.Path == "/v2/annotations" && s.may(r) {
		// What a proxy in front of Axiom sees: the request went through,
		// and what comes back is the fault.
		if a, err := validate(r, body); err == nil {
			a = s.store(a)
			stored = &a
		}
	}
	if faulty {
		switch {
		case fault.Hang:
			<-r.Context().Done()
			return 0
		case fault.Huge > 0:
			writeHuge(w, fault.Huge)
			return http.StatusOK
		case fault.Status != 0:
			for k, v := range fault.Header {
				w.Header()[k] = v
			}
			if fault.Body != nil {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(fault.Status)
				w.Write(fault.Body)
			} else {
				writeError(w, fault.Status, http.StatusText(fault.Status))
			}
			return fault.Status
		}
	}
	p := r.URL.Path
	dashboards := p == "/v2/dashboards" || strings.HasPrefix(p, "/v2/dashboards/")
	monitors := p == "/v2/monitors" || strings.HasPrefix(p, "/v2/monitors/")
	if p != "/v2/annotations" && p != "/v1/datasets/_apl" && p != "/v2/notifiers" && !dashboards && !monitors {
		writeError(w, http.StatusNotFound, "not found")
		return http.StatusNotFound
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		writeError(w, http.StatusUnauthorized, "invalid token")
		return http.StatusUnauthorized
	}
	switch {
	case p == "/v1/datasets/_apl":
		return s.serveAPL(w, r, body)
	case dashboards:
		return s.serveDashboards(w, r, body)
	case monitors:
		return s.serveMonitors(w, r, body)
	case p == "/v2/notifiers":
		return s.serveNotifiers(w, r)
	}
	return s.serveAnnotations(w, r, body, fault, faulty, stored)
}

// writeHuge answers a tabular answer of size bytes, without holding it.
func writeHuge(w http.ResponseWriter, size int64) {
	head := `{"format":"tabular","status":{"isPartial":false},"tables":[{"fields":[{"name":"host","type":"string"}],"columns":[["`
	tail := `"]]}]}`
	// No length is announced: the client learns the size by reading.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, head)
	chunk := []byte(strings.Repeat("a", 64<<10))
	for left := size - int64(len(head)+len(tail)); left > 0; {
		n := min(left, int64(len(chunk)))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		left -= n
	}
	io.WriteString(w, tail)
}

// writeJSON answers v, slowly when asked to: the status and headers at
// once, then the body a byte at a time until it is sent or the client
// gives up.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any, slow bool, every time.Duration) {
	b, _ := json.Marshal(v)
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	if !slow {
		w.WriteHeader(status)
		w.Write(b)
		return
	}
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	t := time.NewTicker(every)
	defer t.Stop()
	for i := range b {
		if _, err := w.Write(b[i : i+1]); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}

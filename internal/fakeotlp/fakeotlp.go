// Package fakeotlp is an OTLP/HTTP traces receiver on loopback for tests. It
// decodes what it receives with the official OTLP protobuf types and keeps
// the spans with their resource, and the headers each export came with.
package fakeotlp

import (
	"encoding/hex"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span with its resource's attributes.
type Span struct {
	Name     string
	Kind     tracepb.Span_SpanKind
	TraceID  string
	SpanID   string
	ParentID string
	Attrs    map[string]*commonpb.AnyValue
	Resource map[string]*commonpb.AnyValue
	// SchemaURL is the resource's schema URL.
	SchemaURL string
	Status    *tracepb.Status
	Events    []*tracepb.Span_Event
}

// Attr is a span attribute as a string ("" when absent).
func (s Span) Attr(key string) string { return str(s.Attrs[key]) }

// ResourceAttr is a resource attribute as a string ("" when absent).
func (s Span) ResourceAttr(key string) string { return str(s.Resource[key]) }

func str(v *commonpb.AnyValue) string {
	if v == nil {
		return ""
	}
	switch x := v.Value.(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		if x.BoolValue {
			return "true"
		}
		return "false"
	}
	return v.String()
}

// Receiver is the fake.
type Receiver struct {
	*httptest.Server
	// Hang holds every export until the client gives up.
	Hang bool

	mu            sync.Mutex
	spans         []Span
	resourceSpans []*tracepb.ResourceSpans
	headers       []http.Header
	hosts         []string
	bad           []string
}

// New starts a receiver.
func New() *Receiver {
	r := &Receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// NewTLS starts a receiver that takes https, with a certificate for
// 127.0.0.1 that only the receiver's Client (or Certificate) trusts.
func NewTLS() *Receiver {
	r := &Receiver{}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.Config.ErrorLog = log.New(io.Discard, "", 0)
	r.StartTLS()
	return r
}

// Endpoint is the traces URL, as --traces-endpoint takes it.
func (r *Receiver) Endpoint() string { return r.URL + "/v1/traces" }

// Spans is every span received.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// ResourceSpans is every span received, as OTLP carried it.
func (r *Receiver) ResourceSpans() []*tracepb.ResourceSpans {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.resourceSpans)
}

// Keys is every resource and span attribute key received, sorted: what
// dashboard.Carry takes to check queries against real exports.
func (r *Receiver) Keys() (resource, span []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rk, sk := map[string]bool{}, map[string]bool{}
	for _, sp := range r.spans {
		for k := range sp.Resource {
			rk[k] = true
		}
		for k := range sp.Attrs {
			sk[k] = true
		}
	}
	return slices.Sorted(maps.Keys(rk)), slices.Sorted(maps.Keys(sk))
}

// Headers is the headers of every export request.
func (r *Receiver) Headers() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.headers)
}

// Hosts is the host each export request was addressed to: the receiver's
// own, or another when it was reached as a proxy.
func (r *Receiver) Hosts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hosts)
}

// Bad lists what was wrong with requests it could not take.
func (r *Receiver) Bad() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bad)
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if r.Hang {
		// Read the body first: only then does the server notice the
		// client going away and cancel the request's context.
		io.Copy(io.Discard, req.Body)
		<-req.Context().Done()
		return
	}
	fail := func(msg string) {
		r.mu.Lock()
		r.bad = append(r.bad, msg)
		r.mu.Unlock()
		http.Error(w, msg, http.StatusBadRequest)
	}
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		fail(req.Method + " " + req.URL.Path)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		fail("content type " + ct)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		fail(err.Error())
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &msg); err != nil {
		fail("protobuf: " + err.Error())
		return
	}
	var got []Span
	for _, rs := range msg.ResourceSpans {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				got = append(got, Span{
					Name:      sp.Name,
					Kind:      sp.Kind,
					TraceID:   hex.EncodeToString(sp.TraceId),
					SpanID:    hex.EncodeToString(sp.SpanId),
					ParentID:  hex.EncodeToString(sp.ParentSpanId),
					Attrs:     attrs(sp.Attributes),
					Resource:  res,
					SchemaURL: rs.SchemaUrl,
					Status:    sp.Status,
					Events:    sp.Events,
				})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.resourceSpans = append(r.resourceSpans, msg.ResourceSpans...)
	r.headers = append(r.headers, req.Header.Clone())
	r.hosts = append(r.hosts, req.Host)
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func attrs(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := make(map[string]*commonpb.AnyValue, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

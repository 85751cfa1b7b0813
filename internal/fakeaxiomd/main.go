// Command fakeaxiomd serves the fake Axiom API (internal/fakeaxiom) and the
// fake OTLP receiver (internal/fakeotlp) on fixed loopback addresses, for
// tests whose command runs where the test process cannot listen: in a
// container with a network of its own. The test controls it over HTTP on a
// Unix socket, which reaches across network namespaces:
//
//	GET    /annotations        the annotations stored, as JSON
//	PUT    /hold/api           hold annotation requests until DELETE /hold/api,
//	                           then answer them (unless the client gave up)
//	PUT    /hold/traces        the same for trace exports
//	PUT    /fail/api?status=N  answer every annotation request with status N
//	                           until DELETE /fail/api
//	GET    /spans              the names and trace ids of the spans received
//
// It tells systemd it is ready (sd_notify) once it listens.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

func main() {
	api := flag.String("api", "127.0.0.1:8080", "address of the annotations API")
	traces := flag.String("traces", "127.0.0.1:4318", "address of the OTLP/HTTP traces receiver")
	control := flag.String("control", "", "Unix socket the test controls the fakes through")
	token := flag.String("token", "", "the only token the API accepts")
	flag.Parse()
	if *control == "" || *token == "" {
		log.Fatal("fakeaxiomd: -control and -token are required")
	}

	ax := fakeaxiom.New(*token)
	otlp := fakeotlp.New()
	holds := map[string]*gate{"api": {}, "traces": {}}
	// An annotation request answered with an error status while one is set.
	failing := &gate{}
	listen := func(addr string, g *gate, h http.Handler) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatal(err)
		}
		go http.Serve(l, g.wrap(h))
	}
	listen(*api, holds["api"], failing.failWith(ax.Config.Handler))
	listen(*traces, holds["traces"], otlp.Config.Handler)

	os.Remove(*control)
	cl, err := net.Listen("unix", *control)
	if err != nil {
		log.Fatal(err)
	}
	notifyReady()
	log.Fatal(http.Serve(cl, controller(ax, otlp, holds, failing)))
}

func controller(ax *fakeaxiom.Server, otlp *fakeotlp.Receiver, holds map[string]*gate, failing *gate) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /annotations", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(ax.Annotations())
	})
	mux.HandleFunc("PUT /fail/api", func(w http.ResponseWriter, r *http.Request) {
		status, err := strconv.Atoi(r.URL.Query().Get("status"))
		if err != nil || status < 400 || status > 599 {
			http.Error(w, "status: want an error status", http.StatusBadRequest)
			return
		}
		failing.setStatus(status)
	})
	mux.HandleFunc("DELETE /fail/api", func(http.ResponseWriter, *http.Request) { failing.setStatus(0) })
	mux.HandleFunc("/hold/{what}", func(w http.ResponseWriter, r *http.Request) {
		g, ok := holds[r.PathValue("what")]
		switch {
		case !ok:
			http.NotFound(w, r)
		case r.Method == http.MethodPut:
			g.hold()
		case r.Method == http.MethodDelete:
			g.release()
		default:
			http.Error(w, "PUT or DELETE", http.StatusMethodNotAllowed)
		}
	})
	mux.HandleFunc("GET /spans", func(w http.ResponseWriter, _ *http.Request) {
		type span struct {
			Name, TraceID, Outcome string
			Attrs                  map[string]string
		}
		var out []span
		for _, s := range otlp.Spans() {
			attrs := map[string]string{}
			for k := range s.Attrs {
				attrs[string(k)] = s.Attr(string(k))
			}
			out = append(out, span{s.Name, s.TraceID, s.Attr(string(vocab.DeployOutcome)), attrs})
		}
		json.NewEncoder(w).Encode(out)
	})
	return mux
}

// gate holds requests while it is closed, or answers them with an error
// status while one is set.
type gate struct {
	mu     sync.Mutex
	open   chan struct{} // nil while open; closed on release
	status int
}

func (g *gate) setStatus(status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.status = status
}

func (g *gate) failWith(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		status := g.status
		g.mu.Unlock()
		if status == 0 {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"message": http.StatusText(status)})
	})
}

func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil {
		g.open = make(chan struct{})
	}
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open != nil {
		close(g.open)
		g.open = nil
	}
}

func (g *gate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		wait := g.open
		g.mu.Unlock()
		if wait != nil {
			// Read the body first: only then does the server notice the
			// client going away and cancel the request's context.
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-wait:
			case <-r.Context().Done():
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// notifyReady tells systemd the fakes listen, when it runs as a
// Type=notify service.
func notifyReady() {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		log.Printf("sd_notify: %v", err)
		return
	}
	defer c.Close()
	c.Write([]byte("READY=1"))
}

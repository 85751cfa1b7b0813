package telemetry

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
)

// writePEM writes der as a PEM block of kind to a file in dir.
func writePEM(t *testing.T, dir, name, kind string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// An https endpoint that answers 307 to plain http on the same host (the
// trace export's redirect) never gets the spans or the token there: the
// redirect is not followed, and the run says why nothing was exported.
func TestExportNoRedirect(t *testing.T) {
	clearEnv(t)
	plain := fakeotlp.New()
	defer plain.Close()
	redirect := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", writePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", redirect.Certificate().Raw))
	var logs bytes.Buffer
	exportLogged(t, Config{Endpoint: redirect.URL + "/v1/traces", Dataset: "tr", Token: "xaat-secret", Timeout: 5 * time.Second}, logTo(&logs))
	if len(plain.Headers()) != 0 || len(plain.Bad()) != 0 {
		t.Fatalf("the plain http listener got %d exports, %v", len(plain.Headers()), plain.Bad())
	}
	if out := logs.String(); !strings.Contains(out, "answered 307 with a redirect to "+plain.URL+"/v1/traces: redirects are not followed") {
		t.Errorf("want the redirect refused in the log:\n%s", out)
	}
}

// Given a client of ours, the exporter reads no TLS or timeout variables:
// they are read for it, client certificates included.
func TestExportClientTLSFromEnvironment(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, _ := x509.ParseCertificate(der)
	r := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if len(req.TLS.PeerCertificates) != 1 || !req.TLS.PeerCertificates[0].Equal(clientCert) {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(clientCert)
	r.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	r.StartTLS()
	defer r.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", writePEM(t, dir, "ca.pem", "CERTIFICATE", r.Certificate().Raw))
	t.Setenv("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", writePEM(t, dir, "client.pem", "CERTIFICATE", der))
	t.Setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", writePEM(t, dir, "client.key", "PRIVATE KEY", keyDER))
	var logs bytes.Buffer
	resp, err := exportClient(os.Getenv, time.Second, logTo(&logs)).Get(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || logs.Len() != 0 {
		t.Errorf("status %d, logs %q", resp.StatusCode, logs.String())
	}

	// What cannot be used is a warning naming the variable.
	t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", dir)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "")
	t.Setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", filepath.Join(dir, "missing"))
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "99999999999999999999")
	logs.Reset()
	if c := exportClient(os.Getenv, time.Second, logTo(&logs)); c.Timeout != time.Second {
		t.Errorf("timeout %s from a value out of bounds", c.Timeout)
	}
	for _, want := range []string{"OTEL_EXPORTER_OTLP_CERTIFICATE ignored", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY ignored", "OTEL_EXPORTER_OTLP_TIMEOUT ignored"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in:\n%s", want, logs.String())
		}
	}
}

// OTEL_EXPORTER_OTLP_TIMEOUT bounds an export, as the exporter's own
// client would, the TRACES_ form first; without it, the run's.
func TestExportTimeoutFromEnvironment(t *testing.T) {
	clearEnv(t)
	if c := exportClient(os.Getenv, time.Second, quiet()); c.Timeout != time.Second {
		t.Errorf("timeout %s, want the run's", c.Timeout)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "50")
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "70")
	if c := exportClient(os.Getenv, time.Second, quiet()); c.Timeout != 50*time.Millisecond {
		t.Errorf("timeout %s, want OTEL_EXPORTER_OTLP_TRACES_TIMEOUT's", c.Timeout)
	}
}

// A certificate file that is a FIFO nobody writes is refused at once (it
// once blocked the run), with the warning naming the variable.
func TestExportCertificateFIFO(t *testing.T) {
	clearEnv(t)
	fifo := filepath.Join(t.TempDir(), "ca.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", fifo)
	var logs bytes.Buffer
	exportClient(os.Getenv, time.Second, logTo(&logs))
	if !strings.Contains(logs.String(), "OTEL_EXPORTER_OTLP_CERTIFICATE ignored") || !strings.Contains(logs.String(), "not a regular file") {
		t.Errorf("no warning about the FIFO in:\n%s", logs.String())
	}
}

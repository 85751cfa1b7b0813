package telemetry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/authhttp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
)

// exportClient is the exporter's HTTP client, under the rule of every
// request that may carry the token: no redirect is followed (authhttp).
// Given a client of ours, the exporter no longer reads the variables that
// shape its own, so they are read here as it reads them:
// OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT in milliseconds, else timeout;
// OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE, the certificates to trust; and
// OTEL_EXPORTER_OTLP_(TRACES_)CLIENT_CERTIFICATE with ..._CLIENT_KEY, the
// client's own. The TRACES_ form wins; what cannot be used is a warning.
func exportClient(getenv func(string) string, timeout time.Duration, log *slog.Logger) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if testProxy != nil {
		t.Proxy = testProxy
	}
	t.TLSClientConfig = exportTLS(getenv, log)
	for _, k := range []string{"TIMEOUT", "TRACES_TIMEOUT"} {
		v := strings.TrimSpace(getenv(envPrefix + k))
		if v == "" {
			continue
		}
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 || ms > maxExportTimeout {
			log.Warn(envPrefix+k+" ignored: want milliseconds, 1 to "+strconv.Itoa(maxExportTimeout), "value", v)
			continue
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	return authhttp.Client(t, timeout)
}

// maxExportTimeout bounds OTEL_EXPORTER_OTLP_TIMEOUT: an hour, in
// milliseconds; the run's deadline bounds an export anyway.
const maxExportTimeout = 3_600_000

// exportTLS is the TLS configuration the variables ask for; nil when they
// ask for none.
func exportTLS(getenv func(string) string, log *slog.Logger) *tls.Config {
	var cfg tls.Config
	for _, k := range []string{"CERTIFICATE", "TRACES_CERTIFICATE"} {
		name := envPrefix + k
		path := getenv(name)
		if path == "" {
			continue
		}
		b, err := readPEM(path)
		pool := x509.NewCertPool()
		if err == nil && !pool.AppendCertsFromPEM(b) {
			err = errors.New("no PEM certificate in it")
		}
		if err != nil {
			log.Warn(name+" ignored", "err", err)
			continue
		}
		cfg.RootCAs = pool
	}
	for _, k := range []string{"", "TRACES_"} {
		certName, keyName := envPrefix+k+"CLIENT_CERTIFICATE", envPrefix+k+"CLIENT_KEY"
		certPath, keyPath := getenv(certName), getenv(keyName)
		if certPath == "" && keyPath == "" {
			continue
		}
		cert, err := readPEM(certPath)
		key, kerr := readPEM(keyPath)
		var pair tls.Certificate
		if err = errors.Join(err, kerr); err == nil {
			pair, err = tls.X509KeyPair(cert, key)
		}
		if err != nil {
			log.Warn(certName+" and "+keyName+" ignored", "err", err)
			continue
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if cfg.RootCAs == nil && cfg.Certificates == nil {
		return nil
	}
	return &cfg
}

// maxPEM bounds a certificate or key file.
const maxPEM = 1 << 20

// readPEM reads a regular file of at most maxPEM bytes; a FIFO or a device
// is refused without waiting on it.
func readPEM(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("no file named")
	}
	b, err := bounded.ReadRegular(path, maxPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

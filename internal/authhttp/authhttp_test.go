package authhttp

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// TestNoRedirect: an https endpoint that redirects to plain http on the
// same host (another port) never gets the token there, for any method or
// redirect status: the request ends with ErrRedirect and the plain
// listener sees nothing.
func TestNoRedirect(t *testing.T) {
	var plain atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plain.Add(1)
	}))
	defer target.Close()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+r.URL.Path+"?private_token=x", status)
		}))
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req, _ := http.NewRequest(method, tls.URL+"/v2/annotations", strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer xaat-secret")
			resp, err := Client(tls.Client().Transport, 0).Do(req)
			if resp != nil {
				resp.Body.Close()
			}
			if !errors.Is(err, ErrRedirect) {
				t.Errorf("%s answered %d: err %v, want ErrRedirect", method, status, err)
			}
			if err != nil && (!strings.Contains(err.Error(), "\""+tls.URL+"/v2/annotations\": answered ") || !strings.Contains(err.Error(), "redirect to "+target.URL+"/v2/annotations?…") || strings.Contains(err.Error(), "private_token")) {
				t.Errorf("error %q: want the endpoint, and the target without its query", err)
			}
		}
		tls.Close()
	}
	if n := plain.Load(); n != 0 {
		t.Errorf("the plain http listener got %d requests", n)
	}
}

func TestTokenMayGo(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://api.axiom.co/v2/annotations": true,
		"https://192.0.2.1/":                  true,
		"http://127.0.0.1:8080/":              true,
		"http://127.1.2.3/":                   true,
		"http://[::1]:4318/":                  true,
		"http://LOCALHOST/":                   true,
		"http://api.axiom.co/":                false,
		"http://192.0.2.1/":                   false,
		"http://localhost.example.com/":       false,
		"http://[::ffff:192.0.2.2]/":          false,
		"http://0.0.0.0:4318/":                false,
		"http://collector.example/":           false,
		"ftp://127.0.0.1/":                    false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := TokenMayGo(u); got != want {
			t.Errorf("TokenMayGo(%s) = %v, want %v", raw, got, want)
		}
	}
}

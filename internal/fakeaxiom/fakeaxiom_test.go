package fakeaxiom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const token = "xaat-00000000-fake-0000-0000-000000000000"

const body = `{"datasets":["deployments"],"type":"nix-deploy","time":"2026-03-14T15:09:26.535Z","endTime":"2026-03-14T15:09:26.535Z","title":"host gen 1"}`

func do(t *testing.T, c *http.Client, ctx context.Context, method, url, tok, body string) (*http.Response, []byte, error) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestAPI(t *testing.T) {
	s := New(token)
	defer s.Close()
	c := s.Client()
	ctx := context.Background()
	list := s.Endpoint() + "?datasets=deployments&start=2026-03-14T15:00:00Z&end=2026-03-14T16:00:00Z"
	for _, tc := range []struct {
		name, method, url, token, body string
		want                           int
	}{
		{"create", http.MethodPost, s.Endpoint(), token, body, http.StatusCreated},
		{"wrong token", http.MethodPost, s.Endpoint(), "xaat-wrong", body, http.StatusUnauthorized},
		{"no datasets", http.MethodPost, s.Endpoint(), token, `{"datasets":[],"type":"t"}`, http.StatusBadRequest},
		{"bad type", http.MethodPost, s.Endpoint(), token, `{"datasets":["d"],"type":"Nix Deploy"}`, http.StatusBadRequest},
		{"unknown field", http.MethodPost, s.Endpoint(), token, `{"datasets":["d"],"type":"t","colour":"red"}`, http.StatusBadRequest},
		{"end before start", http.MethodPost, s.Endpoint(), token, `{"datasets":["d"],"type":"t","time":"2026-03-14T15:00:00Z","endTime":"2026-03-14T14:00:00Z"}`, http.StatusBadRequest},
		{"title too long", http.MethodPost, s.Endpoint(), token, `{"datasets":["d"],"type":"t","title":"` + strings.Repeat("é", 257) + `"}`, http.StatusBadRequest},
		{"list", http.MethodGet, list, token, "", http.StatusOK},
		{"list with a bad start", http.MethodGet, s.Endpoint() + "?start=yesterday", token, "", http.StatusBadRequest},
		{"elsewhere", http.MethodGet, s.URL + "/v2/datasets", token, "", http.StatusNotFound},
	} {
		resp, _, err := do(t, c, ctx, tc.method, tc.url, tc.token, tc.body)
		if err != nil || resp.StatusCode != tc.want {
			t.Errorf("%s: %v %v, want %d", tc.name, resp, err, tc.want)
		}
	}
	if got := s.Annotations(); len(got) != 1 || !strings.HasPrefix(got[0].ID, "ann_") {
		t.Errorf("holds %+v, want the one created", got)
	}
	_, b, _ := do(t, c, ctx, http.MethodGet, list, token, "")
	var listed []Annotation
	if err := json.Unmarshal(b, &listed); err != nil || len(listed) != 1 {
		t.Errorf("listed %s, %v", b, err)
	}
}

func TestFaults(t *testing.T) {
	t.Run("status with header and body", func(t *testing.T) {
		s := New(token)
		defer s.Close()
		s.Fail(Fault{Status: 429, Header: http.Header{"Retry-After": {"7"}}, Body: []byte(`{"message":"slow down"}`), Method: http.MethodPost})
		resp, b, err := do(t, s.Client(), context.Background(), http.MethodPost, s.Endpoint(), token, body)
		if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || !bytes.Contains(b, []byte("slow down")) {
			t.Errorf("%v %s %v", resp, b, err)
		}
		if len(s.Annotations()) != 0 {
			t.Error("stored")
		}
	})
	t.Run("method", func(t *testing.T) {
		s := New(token)
		defer s.Close()
		s.Fail(Fault{Status: 503, Method: http.MethodPost})
		if resp, _, _ := do(t, s.Client(), context.Background(), http.MethodGet, s.Endpoint(), token, ""); resp.StatusCode != 200 {
			t.Errorf("GET answered %d, the fault is for POST", resp.StatusCode)
		}
		if resp, _, _ := do(t, s.Client(), context.Background(), http.MethodPost, s.Endpoint(), token, body); resp.StatusCode != 503 {
			t.Errorf("POST answered %d, want the fault", resp.StatusCode)
		}
	})
	t.Run("store then status", func(t *testing.T) {
		s := New(token)
		defer s.Close()
		s.Fail(Fault{Status: 502, Store: true})
		if resp, _, _ := do(t, s.Client(), context.Background(), http.MethodPost, s.Endpoint(), token, body); resp.StatusCode != 502 {
			t.Errorf("answered %d", resp.StatusCode)
		}
		if len(s.Annotations()) != 1 {
			t.Error("not stored")
		}
	})
	t.Run("store then drop", func(t *testing.T) {
		s := New(token)
		defer s.Close()
		s.Fail(Fault{StoreThenDrop: true})
		if _, _, err := do(t, s.Client(), context.Background(), http.MethodPost, s.Endpoint(), token, body); err == nil {
			t.Error("an answer came")
		}
		if len(s.Annotations()) != 1 {
			t.Error("not stored")
		}
		if r := s.Requests(); len(r) != 1 || r[0].Status != 0 {
			t.Errorf("requests %+v", r)
		}
	})
	t.Run("hang", func(t *testing.T) {
		s := New(token)
		defer s.Close()
		s.Fail(Fault{Hang: true, Store: true})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, _, err := do(t, s.Client(), ctx, http.MethodPost, s.Endpoint(), token, body); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v, want the deadline", err)
		}
		if len(s.Annotations()) != 1 {
			t.Error("not stored")
		}
	})
	t.Run("until", func(t *testing.T) {
		// A request held until released is stored afterwards even though
		// the client gave up; WaitIdle waits for it.
		s := New(token)
		defer s.Close()
		release := make(chan struct{})
		s.Fail(Fault{Until: release, Delay: time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, _, err := do(t, s.Client(), ctx, http.MethodPost, s.Endpoint(), token, body); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v, want the deadline", err)
		}
		if n := len(s.Annotations()); n != 0 {
			t.Errorf("stored %d before the release", n)
		}
		close(release)
		s.WaitIdle()
		if n := len(s.Annotations()); n != 1 {
			t.Errorf("stored %d after the release, want 1", n)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		s := New(token)
		defer s.Close()
		s.Fail(Fault{SlowBody: true, SlowEvery: time.Millisecond})
		resp, b, err := do(t, s.Client(), context.Background(), http.MethodPost, s.Endpoint(), token, body)
		if err != nil || resp.StatusCode != http.StatusCreated || !bytes.Contains(b, []byte(`"ann_000001"`)) {
			t.Errorf("%v %s %v: want the whole answer, slowly", resp, b, err)
		}
		s.Fail(Fault{SlowBody: true, SlowEvery: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, _, err := do(t, s.Client(), ctx, http.MethodPost, s.Endpoint(), token, body); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v, want the deadline", err)
		}
		if r := s.Requests(); len(r) != 2 || r[1].Status != http.StatusCreated {
			t.Errorf("requests %+v: the status is known before the body ends", r)
		}
		if len(s.Annotations()) != 2 {
			t.Error("not stored")
		}
	})
	t.Run("deny", func(t *testing.T) {
		s := New(token)
		defer s.Close()
		s.Deny("read")
		if resp, _, _ := do(t, s.Client(), context.Background(), http.MethodGet, s.Endpoint(), token, ""); resp.StatusCode != http.StatusForbidden {
			t.Errorf("list answered %d, want 403", resp.StatusCode)
		}
		if resp, _, _ := do(t, s.Client(), context.Background(), http.MethodPost, s.Endpoint(), token, body); resp.StatusCode != http.StatusCreated {
			t.Errorf("create answered %d, want 201", resp.StatusCode)
		}
		s.Deny("create")
		s.Fail(Fault{Status: 502, Store: true})
		if resp, _, _ := do(t, s.Client(), context.Background(), http.MethodPost, s.Endpoint(), token, body); resp.StatusCode != 502 {
			t.Errorf("answered %d", resp.StatusCode)
		}
		if len(s.Annotations()) != 1 {
			t.Error("a request the token may not make was stored")
		}
		s.Deny()
		if resp, _, _ := do(t, s.Client(), context.Background(), http.MethodGet, s.Endpoint(), token, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("list answered %d after Deny()", resp.StatusCode)
		}
	})
	t.Run("tls", func(t *testing.T) {
		s := NewTLS(token)
		defer s.Close()
		if _, _, err := do(t, &http.Client{}, context.Background(), http.MethodPost, s.Endpoint(), token, body); err == nil {
			t.Error("a client that does not trust the certificate got through")
		}
		if resp, _, err := do(t, s.Client(), context.Background(), http.MethodPost, s.Endpoint(), token, body); err != nil || resp.StatusCode != http.StatusCreated {
			t.Errorf("%v %v", resp, err)
		}
	})
}

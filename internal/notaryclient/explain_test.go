package notaryclient

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Explain names the cause of real network failures of the Transport.
func TestExplain(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(time.Second)
		}
	}))
	defer tlsSrv.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	closed := closedURL(t)
	_, port, _ := net.SplitHostPort(tlsSrv.Listener.Addr().String())

	untrusted, err := New(Options{}) // system roots only
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := New(Options{CAFile: caFile(t, tlsSrv)})
	if err != nil {
		t.Fatal(err)
	}
	impatient, err := New(Options{CAFile: caFile(t, tlsSrv), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		rt   http.RoundTripper
		url  string
		want string
	}{
		{"unknown CA", untrusted, tlsSrv.URL + "/", "not signed by a trusted CA"},
		{"wrong host name", trusted, "https://localhost:" + port + "/", "not valid for that host name"},
		{"not TLS", trusted, "https://" + strings.TrimPrefix(plain.URL, "http://") + "/", "does not speak TLS"},
		{"refused", trusted, closed + "/", "connection was refused"},
		{"timeout", impatient, tlsSrv.URL + "/slow", "did not answer in time"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, c.url, nil)
		resp, err := c.rt.RoundTrip(req)
		if err == nil {
			// The timeout may strike while the body is read.
			_, err = resp.Body.Read(make([]byte, 1))
			resp.Body.Close()
		}
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if got := Explain(err); !strings.Contains(got, c.want) {
			t.Errorf("%s: Explain(%v) = %q, want %q", c.name, err, got, c.want)
		}
	}
	if got := Explain(http.ErrBodyNotAllowed); got != "" {
		t.Errorf("an unrelated error explained as %q", got)
	}
}

// A registry's settings name the registry's flags, never the Notary ones.
func TestExplainNamesTheServersFlags(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer tlsSrv.Close()
	registry := Flags{Server: "registry", URL: "--registry-url", CA: "--registry-ca", Timeout: ""}
	rt, err := New(Options{Flags: registry})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, tlsSrv.URL+"/v2/", nil)
	_, err = rt.RoundTrip(req)
	if err == nil {
		t.Fatal("no error from a server with an unknown CA")
	}
	if got := registry.Explain(err); !strings.Contains(got, "check --registry-ca") || strings.Contains(got, "notary") {
		t.Errorf("registry.Explain = %q, want the registry's CA flag", got)
	}
	if got := Explain(err); !strings.Contains(got, "check --notary-ca") {
		t.Errorf("Explain = %q, want the Notary CA flag", got)
	}
	if _, err := New(Options{Flags: registry, CAFile: "/nonexistent/ca.pem"}); err == nil || !strings.Contains(err.Error(), "--registry-ca") {
		t.Errorf("a missing CA file: %v, want an error naming --registry-ca", err)
	}
}

// Registry requests of one repository share a class (and so a token),
// whatever the reference; Notary requests are classed by GUN as before.
func TestRequestClassOfRegistryPaths(t *testing.T) {
	class := func(method, path string) string {
		req, _ := http.NewRequest(method, "https://r.example"+path, nil)
		return requestClass(req)
	}
	same := [][2]string{
		{"/v2/prod/app/manifests/latest", "/v2/prod/app/tags/list"},
		{"/v2/prod/app/manifests/sha256:abc", "/v2/prod/app/blobs/sha256:def"},
		{"/v2/prod/tags/manifests/1", "/v2/prod/tags/tags/list"},
		{"/v2/prod/manifests/manifests/x", "/v2/prod/manifests/tags/list"},
		{"/v2/host/prod/app/_trust/tuf/root.json", "/v2/host/prod/app/_trust/tuf/targets.json"},
	}
	for _, p := range same {
		if a, b := class("GET", p[0]), class("HEAD", p[1]); a != b {
			t.Errorf("%s and %s in different classes: %q, %q", p[0], p[1], a, b)
		}
	}
	different := [][2]string{
		{"/v2/prod/app/manifests/latest", "/v2/prod/web/manifests/latest"},
		{"/v2/prod/tags/manifests/1", "/v2/prod/manifests/1"},
		{"/v2/_catalog", "/v2/prod/app/tags/list"},
	}
	for _, p := range different {
		if a, b := class("GET", p[0]), class("GET", p[1]); a == b {
			t.Errorf("%s and %s in one class %q", p[0], p[1], a)
		}
	}
}

// Cause sorts real failures into TLS, unreachable and timeout.
func TestCauseKinds(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
	}))
	defer tlsSrv.Close()
	untrusted, _ := New(Options{})
	impatient, _ := New(Options{CAFile: caFile(t, tlsSrv), Timeout: 100 * time.Millisecond})
	cases := []struct {
		name string
		rt   http.RoundTripper
		url  string
		want string
	}{
		{"unknown CA", untrusted, tlsSrv.URL + "/", CauseTLS},
		{"refused", untrusted, closedURL(t) + "/", CauseUnreachable},
		{"timeout", impatient, tlsSrv.URL + "/", CauseTimeout},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, c.url, nil)
		resp, err := c.rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: no error", c.name)
		}
		if kind, why := NotaryFlags.Cause(err); kind != c.want || why == "" {
			t.Errorf("%s: Cause = %q, %q; want %q", c.name, kind, why, c.want)
		}
	}
}

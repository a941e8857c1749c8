package notaryclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNotary is a Notary-like server with token auth and its realm: the
// token for a scope is "tok:<scope>:<n>"; the server accepts a token only
// for the scope the request needs.
type fakeNotary struct {
	srv        *httptest.Server
	mu         sync.Mutex
	fetches    []string // scopes of token requests
	realmCalls int      // every request to the realm, refused or not
	challenges int
	bodies     []string
	user, pass string
	ttl        int
	revoked    map[string]bool
}

func newFakeNotary(t *testing.T) *fakeNotary {
	f := &fakeNotary{user: "svc", pass: "pw", ttl: 300, revoked: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/auth/token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.realmCalls++
		f.mu.Unlock()
		u, p, ok := r.BasicAuth()
		if !ok || u != f.user || p != f.pass {
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("service") != "notary-test" {
			http.Error(w, "bad service", http.StatusBadRequest)
			return
		}
		scope := strings.Join(r.URL.Query()["scope"], " ")
		f.mu.Lock()
		f.fetches = append(f.fetches, scope)
		n := len(f.fetches)
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"token": fmt.Sprintf("tok:%s:%d", scope, n), "expires_in": f.ttl})
	})
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		gun, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/_trust/")
		if strings.Contains(gun, "forbidden") {
			http.Error(w, `{"errors":[{"code":"DENIED"}]}`, http.StatusForbidden)
			return
		}
		scope := "repository:" + gun + ":pull"
		if r.Method != http.MethodGet {
			scope = "repository:" + gun + ":push,pull"
		}
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		defer f.mu.Unlock()
		if !strings.HasPrefix(tok, "tok:"+scope+":") || f.revoked[tok] {
			f.challenges++
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/auth/token",service="notary-test",scope="%s"`, f.srv.URL, scope))
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.bodies = append(f.bodies, string(b))
		fmt.Fprintf(w, "ok %s %s", r.Method, gun)
	})
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// caFile writes the test server's certificate as a CA bundle.
func caFile(t *testing.T, srv *httptest.Server) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(p, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func do(t *testing.T, rt http.RoundTripper, method, url, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTokenChallenge(t *testing.T) {
	f := newFakeNotary(t)
	tr, err := New(Options{CAFile: caFile(t, f.srv), Username: f.user, Password: f.pass})
	if err != nil {
		t.Fatal(err)
	}
	base := f.srv.URL + "/v2/reg.example/prod/app/_trust/tuf/"

	status, body := do(t, tr, "GET", base+"root.json", "")
	if status != 200 || body != "ok GET reg.example/prod/app" {
		t.Fatalf("GET: %d %q", status, body)
	}
	// Same GUN and access: the cached token goes out with the first try.
	do(t, tr, "GET", base+"targets.json", "")
	// A write needs another scope; the body is sent again after the challenge.
	status, body = do(t, tr, "POST", base, "multipart-body")
	if status != 200 || body != "ok POST reg.example/prod/app" {
		t.Fatalf("POST: %d %q", status, body)
	}
	do(t, tr, "POST", base, "second-body")
	// Another GUN: another scope.
	do(t, tr, "GET", f.srv.URL+"/v2/reg.example/prod/other/_trust/tuf/root.json", "")

	want := []string{"repository:reg.example/prod/app:pull", "repository:reg.example/prod/app:push,pull",
		"repository:reg.example/prod/other:pull"}
	if strings.Join(f.fetches, "|") != strings.Join(want, "|") {
		t.Errorf("token requests %q, want %q", f.fetches, want)
	}
	if f.challenges != 3 {
		t.Errorf("%d challenges, want 3 (one per scope)", f.challenges)
	}
	if strings.Join(f.bodies, "|") != "||multipart-body|second-body|" {
		t.Errorf("bodies the server read: %q", f.bodies)
	}
}

func TestTokenExpiryAndRevocation(t *testing.T) {
	f := newFakeNotary(t)
	f.ttl = 60
	tr, err := New(Options{CAFile: caFile(t, f.srv), Username: f.user, Password: f.pass})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tr.now = func() time.Time { return now }
	u := f.srv.URL + "/v2/reg.example/prod/app/_trust/tuf/root.json"
	do(t, tr, "GET", u, "")
	do(t, tr, "GET", u, "")
	if len(f.fetches) != 1 {
		t.Fatalf("%d token requests within the lifetime, want 1", len(f.fetches))
	}
	now = now.Add(55 * time.Second) // within 10% of the end: renewed early
	if status, _ := do(t, tr, "GET", u, ""); status != 200 {
		t.Fatalf("status %d after expiry", status)
	}
	if len(f.fetches) != 2 {
		t.Fatalf("%d token requests after expiry, want 2", len(f.fetches))
	}
	// The server stops accepting a token the cache still holds: fetch anew.
	f.mu.Lock()
	f.revoked[fmt.Sprintf("tok:%s:2", f.fetches[1])] = true
	f.mu.Unlock()
	if status, _ := do(t, tr, "GET", u, ""); status != 200 {
		t.Fatalf("status %d after revocation", status)
	}
	if len(f.fetches) != 3 {
		t.Fatalf("%d token requests after revocation, want 3", len(f.fetches))
	}
}

func TestRefusals(t *testing.T) {
	f := newFakeNotary(t)
	ca := caFile(t, f.srv)

	// Wrong credentials: the server's 401 comes back, body intact.
	tr, err := New(Options{CAFile: ca, Username: f.user, Password: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	status, body := do(t, tr, "GET", f.srv.URL+"/v2/reg.example/prod/app/_trust/tuf/root.json", "")
	if status != 401 || !strings.Contains(body, "authentication required") {
		t.Errorf("wrong credentials: %d %q", status, body)
	}
	// No credentials at all: same.
	tr, _ = New(Options{CAFile: ca})
	if status, _ := do(t, tr, "GET", f.srv.URL+"/v2/reg.example/prod/app/_trust/tuf/root.json", ""); status != 401 {
		t.Errorf("anonymous: %d", status)
	}
	// 403 is passed through untouched.
	tr, _ = New(Options{CAFile: ca, Username: f.user, Password: f.pass})
	if status, _ := do(t, tr, "GET", f.srv.URL+"/v2/reg.example/forbidden/app/_trust/tuf/root.json", ""); status != 403 {
		t.Errorf("forbidden: %d", status)
	}
	if len(f.fetches) != 0 {
		t.Errorf("token requests for a 403: %q", f.fetches)
	}
}

// A realm that refuses the credentials is not asked again at every request
// (that would lock the service account out where the realm throttles), but
// after a growing wait; a good token resets the wait.
func TestRefusedCredentialsBackOff(t *testing.T) {
	f := newFakeNotary(t)
	tr, err := New(Options{CAFile: caFile(t, f.srv), Username: f.user, Password: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tr.now = func() time.Time { return now }
	get := func() int {
		status, _ := do(t, tr, "GET", f.srv.URL+"/v2/reg.example/prod/app/_trust/tuf/root.json", "")
		return status
	}
	calls := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.realmCalls }
	for range 5 {
		if s := get(); s != http.StatusUnauthorized {
			t.Fatalf("wrong credentials: %d, want the server's 401", s)
		}
	}
	if n := calls(); n != 1 {
		t.Errorf("%d realm requests for 5 requests within the backoff, want 1", n)
	}
	now = now.Add(RefusalBackoff + time.Second)
	get()
	if n := calls(); n != 2 {
		t.Errorf("%d realm requests after the first backoff, want 2", n)
	}
	now = now.Add(RefusalBackoff + time.Second) // the second wait is twice as long
	get()
	if n := calls(); n != 2 {
		t.Errorf("%d realm requests within the doubled backoff, want 2", n)
	}
	now = now.Add(RefusalBackoff)
	tr.pass = f.pass // the password is corrected (as after a restart with the right one)
	if s := get(); s != http.StatusOK {
		t.Errorf("right credentials after the backoff: %d", s)
	}
	if n := calls(); n != 3 {
		t.Errorf("%d realm requests, want 3", n)
	}
	tr.mu.Lock()
	left := len(tr.refused)
	tr.mu.Unlock()
	if left != 0 {
		t.Errorf("the refusal is still remembered after a token was obtained")
	}
}

func TestTLS(t *testing.T) {
	f := newFakeNotary(t)
	tr, err := New(Options{}) // system CAs only: the test CA is unknown
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/v2/", nil)
	if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown CA: err %v, want a certificate error", err)
	}
	if _, err := New(Options{CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil || !strings.Contains(err.Error(), "--notary-ca") {
		t.Errorf("missing CA file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, []byte("not pem"), 0o600)
	if _, err := New(Options{CAFile: empty}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("CA file without certificates: %v", err)
	}
}

func TestClientCertificate(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "trustdeck"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	ca := caFile(t, srv)

	tr, err := New(Options{CAFile: ca, CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := do(t, tr, "GET", srv.URL+"/v2/", ""); status != 200 || body != "trustdeck" {
		t.Errorf("with client certificate: %d %q", status, body)
	}
	tr, _ = New(Options{CAFile: ca})
	req, _ := http.NewRequest("GET", srv.URL+"/v2/", nil)
	if _, err := tr.RoundTrip(req); err == nil {
		t.Error("without client certificate: accepted")
	}
	if _, err := New(Options{CAFile: ca, CertFile: certFile, KeyFile: certFile}); err == nil {
		t.Error("key file without a key: accepted")
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	tr, err := New(Options{CAFile: caFile(t, srv), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v2/", nil)
	start := time.Now()
	_, err = tr.RoundTrip(req)
	if err == nil {
		t.Fatal("no error from a server that never answers")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		in   []string
		want challenge
		ok   bool
	}{
		{[]string{`Bearer realm="https://auth.example/token",service="notary",scope="repository:a/b:pull,push"`},
			challenge{"https://auth.example/token", "notary", "repository:a/b:pull,push"}, true},
		{[]string{`Basic realm="x"`, `bearer realm=https://r.example/t, service=svc`},
			challenge{"https://r.example/t", "svc", ""}, true},
		{[]string{`Bearer realm="https://r/t",scope="a \"q\" b",error="insufficient_scope"`},
			challenge{"https://r/t", "", `a "q" b`}, true},
		{[]string{`Basic realm="x"`}, challenge{}, false},
		{[]string{`Bearer service="x"`}, challenge{}, false},
		{nil, challenge{}, false},
	}
	for _, tt := range tests {
		got, ok := parseChallenge(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseChallenge(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestOwnCA: trustdeck's own CA (its token realm may be trustdeck itself) is
// trusted in addition to --notary-ca and the system's (TestTLS: a server of
// an unknown CA is refused).
func TestOwnCA(t *testing.T) {
	own := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer own.Close()
	tr, err := New(Options{OwnCAFile: caFile(t, own)})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := do(t, tr, "GET", own.URL+"/", ""); s != http.StatusOK {
		t.Errorf("a server of the own CA: %d", s)
	}
	if _, err := New(Options{OwnCAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Error("missing own CA file: no error")
	}
}

// A CA given inline (a capture's ca_pem) is trusted like a CA file, the
// system's CAs still are, and a PEM without a certificate is refused naming
// the setting.
func TestCAPEM(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	tr, err := New(Options{CAPEM: caPEM})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := do(t, tr, "GET", srv.URL+"/", ""); s != http.StatusOK {
		t.Errorf("a server of the inline CA: %d", s)
	}
	flags := Flags{Server: "notary server being captured", CA: "ca_pem"}
	if _, err := New(Options{CAPEM: []byte("not pem"), Flags: flags}); err == nil || !strings.Contains(err.Error(), "ca_pem") ||
		!strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("inline CA without certificates: %v", err)
	}
}

package app_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// dataFiles reads every file under dir, by path relative to dir.
func dataFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// servedCertificate returns the leaf certificate the server presents.
func servedCertificate(t *testing.T, s *testserver.Server) []byte {
	t.Helper()
	conn, err := tls.Dial("tcp", s.Addr, s.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}

func TestRestartKeepsState(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateUser(t, "alice", "alice-password-1", "prod", "write")
	s.MustCreateUser(t, "bob", "bob-password-12", "staging", "admin")
	s.MustCreateRepo(t, "prod", "app")
	s.MustCreateRepo(t, "staging", "web")

	b := s.NewBrowser(t)
	b.Login("alice", "alice-password-1")
	bob := s.NewBrowser(t)
	bob.Login("bob", "bob-password-12")

	tlsBefore := dataFiles(t, filepath.Join(s.DataDir, "tls"))
	secretsBefore := dataFiles(t, filepath.Join(s.DataDir, "secrets"))
	caBefore, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	certBefore := servedCertificate(t, s)
	for _, f := range []string{"ca.crt", "server.crt"} {
		if _, ok := tlsBefore[f]; !ok {
			t.Fatalf("no %s in the data dir's tls/ (have %v)", f, keys(tlsBefore))
		}
	}

	s.Restart()

	// The same CA and server certificate, on disk and on the wire: clients
	// that trusted the CA keep working.
	caAfter, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(caBefore, caAfter) {
		t.Error("the CA changed across a restart")
	}
	tlsAfter := dataFiles(t, filepath.Join(s.DataDir, "tls"))
	for name, before := range tlsBefore {
		if !bytes.Equal(before, tlsAfter[name]) {
			t.Errorf("tls/%s changed across a restart", name)
		}
	}
	if !bytes.Equal(certBefore, servedCertificate(t, s)) {
		t.Error("the served certificate changed across a restart")
	}
	secretsAfter := dataFiles(t, filepath.Join(s.DataDir, "secrets"))
	for name, before := range secretsBefore {
		if !bytes.Equal(before, secretsAfter[name]) {
			t.Errorf("secrets/%s changed across a restart", name)
		}
	}

	// Users, roles and repositories survive.
	tests := []struct {
		user, pass, path string
		want             int
	}{
		{"alice", "alice-password-1", "/api/v1/repositories/prod/app", http.StatusOK},
		{"alice", "alice-password-1", "/api/v1/repositories/staging/web", http.StatusNotFound},
		{"bob", "bob-password-12", "/api/v1/repositories/staging/web", http.StatusOK},
		{"bob", "bob-password-12", "/api/v1/repositories/prod/app", http.StatusNotFound},
		{"admin", testserver.AdminPassword, "/api/v1/repositories/prod/app", http.StatusOK},
		{"alice", "wrong-password", "/api/v1/repositories/prod/app", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		resp, body := s.API(t, tt.user, tt.pass, "GET", tt.path, nil)
		if resp.StatusCode != tt.want {
			t.Errorf("after restart, %s GET %s: %d, want %d: %s", tt.user, tt.path, resp.StatusCode, tt.want, body)
		}
	}
	// Roles are still the ones granted: alice may not create in prod (write
	// is not admin), bob may in staging.
	resp, _ := s.API(t, "alice", "alice-password-1", "POST", "/api/v1/repositories",
		map[string]string{"namespace": "prod", "name": "x"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("after restart, a writer created a repository: %d", resp.StatusCode)
	}
	resp, body := s.API(t, "bob", "bob-password-12", "POST", "/api/v1/repositories",
		map[string]string{"namespace": "staging", "name": "api"})
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("after restart, a namespace admin could not create a repository: %d %s", resp.StatusCode, body)
	}
	resp, body = s.API(t, "admin", testserver.AdminPassword, "GET", "/api/v1/repositories", nil)
	var l struct {
		Repositories []struct{ Namespace, Name string }
	}
	if err := json.Unmarshal([]byte(body), &l); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	var names []string
	for _, r := range l.Repositories {
		names = append(names, r.Namespace+"/"+r.Name)
	}
	if want := []string{"prod/app", "staging/api", "staging/web"}; !slices.Equal(names, want) {
		t.Errorf("repositories after restart %v, want %v", names, want)
	}

	// The signed-in browser is still signed in (session keys and sessions
	// persist), and its CSRF token still works.
	resp, page := b.Get("/repositories")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "alice") {
		t.Fatalf("browser session after restart: %d (Location %q)", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = b.JSON("PUT", "/api/v1/namespaces/prod/members/alice", map[string]string{"role": "admin"})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"code":"forbidden"`) {
		t.Errorf("session after restart: want the role check's 403 (not a CSRF refusal): %d %s", resp.StatusCode, body)
	}
	resp, body = bob.JSON("POST", "/api/v1/repositories", map[string]string{"namespace": "staging", "name": "from-session"})
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("session after restart: a namespace admin could not create with session and CSRF token: %d %s",
			resp.StatusCode, body)
	}
	resp, body = b.JSON("GET", "/api/v1/repositories/prod/app", nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("session API call after restart: %d %s", resp.StatusCode, body)
	}

	// The first admin is created once: the restart did not add another.
	if n, err := s.App.Store.CountUsers(t.Context()); err != nil || n != 3 {
		t.Errorf("users after restart: %d (%v), want 3", n, err)
	}
	if strings.Contains(s.Logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", s.Logs.String())
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

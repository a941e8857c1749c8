package interop

// trustdeck in front of an external Notary server (--notary-url): Debian's
// notary-server (local trust service, TLS from a test CA, no auth) on a free
// loopback port, once on its memory backend and once on PostgreSQL from
// Debian's packages (a throwaway cluster), written to directly with the
// notary and docker CLIs; trustdeck discovers, reads, manages and deletes
// through it.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/testnotary"
	"github.com/trustdeck/trustdeck/internal/testpg"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

const notaryServerBin = "/usr/bin/notary-server"

// extRegistry is the registry host of the GUNs on the external server.
const extRegistry = "registry.test:5000"

// requireNotaryServer installs Debian's notary package when notary-server is
// missing (as root, with apt-get), or skips the test loudly.
func requireNotaryServer(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(notaryServerBin); err == nil {
		return
	}
	skip := func(why string) {
		msg := "SKIPPING the external Notary server tests: " + why +
			"; install it with: sudo apt-get install notary (or run `make deps-notary` as root)"
		fmt.Fprintf(os.Stderr, "\n!!! %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
	if os.Geteuid() != 0 {
		skip(notaryServerBin + " is not installed and we are not root")
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil {
		skip(notaryServerBin + " is not installed and apt-get is not available")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, apt, "install", "-y", "-q", "--no-install-recommends", "notary")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		cmd = exec.CommandContext(ctx, "sh", "-c", apt+" update -q && "+apt+" install -y -q --no-install-recommends notary")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out2, err := cmd.CombinedOutput(); err != nil {
			skip(fmt.Sprintf("apt-get install notary failed: %v\n%s\n%s", err, out, out2))
		}
	}
	if _, err := os.Stat(notaryServerBin); err != nil {
		skip("the notary package installed no " + notaryServerBin)
	}
}

// notaryServer is a running Debian notary-server.
type notaryServer struct {
	t       *testing.T
	URL     string
	CAFile  string
	dir     string
	addr    string
	cmd     *exec.Cmd
	log     *bytes.Buffer
	stopped chan struct{}
}

// startNotaryServer writes a test CA, a certificate for 127.0.0.1 and the
// server's JSON configuration (storage is its "storage" section; each extra
// map adds or replaces top-level sections, such as "auth"), and starts
// notary-server on a free port.
func startNotaryServer(t *testing.T, storage map[string]any, extra ...map[string]any) *notaryServer {
	t.Helper()
	s := newNotaryServer(t)
	s.run(storage, extra...)
	return s
}

// newNotaryServer prepares a notary-server without starting it: a test CA,
// a certificate for 127.0.0.1 and a free port, so that its URL and CA are
// known to what must start first (run starts it).
func newNotaryServer(t *testing.T) *notaryServer {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "notary test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKeyDER, _ := x509.MarshalECPrivateKey(srvKey)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := &notaryServer{t: t, dir: dir, log: &bytes.Buffer{}}
	s.CAFile = write("ca.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	write("server.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}))
	write("server.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: srvKeyDER}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	ln.Close()
	s.URL = "https://" + s.addr
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			l := s.log.String()
			t.Logf("notary-server log (last 6000 bytes):\n%s", l[max(0, len(l)-6000):])
		}
	})
	return s
}

// run writes the server's configuration (see startNotaryServer) and starts it.
func (s *notaryServer) run(storage map[string]any, extra ...map[string]any) {
	s.t.Helper()
	sections := map[string]any{
		"server": map[string]any{"http_addr": s.addr, "tls_cert_file": filepath.Join(s.dir, "server.crt"),
			"tls_key_file": filepath.Join(s.dir, "server.key")},
		"trust_service": map[string]any{"type": "local", "hostname": "", "port": "", "key_algorithm": "ecdsa"},
		"logging":       map[string]any{"level": "info"},
		"storage":       storage,
	}
	for _, e := range extra {
		for k, v := range e {
			sections[k] = v
		}
	}
	conf, _ := json.MarshalIndent(sections, "", "  ")
	if err := os.WriteFile(filepath.Join(s.dir, "server-config.json"), conf, 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.start()
}

func (s *notaryServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(notaryServerBin, "-config", filepath.Join(s.dir, "server-config.json"))
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.stopped = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.stopped)
	client := s.client()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(s.URL + "/_notary_server/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-s.stopped:
			s.t.Fatalf("notary-server exited:\n%s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("notary-server did not become healthy (last error %v):\n%s", err, s.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop kills the server (idempotent); its memory backend forgets everything,
// the PostgreSQL backend keeps it.
func (s *notaryServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.stopped
	s.cmd = nil
}

func (s *notaryServer) client() *http.Client {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// status is the HTTP status of GET path on the notary server.
func (s *notaryServer) status(path string) int {
	s.t.Helper()
	resp, err := s.client().Get(s.URL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// extMachine is a client machine talking to notary-server directly.
type extMachine struct {
	*machine
	ns *notaryServer
}

func (w *world) newExtMachine(name string, ns *notaryServer) *extMachine {
	w.t.Helper()
	c := &machine{w: w, name: name, dockerConfig: filepath.Join(w.dir, name, ".docker")}
	ca, err := os.ReadFile(ns.CAFile)
	if err != nil {
		w.t.Fatal(err)
	}
	w.writeFile(filepath.Join(name, ".docker", "tls", ns.addr, "ca.crt"), ca)
	return &extMachine{machine: c, ns: ns}
}

// env replaces the trustdeck-facing settings of machine.env.
func (c *extMachine) extEnv() []string {
	return []string{"SSL_CERT_FILE=" + c.ns.CAFile, "DOCKER_CONTENT_TRUST_SERVER=" + c.ns.URL}
}

func (c *extMachine) notary(args ...string) result {
	c.w.t.Helper()
	full := append([]string{"-s", c.ns.URL, "-d", c.trustDir(), "--tlscacert", c.ns.CAFile}, args...)
	return c.run("", c.extEnv(), notaryBin, full...)
}

func (c *extMachine) mustNotary(args ...string) result {
	c.w.t.Helper()
	r := c.notary(args...)
	if !r.ok() {
		c.w.t.Fatalf("command failed:\n%s", r)
	}
	return r
}

func (c *extMachine) docker(args ...string) result {
	c.w.t.Helper()
	// Later entries of an environment win: override the trustdeck defaults.
	return c.run("", c.extEnv(), dockerBin, args...)
}

func (c *extMachine) mustDocker(args ...string) result {
	c.w.t.Helper()
	r := c.docker(args...)
	if !r.ok() {
		c.w.t.Fatalf("command failed:\n%s", r)
	}
	return r
}

// repositoryKeyPEM returns the targets key of gun the notary CLI created.
func (c *extMachine) repositoryKeyPEM(gun string) string {
	c.w.t.Helper()
	files, _ := filepath.Glob(filepath.Join(c.trustDir(), "private", "*.key"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			c.w.t.Fatal(err)
		}
		if strings.Contains(string(b), "role: targets\n") && strings.Contains(string(b), "gun: "+gun+"\n") {
			return string(b)
		}
	}
	c.w.t.Fatalf("no targets key of %s among %q", gun, files)
	return ""
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last state: %s", timeout, what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestExternalNotaryServer runs the external-server workflow once per
// notary-server storage backend.
func TestExternalNotaryServer(t *testing.T) {
	requireNotaryServer(t)
	for _, backend := range []string{"memory", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			storage := map[string]any{"backend": "memory"}
			var db *pgCluster
			if backend == "postgres" {
				testpg.Require(t)
				db = startPostgres(t)
				storage = map[string]any{"backend": "postgres", "db_url": db.URL}
			}
			testExternalNotaryServer(t, startNotaryServer(t, storage), db)
		})
	}
}

// testExternalNotaryServer is the workflow against the running notary-server
// ns; db is its PostgreSQL database (nil on the memory backend).
func testExternalNotaryServer(t *testing.T, ns *notaryServer, db *pgCluster) {
	w := newWorld(t, "--notary-url", ns.URL, "--notary-ca", ns.CAFile,
		"--registry-host", extRegistry, "--notary-poll-interval", "200ms")
	s := w.s
	gun := extRegistry + "/prod/app"
	alice := w.newExtMachine("alice", ns)

	// trustdeck serves no Notary API of its own; its token service stays
	// (TestExternalNotaryServerTokenAuth makes it notary-server's realm).
	if resp, body := s.API(t, "", "", http.MethodGet, "/v2/", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /v2/ on trustdeck: %d %s, want 404 (embedded Notary API off)", resp.StatusCode, body)
	}
	for _, p := range []string{"/auth/token?service=trustdeck", "/auth/token/certificate"} {
		if resp, body := s.API(t, "", "", http.MethodGet, p, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s on trustdeck: %d %s, want 200 (the token service stays on)", p, resp.StatusCode, body)
		}
	}

	// Seed, directly against notary-server: initialise, sign v1 with the
	// repository key; with docker, add signer bob and sign v2 as bob.
	artifact := w.writeFile("artifact-v1", []byte("external artifact v1"))
	alice.mustNotary("init", gun, "-p")
	// As docker does, let the server manage the snapshot key (trustdeck's
	// signer operations sign with the repository key alone).
	alice.mustNotary("key", "rotate", gun, "snapshot", "-r")
	alice.mustNotary("add", gun, "v1", artifact)
	// v3, in the same publish (one change on the changefeed), is revoked
	// through trustdeck below.
	alice.mustNotary("add", gun, "v3", w.writeFile("artifact-v3", []byte("external artifact v3")))
	alice.mustNotary("publish", gun)
	haveDocker := !dockerMissing(t, "the docker CLI parts of the external Notary server test",
		"discovery, the repository page and trustdeck's own operations are still checked")
	if haveDocker {
		bob := w.newSignerKey("bob")
		alice.mustDocker("trust", "key", "load", "--name", "bob", bob.keyFile)
		alice.mustDocker("trust", "signer", "add", "--key", bob.certFile, "bob", gun)
		v2 := w.writeFile("artifact-v2", []byte("external artifact v2"))
		alice.mustNotary("add", gun, "v2", v2, "--roles", "targets/releases", "--roles", "targets/bob")
		alice.mustNotary("publish", gun)
	}
	// A GUN outside the registry host is listed under its full name
	// (TestExternalForeignGUNs checks the rest).
	alice.mustNotary("init", "elsewhere.example/x/y", "-p")

	// Discovery: the repository appears in the catalog, created by the changefeed.
	var repo listedRepo
	waitFor(t, "prod/app to be discovered from the changefeed", 20*time.Second, func() (bool, string) {
		var ok bool
		repo, ok = findRepo(w.listed(admin, "app"), gun)
		return ok && repo.Trust != nil && repo.Trust.State == "signed", fmt.Sprintf("%+v", repo)
	})
	if repo.CreatedBy != "changefeed" {
		t.Errorf("created_by %q, want changefeed", repo.CreatedBy)
	}
	if repo.Trust.LastSigned == "" {
		t.Errorf("the summary has no last-signed time from the changefeed")
	}
	// The GUN outside the registry host was published last: wait for the
	// poller to reach it.
	waitFor(t, "the GUN outside the registry host to be listed", 20*time.Second, func() (bool, string) {
		r, ok := findRepo(w.listed(admin, "elsewhere"), "elsewhere.example/x/y")
		return ok && r.Foreign && r.Name == "elsewhere.example/x/y", fmt.Sprintf("%+v", r)
	})

	// The repository page shows the signed tag.
	b := s.NewBrowser(t)
	b.Login(admin.name, admin.pass)
	resp, page := b.Get("/repositories/prod/app")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "v1") || !strings.Contains(page, sha256Hex([]byte("external artifact v1"))) {
		t.Errorf("repository page: %d, lacks v1 and its digest:\n%.2000s", resp.StatusCode, page)
	}

	// The audit shows the changes as made outside trustdeck.
	events := w.audit("prod/app")
	if _, ok := findEvent(events, "changefeed", "repository.create"); !ok {
		t.Errorf("no repository.create by the changefeed in %v", events)
	}
	if _, ok := findEvent(events, "outside trustdeck", "trust.update", "made outside trustdeck"); !ok {
		t.Errorf("no trust.update made outside trustdeck in %v", events)
	}

	inspectAPI := func(pretty bool) (int, string) {
		q := url.Values{"ref": {gun}}
		if pretty {
			q.Set("pretty", "1")
		}
		resp, body := s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/trust/inspect?"+q.Encode(), nil)
		return resp.StatusCode, body
	}
	if haveDocker {
		// API parity with docker trust inspect against the same server.
		for _, pretty := range []bool{false, true} {
			args := []string{"trust", "inspect", gun}
			if pretty {
				args = []string{"trust", "inspect", "--pretty", gun}
			}
			want := alice.mustDocker(args...).stdout
			status, got := inspectAPI(pretty)
			if status != http.StatusOK || got != want {
				t.Errorf("inspect (pretty %v): trustdeck %d\n%s\ndocker:\n%s", pretty, status, got, want)
			}
		}
	}

	// A signer added from trustdeck, with the repository key imported into the vault.
	keyPEM := alice.repositoryKeyPEM(gun)
	if resp, body := s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/keys",
		map[string]string{"pem": keyPEM, "passphrase": trustPassphrase}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("import the repository key: %d %s", resp.StatusCode, body)
	}
	carol := w.newSignerKey("carol")
	carolCert, _ := os.ReadFile(carol.certFile)
	if resp, body := s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/repositories/prod/app/signers",
		map[string]string{"name": "carol", "public_key": string(carolCert), "repository_passphrase": trustPassphrase}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("add signer carol through trustdeck: %d %s", resp.StatusCode, body)
	}
	if haveDocker {
		out := alice.mustDocker("trust", "inspect", gun).stdout
		var got []struct {
			Signers []struct{ Name string } `json:"Signers"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
			t.Fatalf("docker trust inspect: %v\n%s", err, out)
		}
		names := []string{}
		for _, sg := range got[0].Signers {
			names = append(names, sg.Name)
		}
		if !strings.Contains(strings.Join(names, ","), "carol") {
			t.Errorf("docker does not see signer carol added by trustdeck: %v", names)
		}
		status, api := inspectAPI(false)
		if status != http.StatusOK || api != out {
			t.Errorf("inspect parity after adding carol: trustdeck %d\n%s\ndocker:\n%s", status, api, out)
		}
	} else {
		status, api := inspectAPI(false)
		if status != http.StatusOK || !strings.Contains(api, `"carol"`) {
			t.Errorf("inspect after adding carol: %d %s", status, api)
		}
	}

	// carol revoked from trustdeck (confirmed with her name): docker no
	// longer lists her, and the API's inspection is docker's byte for byte.
	if resp, body := s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/repositories/prod/app/signers/carol/revoke",
		map[string]string{"repository_passphrase": trustPassphrase, "confirm": "carol"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke signer carol through trustdeck: %d %s", resp.StatusCode, body)
	}
	if haveDocker {
		fresh := w.newExtMachine("fresh-after-revoke", ns)
		for _, c := range []*extMachine{alice, fresh} {
			for _, pretty := range []bool{false, true} {
				args := []string{"trust", "inspect", gun}
				if pretty {
					args = []string{"trust", "inspect", "--pretty", gun}
				}
				out := c.mustDocker(args...).stdout
				if strings.Contains(out, "carol") {
					t.Errorf("[%s] docker still sees signer carol after trustdeck revoked her:\n%s", c.name, out)
				}
				if !strings.Contains(out, "bob") {
					t.Errorf("[%s] docker no longer sees signer bob after carol's revocation:\n%s", c.name, out)
				}
				status, api := inspectAPI(pretty)
				if status != http.StatusOK || api != out {
					t.Errorf("[%s] inspect parity (pretty %v) after revoking carol: trustdeck %d\n%s\ndocker:\n%s",
						c.name, pretty, status, api, out)
				}
			}
		}
	} else {
		status, api := inspectAPI(false)
		if status != http.StatusOK || strings.Contains(api, `"carol"`) {
			t.Errorf("inspect after revoking carol: %d %s", status, api)
		}
	}

	// Tag revocation and backup through trustdeck, against notary-server.
	testExternalRevokeTags(t, w, ns, alice, b, gun, haveDocker)
	testExternalBackup(t, w, ns, b, gun, db, haveDocker)

	// trustdeck's own publishes (signers, tag revocations) are audited with
	// its actor, not again as outside.
	time.Sleep(time.Second) // several poll intervals
	events = w.audit("prod/app")
	if _, ok := findEvent(events, "admin", "signer.add", "carol"); !ok {
		t.Errorf("no signer.add by admin in %v", events)
	}
	if _, ok := findEvent(events, "admin", "signer.revoke", "carol"); !ok {
		t.Errorf("no signer.revoke by admin in %v", events)
	}
	outside := 0
	for _, e := range events {
		if e.Actor == "outside trustdeck" {
			outside++
		}
	}
	if want := map[bool]int{true: 5, false: 3}[haveDocker]; outside != want {
		// init, snapshot key rotation, add/publish (+ signer add + v2 publish with docker)
		t.Errorf("%d changes audited as made outside trustdeck, want %d: %v", outside, want, events)
	}

	// Removal: trustdeck deletes the trust data on notary-server.
	if resp, body := s.API(t, admin.name, admin.pass, http.MethodDelete, "/api/v1/repositories/prod/app/trust",
		map[string]any{"confirm": "prod/app"}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete trust data through trustdeck: %d %s", resp.StatusCode, body)
	}
	if st := ns.status("/v2/" + gun + "/_trust/tuf/root.json"); st != http.StatusNotFound {
		t.Errorf("root.json on notary-server after deletion: %d, want 404", st)
	}
	if haveDocker {
		// A machine without a TUF cache (notary's client falls back to its
		// cache when the server has nothing).
		r := w.newExtMachine("fresh", ns).docker("trust", "inspect", gun)
		if r.exit == 0 {
			t.Errorf("docker still sees trust data after deletion:\n%s", r)
		}
	}
	waitFor(t, "the summary to say no trust data", 10*time.Second, func() (bool, string) {
		_, body := s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/repositories?q=app", nil)
		return strings.Contains(body, `"state":"none"`), body
	})
	time.Sleep(time.Second)
	events = w.audit("prod/app")
	if _, ok := findEvent(events, "admin", "trust.delete"); !ok {
		t.Errorf("no trust.delete by admin in %v", events)
	}
	if _, ok := findEvent(events, "outside trustdeck", "trust.delete"); ok {
		t.Errorf("trustdeck's own deletion audited as made outside trustdeck: %v", events)
	}
	if db != nil {
		// The metadata lived in PostgreSQL: the deletion emptied tuf_files
		// of the GUN and left a deletion in the changefeed; the GUN outside
		// the registry host is still there.
		q := func(sql string) string { return db.query(t, sql) }
		if n := q("SELECT count(*) FROM tuf_files WHERE gun = '" + gun + "'"); n != "0" {
			t.Errorf("%s rows of %s left in tuf_files after the deletion", n, gun)
		}
		if n := q("SELECT count(*) FROM changefeed WHERE gun = '" + gun + "' AND category = 'deletion'"); n != "1" {
			t.Errorf("%s deletions of %s in the changefeed table, want 1", n, gun)
		}
		if n := q("SELECT count(*) FROM changefeed WHERE gun = '" + gun + "' AND category = 'update'"); n == "0" || n == "" {
			t.Errorf("no updates of %s in the changefeed table", gun)
		}
		if n := q("SELECT count(*) FROM tuf_files WHERE gun = 'elsewhere.example/x/y'"); n == "0" || n == "" {
			t.Errorf("no metadata of elsewhere.example/x/y in tuf_files")
		}
	}
	// The repository can now be removed from the catalog.
	if resp, body := s.API(t, admin.name, admin.pass, http.MethodDelete, "/api/v1/repositories/prod/app", nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("remove the repository: %d %s", resp.StatusCode, body)
	}

	// Server down: pages render and say so; back up: trustdeck recovers.
	s.MustCreateRepo(t, "prod", "manual")
	ns.stop()
	for _, p := range []string{"/repositories", "/repositories/prod/manual"} {
		resp, page := b.Get(p)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with notary-server down: %d\n%.1500s", p, resp.StatusCode, page)
		}
	}
	_, page = b.Get("/repositories/prod/manual")
	if !strings.Contains(page, "could not be reached") {
		t.Errorf("the repository page does not say the Notary server is unreachable:\n%.3000s", page)
	}
	ns.start()
	_, page = b.Get("/repositories/prod/manual")
	if strings.Contains(page, "could not be reached") {
		t.Errorf("still unreachable after notary-server came back:\n%.3000s", page)
	}
	_ = testserver.AdminPassword
}

// pgCluster is notary-server's database on a throwaway PostgreSQL cluster.
type pgCluster struct {
	URL    string // notary-server's db_url
	c      *testpg.Cluster
	dbName string
}

// query runs sql in notary-server's database and returns its unaligned,
// tuples-only output.
func (c *pgCluster) query(t *testing.T, sql string) string {
	t.Helper()
	return c.c.Psql(t, c.dbName, sql)
}

// startPostgres starts a throwaway PostgreSQL cluster with notary-server's
// database, user and schema. The cluster is stopped and removed when the
// test ends.
func startPostgres(t *testing.T) *pgCluster {
	t.Helper()
	c := testpg.Start(t)
	url, err := c.NotaryServerDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return &pgCluster{URL: url, c: c, dbName: testpg.NotaryServerDB}
}

// ---- tag revocation and backup against notary-server

// extFetch GETs path on notary-server with its TLS client.
func extFetch(t *testing.T, ns *notaryServer, path string) (int, []byte) {
	t.Helper()
	resp, err := ns.client().Get(ns.URL + path)
	if err != nil {
		t.Fatalf("GET %s on notary-server: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s on notary-server: %v", path, err)
	}
	return resp.StatusCode, body
}

// extRole is the current metadata of role of gun as notary-server serves it.
func extRole(t *testing.T, ns *notaryServer, gun, role string) []byte {
	t.Helper()
	status, body := extFetch(t, ns, "/v2/"+gun+"/_trust/tuf/"+role+".json")
	if status != http.StatusOK {
		t.Fatalf("GET %s.json of %s on notary-server: %d %s", role, gun, status, body)
	}
	return body
}

// extMeta is the part of a role's metadata these checks read.
type extMeta struct {
	Signed struct {
		Version int `json:"version"`
		Targets map[string]struct {
			Hashes map[string][]byte `json:"hashes"`
		} `json:"targets"`
		Delegations struct {
			Roles []struct {
				Name string `json:"name"`
			} `json:"roles"`
		} `json:"delegations"`
	} `json:"signed"`
}

func extParse(t *testing.T, what string, body []byte) extMeta {
	t.Helper()
	var m extMeta
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, body)
	}
	return m
}

// extTags lists the tags role of gun holds on notary-server, with their
// sha256 (lowercase hex).
func extTags(t *testing.T, ns *notaryServer, gun, role string) map[string]string {
	t.Helper()
	m := extParse(t, role+".json of "+gun, extRole(t, ns, gun, role))
	out := map[string]string{}
	for name, tg := range m.Signed.Targets {
		out[name] = hex.EncodeToString(tg.Hashes["sha256"])
	}
	return out
}

// extVersions reads the current version of each role of gun from
// notary-server (roles without metadata are absent from the map).
func extVersions(t *testing.T, ns *notaryServer, gun string, roles ...string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, role := range roles {
		status, body := extFetch(t, ns, "/v2/"+gun+"/_trust/tuf/"+role+".json")
		if status == http.StatusNotFound {
			continue
		}
		if status != http.StatusOK {
			t.Fatalf("GET %s.json of %s on notary-server: %d %s", role, gun, status, body)
		}
		out[role] = extParse(t, role+".json of "+gun, body).Signed.Version
	}
	return out
}

// extRevokeExpect checks, from machines without cached trust data talking to
// notary-server directly, that gun lists exactly the tags of want: with
// notary list and, when docker is installed, with docker trust inspect (JSON
// and --pretty), which the inspect API must equal byte for byte; without
// docker the inspect API alone is checked against want.
func extRevokeExpect(t *testing.T, w *world, ns *notaryServer, gun, when string, haveDocker bool, want map[string]revokeTagWant) {
	t.Helper()
	wantTags := slices.Sorted(maps.Keys(want))
	all := []string{"v1", "v2", "v3"}
	expectRows := func(tool, out string) {
		t.Helper()
		for _, tag := range all {
			row := tableRow(out, tag)
			switch tw, ok := want[tag]; {
			case ok && (len(row) < 2 || row[1] != tw.digest):
				t.Errorf("%s: %s should list %s with digest %s:\n%s", when, tool, tag, tw.digest, out)
			case !ok && row != nil:
				t.Errorf("%s: %s still lists %s:\n%s", when, tool, tag, out)
			}
		}
	}
	box := w.newExtMachine("ext-"+revokeTagBoxName(when), ns)
	expectRows("notary list", box.mustNotary("list", gun).stdout)

	inspect := func(pretty bool) string {
		t.Helper()
		q := url.Values{"ref": {gun}}
		if pretty {
			q.Set("pretty", "1")
		}
		resp, body := w.s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/trust/inspect?"+q.Encode(), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET /api/v1/trust/inspect?%s: %d %s", when, q.Encode(), resp.StatusCode, body)
		}
		return body
	}
	apiJSON, apiPretty := inspect(false), inspect(true)
	if got := revokeTagInspected(t, apiJSON, want); !slices.Equal(got, wantTags) {
		t.Errorf("%s: the inspect API lists tags %v, want %v:\n%s", when, got, wantTags, apiJSON)
	}
	if !haveDocker {
		t.Logf("%s: docker trust inspect not run (docker is not installed)", when)
		return
	}
	dockerJSON := box.mustDocker("trust", "inspect", gun).stdout
	if got := revokeTagInspected(t, dockerJSON, want); !slices.Equal(got, wantTags) {
		t.Errorf("%s: docker trust inspect lists tags %v, want %v:\n%s", when, got, wantTags, dockerJSON)
	}
	dockerPretty := box.mustDocker("trust", "inspect", "--pretty", gun).stdout
	t.Logf("%s: docker trust inspect --pretty %s:\n%s", when, gun, dockerPretty)
	expectRows("docker trust inspect --pretty", dockerPretty)
	if apiJSON != dockerJSON {
		t.Errorf("%s: the inspect API differs from docker trust inspect:\n%s", when, lineDiff(apiJSON, dockerJSON))
	}
	if apiPretty != dockerPretty {
		t.Errorf("%s: the pretty inspect API differs from docker trust inspect --pretty:\n%s", when, lineDiff(apiPretty, dockerPretty))
	}
}

// testExternalRevokeTags revokes signed tags of gun through trustdeck, which
// publishes to notary-server: v3 (held by targets alone) with the revoke
// form as admin, the repository key unlocked from the vault; with docker, v2
// (held by targets/releases and targets/bob) through the API as pat, a
// namespace admin, with bob's key file as a one-off key. A wrong passphrase
// first changes nothing on notary-server each time. docker trust inspect and
// notary list, against notary-server directly, then no longer show the
// revoked tag and still show the others; the audit names the trustdeck
// account that revoked each.
func testExternalRevokeTags(t *testing.T, w *world, ns *notaryServer, alice *extMachine, b *testserver.Browser, gun string, haveDocker bool) {
	digest := func(tag string) string { return sha256Hex([]byte("external artifact " + tag)) }
	want := map[string]revokeTagWant{"v1": {digest("v1"), "Repo Admin"}, "v3": {digest("v3"), "Repo Admin"}}
	delegations := []string{}
	if haveDocker {
		want["v2"] = revokeTagWant{digest("v2"), "bob"}
		delegations = []string{"targets/releases", "targets/bob"}
	}
	roles := append([]string{"root", "targets", "snapshot", "timestamp"}, delegations...)
	extRevokeExpect(t, w, ns, gun, "before revoking", haveDocker, want)

	// v3 with the revoke form: it lists targets alone, with the vault's key.
	page := "/repositories/prod/app/tags/revoke"
	resp, body := b.Get(page + "?tag=v3")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s?tag=v3: %d\n%s", page, resp.StatusCode, body)
	}
	form := revokeTagFormRoles(t, body)
	if got := slices.Sorted(maps.Keys(form)); !slices.Equal(got, []string{"targets"}) {
		t.Fatalf("the revoke page of v3 lists roles %v, want targets alone:\n%s", got, body)
	}
	if f := form["targets"]; !f.vaultHolds || !strings.Contains(f.text, digest("v3")) {
		t.Errorf("the revoke page should show v3's digest %s and the vault's repository key:\n%s", digest("v3"), f.text)
	}
	before := extVersions(t, ns, gun, roles...)
	resp, body = w.revokeTagPostForm(t, b, page, "v3", form, map[string]string{"targets": "not-the-passphrase"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `role="alert"`) ||
		!strings.Contains(html.UnescapeString(body), "targets: Wrong passphrase") {
		t.Errorf("revoke v3 with a wrong passphrase: %d, want 400 and an alert naming targets:\n%s", resp.StatusCode, body)
	}
	if got := extVersions(t, ns, gun, roles...); !maps.Equal(got, before) {
		t.Fatalf("a refused revocation changed the trust data on notary-server: versions %v → %v", before, got)
	}
	resp, body = w.revokeTagPostForm(t, b, page, "v3", form, map[string]string{"targets": trustPassphrase})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/repositories/prod/app" {
		t.Fatalf("revoke v3 with the form: %d to %q, want 303 to /repositories/prod/app:\n%s",
			resp.StatusCode, resp.Header.Get("Location"), body)
	}
	after := extVersions(t, ns, gun, roles...)
	for _, role := range roles {
		v := before[role]
		if role == "targets" || role == "snapshot" || role == "timestamp" {
			v++
		}
		if after[role] != v {
			t.Errorf("revoking v3 from targets: %s on notary-server went from version %d to %d, want %d",
				role, before[role], after[role], v)
		}
	}
	if tags := extTags(t, ns, gun, "targets"); tags["v1"] != digest("v1") || tags["v3"] != "" {
		t.Errorf("targets.json on notary-server after revoking v3: tags %v, want v1 (%s) and no v3", tags, digest("v1"))
	}
	delete(want, "v3")
	extRevokeExpect(t, w, ns, gun, "after revoking v3 with the form", haveDocker, want)
	if resp, body := b.Get(page + "?tag=v3"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the revoke page of the revoked v3: %d, want 404:\n%s", resp.StatusCode, body)
	}

	events := w.audit("prod/app")
	expectEvent(t, events, "admin", "tag.revoke", "tag v3", "removed from targets")
	wantRevokes := 1

	if haveDocker {
		// v2 through the API, by a namespace admin, with bob's key file
		// (the one docker trust key load wrote) for both roles holding it.
		pat := account{"pat", "pat-password-123"}
		w.s.MustCreateUser(t, pat.name, pat.pass, "prod", "admin")
		bobID, bobPEM := revokeTagKeyFile(t, alice.machine, "bob")
		api := "/api/v1/repositories/prod/app/tags/revoke"
		keys := func(pass string) map[string]any {
			k := map[string]string{"key": bobPEM, "passphrase": pass}
			return map[string]any{"targets/releases": k, "targets/bob": k}
		}
		before = extVersions(t, ns, gun, roles...)
		resp, body := w.s.API(t, pat.name, pat.pass, http.MethodPost, api, map[string]any{"tag": "v2", "keys": keys("not-the-passphrase")})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"wrong_passphrase"`) {
			t.Errorf("API revoke of v2 with a wrong passphrase: %d %s, want 400 wrong_passphrase", resp.StatusCode, body)
		}
		if got := extVersions(t, ns, gun, roles...); !maps.Equal(got, before) {
			t.Fatalf("a refused API revocation changed the trust data on notary-server: versions %v → %v", before, got)
		}
		resp, body = w.s.API(t, pat.name, pat.pass, http.MethodPost, api, map[string]any{"tag": "v2", "keys": keys(trustPassphrase)})
		var reply struct {
			Tag         string   `json:"tag"`
			RemovedFrom []string `json:"removed_from"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &reply) != nil || reply.Tag != "v2" ||
			!slices.Equal(slices.Sorted(slices.Values(reply.RemovedFrom)), []string{"targets/bob", "targets/releases"}) {
			t.Fatalf("API revoke of v2 from targets/releases and targets/bob with bob's key %s: %d %s", bobID, resp.StatusCode, body)
		}
		after = extVersions(t, ns, gun, roles...)
		for _, role := range roles {
			v := before[role]
			if role == "targets/releases" || role == "targets/bob" || role == "snapshot" || role == "timestamp" {
				v++
			}
			if after[role] != v {
				t.Errorf("revoking v2 from the delegations: %s on notary-server went from version %d to %d, want %d",
					role, before[role], after[role], v)
			}
		}
		for _, role := range delegations {
			if tags := extTags(t, ns, gun, role); len(tags) != 0 {
				t.Errorf("%s.json on notary-server still holds %v after revoking v2", role, tags)
			}
		}
		delete(want, "v2")
		extRevokeExpect(t, w, ns, gun, "after revoking v2 through the API", haveDocker, want)
		// alice's machine, whose cache knew v2, sees the revocation too.
		if out := alice.mustDocker("trust", "inspect", gun).stdout; !slices.Equal(revokeTagInspected(t, out, want), []string{"v1"}) {
			t.Errorf("docker trust inspect on alice's machine after revoking v2 should list v1 alone:\n%s", out)
		}
		events = w.audit("prod/app")
		expectEvent(t, events, "pat", "tag.revoke", "tag v2", "targets/releases", "targets/bob")
		wantRevokes++
	}
	n := 0
	for _, e := range events {
		if e.Action == "tag.revoke" {
			n++
			if e.Actor != "admin" && e.Actor != "pat" {
				t.Errorf("tag.revoke audited with actor %q, want the trustdeck account: %s", e.Actor, e)
			}
		}
	}
	if n != wantRevokes {
		t.Errorf("%d tag.revoke events, want %d (refusals are no revocations):\n%s", n, wantRevokes, eventList(events))
	}
}

// testExternalBackup downloads the backup of prod/app from trustdeck (the
// API as admin, and the repository page's link in the admin's browser) and
// checks it is what notary-server serves: the roles its targets.json
// delegates to, each file byte for byte the current metadata served, and
// also served under the manifest's sha256 (on PostgreSQL, the sha256 of the
// newest row in tuf_files); the archive verifies against its own root, and
// tag revocations made through trustdeck are in it.
func testExternalBackup(t *testing.T, w *world, ns *notaryServer, b *testserver.Browser, gun string, db *pgCluster, haveDocker bool) {
	arch := rmBackup(t, w, admin, "prod/app")
	var delegations []string
	for _, r := range extParse(t, "targets.json of "+gun, extRole(t, ns, gun, "targets")).Signed.Delegations.Roles {
		delegations = append(delegations, r.Name)
	}
	if haveDocker && (!slices.Contains(delegations, "targets/releases") || !slices.Contains(delegations, "targets/bob")) {
		t.Errorf("targets.json on notary-server delegates to %v, want targets/releases and targets/bob", delegations)
	}
	if slices.Contains(delegations, "targets/carol") {
		t.Errorf("targets.json on notary-server still delegates to the revoked carol: %v", delegations)
	}
	rmCheckBackupNames(t, arch, delegations...)
	rmCheckManifest(t, arch, gun, admin.name)
	rmVerifyTUF(t, gun, arch)
	if len(arch.manifest.Files) != 4+len(delegations) {
		t.Errorf("the manifest lists %d files, want %d: %+v", len(arch.manifest.Files), 4+len(delegations), arch.manifest.Files)
	}
	for _, f := range arch.manifest.Files {
		content := arch.files[f.File]
		if served := extRole(t, ns, gun, f.Role); !bytes.Equal(served, content) {
			t.Errorf("%s of the backup differs from what notary-server serves:\nbackup: %s\nserved: %s", f.File, content, served)
		}
		status, byHash := extFetch(t, ns, "/v2/"+gun+"/_trust/tuf/"+f.Role+"."+f.SHA256+".json")
		if status != http.StatusOK || !bytes.Equal(byHash, content) {
			t.Errorf("notary-server does not serve %s by the manifest's sha256 %s: %d", f.Role, f.SHA256, status)
		}
		if db != nil {
			row := db.query(t, "SELECT version || ' ' || sha256 FROM tuf_files WHERE gun = '"+gun+"' AND role = '"+f.Role+"' ORDER BY version DESC LIMIT 1")
			if want := strconv.Itoa(f.Version) + " " + f.SHA256; row != want {
				t.Errorf("the newest %s in tuf_files is %q, the backup's manifest says %q", f.Role, row, want)
			}
		}
	}
	if tags := extParse(t, "targets.json of the backup", arch.files["targets.json"]).Signed.Targets; len(tags) != 1 || tags["v1"].Hashes == nil {
		t.Errorf("targets.json of the backup holds %v, want v1 alone (v3 was revoked)", slices.Sorted(maps.Keys(tags)))
	}

	// The browser's download (the repository page's link): the same files.
	resp, body := b.Get("/repositories/prod/app/trust/backup")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/gzip" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="`) {
		t.Fatalf("the backup download in the browser: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	_, files := testnotary.Untar(t, []byte(body))
	if got, want := slices.Sorted(maps.Keys(files)), slices.Sorted(maps.Keys(arch.files)); !slices.Equal(got, want) {
		t.Errorf("the browser's backup holds %v, the API's %v", got, want)
	}
	for _, f := range arch.manifest.Files {
		if !bytes.Equal(files[f.File], arch.files[f.File]) {
			t.Errorf("%s differs between the browser's and the API's backup", f.File)
		}
	}
}

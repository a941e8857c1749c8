// Package interop holds trustdeck's acceptance tests against real clients:
// the docker CLI (docker login, docker trust) and the notary CLI, driven
// against the real server started in-process by internal/testserver.
//
// This file holds the helpers: building the notary CLI, client machines
// (a DOCKER_CONFIG whose trust/ directory the notary CLI shares), signer key
// material, and direct HTTP access to the token service, the Notary API,
// the TUF store and the audit API.
//
// The server log is printed for failed tests, and for every test with
// TRUSTDECK_INTEROP_LOG=1 (and -v).
package interop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// Every passphrase the CLIs ask for (root, repository, delegation keys).
const trustPassphrase = "interop-test-passphrase-9f3c"

// cmdTimeout bounds every CLI command.
const cmdTimeout = 2 * time.Minute

var (
	// binDir holds the notary CLI built by TestMain and a link to docker:
	// it is the whole PATH of the commands run, so that nothing else on
	// the machine (credential helpers, a notary from the distribution) is
	// picked up.
	binDir    string
	notaryBin string
	// dockerBin is "" when docker is not installed.
	dockerBin string
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "trustdeck-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	// notary's server handlers, running in this process, log each 404 at
	// info level through logrus; keep the test (and benchmark) output clean.
	logrus.SetLevel(logrus.WarnLevel)
	if err := buildNotary(dir); err != nil {
		fmt.Fprintln(os.Stderr, "interop: cannot build the notary CLI:", err)
		return 1
	}
	if p, err := exec.LookPath("docker"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if err := os.Symlink(p, filepath.Join(dir, "docker")); err != nil {
			fmt.Fprintln(os.Stderr, "interop:", err)
			return 1
		}
		dockerBin = filepath.Join(dir, "docker")
	}
	return m.Run()
}

// buildNotary builds the notary CLI declared as a tool in go.mod.
func buildNotary(dir string) error {
	notaryBin = filepath.Join(dir, "notary")
	return buildTool(notaryBin, "github.com/theupdateframework/notary/cmd/notary")
}

// buildTool builds a Go tool dependency of go.mod (what `go tool` runs)
// into out.
func buildTool(out, pkg string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	gomod, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return errors.New("not inside the trustdeck module")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, pkg)
	cmd.Dir = filepath.Dir(mod)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// requireDocker skips the test, loudly, when docker is not installed. It is
// the only skip in this package: the notary CLI is built from go.mod and
// always runs.
func requireDocker(t *testing.T) {
	t.Helper()
	if dockerMissing(t, "the docker CLI part of the seed workflow",
		"the notary CLI and HTTP acceptance tests still run") {
		t.SkipNow()
	}
}

// dockerMissing reports whether docker is not installed and, if so, says
// loudly on stderr (and in the test log) that what is skipped, and what
// still runs.
func dockerMissing(t testing.TB, what, stillRuns string) bool {
	t.Helper()
	if dockerBin != "" {
		return false
	}
	msg := "SKIPPING " + what + ": docker is not installed (not found in PATH); " + stillRuns
	fmt.Fprintf(os.Stderr, "\n!!! %s: %s\n\n", t.Name(), msg)
	t.Log(msg)
	return true
}

// account is a trustdeck login.
type account struct{ name, pass string }

var (
	admin    = account{"admin", testserver.AdminPassword}
	jeff     = account{"jeff", "jeff-password-123"}     // write on prod
	ian      = account{"ian", "ian-password-123"}       // write on prod
	reader   = account{"reader", "reader-password-123"} // read on prod
	outsider = account{"outsider", "outsider-pass-123"} // no role anywhere
	anyone   = account{}                                // no credentials
)

// world is one running trustdeck and the files of one test's clients.
type world struct {
	t    testing.TB
	s    *testserver.Server
	dir  string // HOME of every command
	host string // public host = registry host, 127.0.0.1:port
}

// newWorld starts trustdeck (with extra serve flags) and creates the
// accounts jeff, ian (write on prod), reader (read on prod) and outsider (no
// role).
func newWorld(t testing.TB, flags ...string) *world {
	t.Helper()
	s := testserver.Start(t, flags...)
	w := &world{t: t, s: s, dir: t.TempDir(), host: s.Addr}
	s.MustCreateUser(t, jeff.name, jeff.pass, "prod", "write")
	s.MustCreateUser(t, ian.name, ian.pass, "prod", "write")
	s.MustCreateUser(t, reader.name, reader.pass, "prod", "read")
	s.MustCreateUser(t, outsider.name, outsider.pass, "", "")
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("TRUSTDECK_INTEROP_LOG") != "" {
			t.Logf("trustdeck log:\n%s", s.Logs.String())
		}
	})
	return w
}

// gun is the GUN (and image name) of namespace/name.
func (w *world) gun(namespace, name string) string { return w.host + "/" + namespace + "/" + name }

// writeFile writes a file under the world's directory and returns its path.
func (w *world) writeFile(name string, content []byte) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, content, 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// machine is one computer: a DOCKER_CONFIG (credentials, tls/<host>/ca.crt)
// whose trust/ directory holds the keys and the TUF cache that docker and
// the notary CLI share.
type machine struct {
	w            *world
	name         string
	dockerConfig string
}

// newMachine prepares a machine that trusts trustdeck's CA the way docker
// expects it: $DOCKER_CONFIG/tls/<host:port>/ca.crt (and SSL_CERT_FILE).
func (w *world) newMachine(name string) *machine {
	w.t.Helper()
	c := &machine{w: w, name: name, dockerConfig: filepath.Join(w.dir, name, ".docker")}
	ca, err := os.ReadFile(w.s.CAFile)
	if err != nil {
		w.t.Fatal(err)
	}
	w.writeFile(filepath.Join(name, ".docker", "tls", w.host, "ca.crt"), ca)
	return c
}

func (c *machine) trustDir() string { return filepath.Join(c.dockerConfig, "trust") }

// env is the complete environment of a command: nothing is inherited.
func (c *machine) env(extra ...string) []string {
	return append([]string{
		"PATH=" + binDir,
		"HOME=" + filepath.Join(c.w.dir, c.name),
		"DOCKER_CONFIG=" + c.dockerConfig,
		// No daemon: docker login then authenticates client-side, and no
		// daemon on the test machine is ever touched.
		"DOCKER_HOST=unix:///nonexistent/trustdeck-interop/docker.sock",
		"DOCKER_CLI_HINTS=false",
		"SSL_CERT_FILE=" + c.w.s.CAFile,
		"DOCKER_CONTENT_TRUST_SERVER=https://" + c.w.host,
		"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE=" + trustPassphrase,
		"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=" + trustPassphrase,
		"NOTARY_ROOT_PASSPHRASE=" + trustPassphrase,
		"NOTARY_TARGETS_PASSPHRASE=" + trustPassphrase,
		"NOTARY_SNAPSHOT_PASSPHRASE=" + trustPassphrase,
		"NOTARY_DELEGATION_PASSPHRASE=" + trustPassphrase,
	}, extra...)
}

// result is what a command did.
type result struct {
	cmd            string
	stdout, stderr string
	exit           int // -1: did not run or was killed
	err            error
}

func (r result) ok() bool { return r.err == nil && r.exit == 0 }

func (r result) String() string {
	return fmt.Sprintf("$ %s\nexit %d (err %v)\n--- stdout\n%s--- stderr\n%s---", r.cmd, r.exit, r.err, r.stdout, r.stderr)
}

// run runs one command with a timeout, the client's clean environment and
// the given stdin.
func (c *machine) run(stdin string, env []string, bin string, args ...string) result {
	c.w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = c.env(env...)
	cmd.Dir = c.w.dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{cmd: filepath.Base(bin) + " " + strings.Join(args, " "), stdout: stdout.String(),
		stderr: stderr.String(), exit: cmd.ProcessState.ExitCode(), err: err}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		r.err = nil // the exit code says it
	}
	if ctx.Err() != nil {
		r.err = fmt.Errorf("timed out after %s", cmdTimeout)
	}
	c.w.t.Logf("[%s] %s → exit %d in %s", c.name, r.cmd, r.exit, time.Since(start).Round(time.Millisecond))
	return r
}

// docker runs the docker CLI.
func (c *machine) docker(args ...string) result {
	c.w.t.Helper()
	return c.run("", nil, dockerBin, args...)
}

// mustDocker runs the docker CLI and fails the test unless it succeeds.
func (c *machine) mustDocker(args ...string) result {
	c.w.t.Helper()
	r := c.docker(args...)
	if !r.ok() {
		c.w.t.Fatalf("command failed:\n%s", r)
	}
	return r
}

// dockerLogin stores a's credentials for trustdeck in this DOCKER_CONFIG.
func (c *machine) dockerLogin(a account) {
	c.w.t.Helper()
	r := c.run(a.pass+"\n", nil, dockerBin, "login", c.w.host, "--username", a.name, "--password-stdin")
	if !r.ok() || !strings.Contains(r.stdout, "Login Succeeded") {
		c.w.t.Fatalf("docker login as %s failed:\n%s", a.name, r)
	}
}

// notary runs the notary CLI against trustdeck as account a (NOTARY_AUTH),
// with this machine's trust directory.
func (c *machine) notary(a account, args ...string) result {
	c.w.t.Helper()
	var env []string
	if a.name != "" {
		env = append(env, "NOTARY_AUTH="+base64.StdEncoding.EncodeToString([]byte(a.name+":"+a.pass)))
	}
	full := append([]string{"-s", "https://" + c.w.host, "-d", c.trustDir(), "--tlscacert", c.w.s.CAFile}, args...)
	return c.run("", env, notaryBin, full...)
}

// mustNotary runs the notary CLI and fails the test unless it succeeds.
func (c *machine) mustNotary(a account, args ...string) result {
	c.w.t.Helper()
	r := c.notary(a, args...)
	if !r.ok() {
		c.w.t.Fatalf("command failed (as %s):\n%s", a.name, r)
	}
	return r
}

// mustFail fails the test unless r ran and exited non-zero.
func mustFail(t *testing.T, r result, why string) {
	t.Helper()
	if r.err != nil || r.exit == 0 {
		t.Fatalf("%s: the command should have failed:\n%s", why, r)
	}
	t.Logf("%s: refused as expected:\n%s", why, r)
}

// mustBeRefused runs a command the server must refuse for lack of rights:
// it has to fail with docker's and notary's "you are not authorized to
// perform this operation" (a 401), not for a local reason like a missing
// key.
//
// The notary CLI disables keep-alives, so it sends "Connection: close"; Go's
// HTTP server then answers a refused POST without reading its body and closes
// the connection, and the client may see "broken pipe" or "connection reset"
// while still writing the body, instead of the 401. The refusal happened all
// the same; the command is run again (at most twice) to see the 401.
func mustBeRefused(t *testing.T, why string, run func() result) result {
	t.Helper()
	for attempt := 1; ; attempt++ {
		r := run()
		out := r.stdout + r.stderr
		if attempt < 3 && r.exit != 0 && (strings.Contains(out, "broken pipe") || strings.Contains(out, "connection reset")) {
			t.Logf("%s: the connection broke before the refusal arrived (attempt %d); running it again:\n%s", why, attempt, r)
			continue
		}
		mustFail(t, r, why)
		if !strings.Contains(out, "not authorized") {
			t.Errorf("%s: should fail because the server refuses the account:\n%s", why, r)
		}
		return r
	}
}

// signerKey is a user's signing key pair as a UCP client bundle ships it:
// key.pem (EC PRIVATE KEY) and cert.pem (self-signed x509 certificate).
type signerKey struct {
	name, keyFile, certFile string
}

// newSignerKey generates an ECDSA P-256 key and a self-signed certificate.
func (w *world) newSignerKey(name string) signerKey {
	w.t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		w.t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		w.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, OrganizationalUnit: []string{"trustdeck interop"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		w.t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		w.t.Fatal(err)
	}
	return signerKey{
		name:     name,
		keyFile:  w.writeFile(filepath.Join("bundles", name, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})),
		certFile: w.writeFile(filepath.Join("bundles", name, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
	}
}

// sha256Hex is the digest docker trust inspect shows for a target.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ---- HTTP: token service, Notary API, audit API

// tokenReply is the token service's answer, with the JWT payload decoded.
type tokenReply struct {
	status int
	body   string
	token  string
	claims tokenClaims
}

type tokenClaims struct {
	Issuer   string        `json:"iss"`
	Subject  string        `json:"sub"`
	Audience any           `json:"aud"`
	Access   []tokenAccess `json:"access"`
	raw      map[string]json.RawMessage
}

type tokenAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// token asks the token service for scopes with a's credentials (none for
// anyone), as docker and notary clients do.
func (w *world) token(a account, scopes ...string) tokenReply {
	w.t.Helper()
	q := url.Values{"service": {"trustdeck"}}
	for _, s := range scopes {
		q.Add("scope", s)
	}
	req, err := http.NewRequest(http.MethodGet, w.s.URL+"/auth/token?"+q.Encode(), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if a.name != "" {
		req.SetBasicAuth(a.name, a.pass)
	}
	resp, err := w.s.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := tokenReply{status: resp.StatusCode, body: string(body)}
	if resp.StatusCode != http.StatusOK {
		return r
	}
	var reply struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		w.t.Fatalf("token reply %s: %v", body, err)
	}
	if reply.Token == "" || reply.AccessToken != reply.Token || reply.ExpiresIn <= 0 {
		w.t.Fatalf("token reply lacks token, access_token or expires_in: %s", body)
	}
	r.token = reply.Token
	r.claims = decodeJWT(w.t, reply.Token)
	return r
}

// decodeJWT decodes a JWT's payload (the signature is the server's business).
func decodeJWT(t testing.TB, tok string) tokenClaims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatalf("JWT payload %s: %v", payload, err)
	}
	if err := json.Unmarshal(payload, &c.raw); err != nil {
		t.Fatal(err)
	}
	return c
}

// notaryAPI sends a request to the Notary API with a bearer token ("" for
// none) and returns status and body.
func (w *world) notaryAPI(method, path, token string, body io.Reader, contentType string) (int, string) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.s.URL+path, body)
	if err != nil {
		w.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := w.s.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// serverKey returns the public key the server holds for role (timestamp or
// snapshot) of gun, read through the Notary API as admin.
func (w *world) serverKey(gun, role string) string {
	w.t.Helper()
	tok := w.token(admin, "repository:"+gun+":pull,push").token
	status, body := w.notaryAPI(http.MethodGet, "/v2/"+gun+"/_trust/tuf/"+role+".key", tok, nil, "")
	if status != http.StatusOK {
		w.t.Fatalf("GET %s.key of %s: %d %s", role, gun, status, body)
	}
	return body
}

// versions reads the current version of each role of gun straight from the
// TUF store (roles without metadata are absent from the map).
func (w *world) versions(gun string, roles ...string) map[string]int {
	w.t.Helper()
	out := map[string]int{}
	st := w.s.App.Store.TUF()
	for _, role := range roles {
		_, body, err := st.GetCurrent(data.GUN(gun), data.RoleName(role))
		if err != nil {
			continue
		}
		var meta struct {
			Signed struct {
				Version int `json:"version"`
			} `json:"signed"`
		}
		if err := json.Unmarshal(body, &meta); err != nil {
			w.t.Fatalf("%s %s: %v", gun, role, err)
		}
		out[role] = meta.Signed.Version
	}
	return out
}

// auditEvent is one entry of GET /api/v1/audit.
type auditEvent struct {
	ID     int64  `json:"id"`
	Actor  string `json:"actor"`
	Action string `json:"action"`
	GUN    string `json:"gun"`
	Detail string `json:"detail"`
}

func (e auditEvent) String() string {
	return fmt.Sprintf("#%d %s %s %s %q", e.ID, e.Actor, e.Action, e.GUN, e.Detail)
}

// audit lists the audit events of namespace/name, oldest first, as admin.
func (w *world) audit(repo string) []auditEvent {
	w.t.Helper()
	resp, body := w.s.API(w.t, admin.name, admin.pass, http.MethodGet, "/api/v1/audit?repository="+url.QueryEscape(repo), nil)
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("GET audit of %s: %d %s", repo, resp.StatusCode, body)
	}
	var reply struct {
		Events []auditEvent `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &reply); err != nil {
		w.t.Fatalf("audit reply %s: %v", body, err)
	}
	slices.Reverse(reply.Events) // the API lists newest first
	return reply.Events
}

// findEvent returns the first event (oldest first) matching actor, action
// and a detail containing every string in detailHas.
func findEvent(events []auditEvent, actor, action string, detailHas ...string) (auditEvent, bool) {
	for _, e := range events {
		if e.Actor != actor || e.Action != action {
			continue
		}
		ok := true
		for _, s := range detailHas {
			ok = ok && strings.Contains(e.Detail, s)
		}
		if ok {
			return e, true
		}
	}
	return auditEvent{}, false
}

// ---- docker trust inspect output

// inspectJSON is docker trust inspect's JSON for one argument.
type inspectJSON struct {
	Name       string `json:"Name"`
	SignedTags []struct {
		SignedTag string   `json:"SignedTag"`
		Digest    string   `json:"Digest"`
		Signers   []string `json:"Signers"`
	} `json:"SignedTags"`
	Signers []struct {
		Name string `json:"Name"`
	} `json:"Signers"`
}

// tableRow returns the fields of the first line of a pretty table whose
// first field is first, or nil.
func tableRow(out, first string) []string {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == first {
			return f
		}
	}
	return nil
}

package interop

// trustdeck in front of an external notary-server that requires registry
// tokens. The token service (the realm) is a second trustdeck in embedded
// mode, with its own accounts: notary-server trusts a certificate of that
// trustdeck's token signing key (rootcertbundle) and verifies its tokens the
// docker/distribution way (the "kid" header is the libtrust key ID of a key
// in the bundle; issuer, audience, expiry, signature, then the access claim).
// The notary CLI and the external-mode trustdeck both authenticate to that
// realm; a trustdeck with a wrong password says so instead of failing.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tdtokens "github.com/trustdeck/trustdeck/internal/tokens"
)

// The realm's accounts: the service account external trustdecks use (a
// global administrator: * on every GUN and registry:catalog:*), and the
// publisher who signs with the notary CLI (administrator of prod: pull,
// push and *, which `notary key rotate … -r` needs).
var (
	tokenSvc   = account{"trustdeck-svc", "svc-password-123"}
	tokenAlice = account{"alice", "alice-password-123"}
)

func TestExternalNotaryServerTokenAuth(t *testing.T) {
	requireNotaryServer(t)

	// The realm: trustdeck in embedded mode whose registry host is the one
	// of the external server's GUNs, so that its namespace roles apply.
	realm := newWorld(t, "--registry-host", extRegistry)
	if resp, body := realm.s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/users",
		map[string]any{"username": tokenSvc.name, "password": tokenSvc.pass, "admin": true}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create the service account in the realm: %d %s", resp.StatusCode, body)
	}
	realm.s.MustCreateUser(t, tokenAlice.name, tokenAlice.pass, "prod", "admin")
	realmURL := realm.s.URL + "/auth/token"

	// notary-server trusts the realm's token signing key, through a
	// certificate of it made the way an operator would (openssl req -x509
	// -key <data>/secrets/token-signing.pem).
	certFile, kid := tokenSigningCert(t, realm)
	ns := startNotaryServer(t, map[string]any{"backend": "memory"}, map[string]any{
		"auth": map[string]any{"type": "token", "options": map[string]any{
			"realm": realmURL, "service": "trustdeck", "issuer": "trustdeck", "rootcertbundle": certFile,
		}},
	})
	// Clients reach two TLS servers with different CAs: notary-server and the realm.
	bundle := realm.writeFile("notary-and-realm-ca.pem", append(readFile(t, ns.CAFile), readFile(t, realm.s.CAFile)...))
	gun := extRegistry + "/prod/app"

	// Auth is on: notary-server challenges, naming the realm.
	status, hdr, _ := bearerGet(t, ns, "/v2/_trust/changefeed?records=10", "")
	if status != http.StatusUnauthorized || !strings.Contains(hdr, `realm="`+realmURL+`"`) || !strings.Contains(hdr, `service="trustdeck"`) {
		t.Fatalf("notary-server without a token: %d, WWW-Authenticate %q; want 401 sending clients to %s", status, hdr, realmURL)
	}
	// It accepts the realm's tokens, by their kid, and only with the access
	// they grant; a token with the same claims signed by another key is
	// refused.
	tok := realm.token(tokenSvc, "registry:catalog:*")
	if tok.status != http.StatusOK {
		t.Fatalf("realm token for %s: %d %s", tokenSvc.name, tok.status, tok.body)
	}
	if h := jwtHeader(t, tok.token); h["kid"] != kid || h["alg"] != "ES256" {
		t.Errorf("realm token header %v: want alg ES256 and kid %s (the libtrust ID of the token signing key)", h, kid)
	}
	if status, hdr, body := bearerGet(t, ns, "/v2/_trust/changefeed?records=10", tok.token); status != http.StatusOK {
		t.Fatalf("notary-server refuses the realm's catalog token: %d %q %s", status, hdr, body)
	}
	if status, hdr, _ := bearerGet(t, ns, "/v2/_trust/changefeed?records=10", realm.token(outsider, "registry:catalog:*").token); status != http.StatusUnauthorized || !strings.Contains(hdr, "insufficient_scope") {
		t.Errorf("a token granting nothing: %d %q, want 401 insufficient_scope", status, hdr)
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged, _, _, err := tdtokens.NewIssuer(otherKey, "trustdeck", "trustdeck", 0).Issue(tokenSvc.name,
		[]tdtokens.Access{{Type: "registry", Name: "catalog", Actions: []string{"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	if status, hdr, _ := bearerGet(t, ns, "/v2/_trust/changefeed?records=10", forged); status != http.StatusUnauthorized || !strings.Contains(hdr, "invalid_token") {
		t.Errorf("a token signed by an untrusted key: %d %q, want 401 invalid_token", status, hdr)
	}

	// Publish directly against notary-server with the notary CLI, which
	// answers the challenge with NOTARY_AUTH at the realm.
	alice := realm.newExtMachine("alice", ns)
	// notary CLI on machine m (its trust directory and TUF cache) as a.
	cliOn := func(m *extMachine, a account, args ...string) result {
		t.Helper()
		env := []string{"SSL_CERT_FILE=" + bundle, "DOCKER_CONTENT_TRUST_SERVER=" + ns.URL,
			"NOTARY_AUTH=" + base64.StdEncoding.EncodeToString([]byte(a.name+":"+a.pass))}
		full := append([]string{"-s", ns.URL, "-d", m.trustDir(), "--tlscacert", bundle}, args...)
		return m.run("", env, notaryBin, full...)
	}
	cli := func(a account, args ...string) result { t.Helper(); return cliOn(alice, a, args...) }
	mustCLI := func(a account, args ...string) result {
		t.Helper()
		r := cli(a, args...)
		if !r.ok() {
			t.Fatalf("command failed (as %s):\n%s", a.name, r)
		}
		return r
	}
	artifact := realm.writeFile("artifact-v1", []byte("token-auth artifact v1"))
	mustCLI(tokenAlice, "init", gun, "-p")
	mustCLI(tokenAlice, "key", "rotate", gun, "snapshot", "-r") // needs *: the server manages the snapshot key
	mustCLI(tokenAlice, "add", gun, "v1", artifact)
	mustCLI(tokenAlice, "publish", gun)
	// The realm's roles decide: reader may read, not publish; a wrong
	// password gets nothing.
	if r := mustCLI(reader, "list", gun); !strings.Contains(r.stdout, "v1") {
		t.Errorf("notary list as reader lacks v1:\n%s", r)
	}
	r := cli(reader, "key", "rotate", gun, "snapshot", "-r")
	mustFail(t, r, "rotating the snapshot key as reader (pull only)")
	// (On a machine without a TUF cache: notary lists cached targets when
	// the server refuses.)
	r = cliOn(realm.newExtMachine("mallory", ns), account{tokenAlice.name, "wrong-password"}, "list", gun)
	mustFail(t, r, "notary list with a wrong password")
	if !strings.Contains(r.stdout+r.stderr, "Invalid username or password") {
		t.Errorf("notary list with a wrong password should fail with the realm's refusal of the password:\n%s", r)
	}

	// trustdeck in front of notary-server, with the service account.
	b := newWorld(t, "--notary-url", ns.URL, "--notary-ca", bundle,
		"--notary-username", tokenSvc.name, "--notary-password", tokenSvc.pass,
		"--registry-host", extRegistry, "--notary-poll-interval", "200ms")
	var repo listedRepo
	waitFor(t, "prod/app to be discovered from notary-server's changefeed", 20*time.Second, func() (bool, string) {
		var ok bool
		repo, ok = findRepo(b.listed(admin, "app"), gun)
		return ok && repo.Trust != nil && repo.Trust.State == "signed" && repo.Trust.SignedTags == 1,
			fmt.Sprintf("%+v | changefeed: %s", repo, b.s.App.Changefeed.LastError())
	})
	if repo.GUN != gun || repo.CreatedBy != "changefeed" {
		t.Errorf("discovered repository %+v: want GUN %s created by the changefeed", repo, gun)
	}
	if e := b.s.App.Changefeed.LastError(); e != "" {
		t.Errorf("changefeed error with the right credentials: %s", e)
	}
	browser := b.s.NewBrowser(t)
	browser.Login(admin.name, admin.pass)
	resp, page := browser.Get("/repositories/prod/app")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, ">v1<") || !strings.Contains(page, sha256Hex([]byte("token-auth artifact v1"))) {
		t.Errorf("repository page: %d, lacks the signed tag v1 and its digest:\n%.3000s", resp.StatusCode, page)
	}
	if _, ok := findEvent(b.audit("prod/app"), "outside trustdeck", "trust.update", "made outside trustdeck"); !ok {
		t.Errorf("no trust.update made outside trustdeck in %v", b.audit("prod/app"))
	}

	// A signer added through trustdeck: a publish to notary-server with the
	// service account's token, which the notary CLI then sees.
	if resp, body := b.s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/keys",
		map[string]string{"pem": alice.repositoryKeyPEM(gun), "passphrase": trustPassphrase}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("import the repository key into trustdeck: %d %s", resp.StatusCode, body)
	}
	carol := b.newSignerKey("carol")
	if resp, body := b.s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/repositories/prod/app/signers",
		map[string]string{"name": "carol", "public_key": string(readFile(t, carol.certFile)), "repository_passphrase": trustPassphrase}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("add signer carol through trustdeck: %d %s", resp.StatusCode, body)
	}
	if r := mustCLI(reader, "delegation", "list", gun); !strings.Contains(r.stdout, "targets/carol") {
		t.Errorf("the notary CLI does not see signer carol added through trustdeck:\n%s", r)
	}
	if _, page := browser.Get("/repositories/prod/app"); !strings.Contains(page, "carol") {
		t.Errorf("the repository page does not list signer carol:\n%.3000s", page)
	}
	if _, ok := findEvent(b.audit("prod/app"), "admin", "signer.add", "carol"); !ok {
		t.Errorf("no signer.add of carol by admin in %v", b.audit("prod/app"))
	}

	// The same trustdeck with a wrong password: the realm refuses it, so
	// notary-server answers 401. The changefeed says it cannot read, and
	// pages render and say the server refused access instead of failing.
	c := newWorld(t, "--notary-url", ns.URL, "--notary-ca", bundle,
		"--notary-username", tokenSvc.name, "--notary-password", "wrong-password",
		"--registry-host", extRegistry, "--notary-poll-interval", "200ms")
	c.s.MustCreateRepo(t, "prod", "app")
	waitFor(t, "the changefeed to report that it cannot read", 20*time.Second, func() (bool, string) {
		e := c.s.App.Changefeed.LastError()
		return strings.Contains(e, "HTTP 401") && strings.Contains(c.s.Logs.String(), "notary changefeed: cannot read"), e
	})
	if logs := c.s.Logs.String(); !strings.Contains(logs, "cannot obtain a token") || !strings.Contains(logs, "401") {
		t.Errorf("the log does not say that the token service refused the credentials:\n%s", logs)
	}
	cb := c.s.NewBrowser(t)
	cb.Login(admin.name, admin.pass)
	if resp, page := cb.Get("/repositories"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "prod/app") {
		t.Errorf("repository list with refused credentials: %d\n%.3000s", resp.StatusCode, page)
	}
	resp, page = cb.Get("/repositories/prod/app")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("repository page with refused credentials: %d, want 200 with the reason\n%.3000s", resp.StatusCode, page)
	}
	if !strings.Contains(page, "401") || !strings.Contains(strings.ToLower(page), "credentials") {
		t.Errorf("the repository page does not say that the Notary server refused trustdeck's credentials (401):\n%.4000s", page)
	}
	if strings.Contains(page, sha256Hex([]byte("token-auth artifact v1"))) {
		t.Errorf("the repository page shows trust data it could not read:\n%.3000s", page)
	}
	resp2, body := c.s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/keys",
		map[string]string{"pem": alice.repositoryKeyPEM(gun), "passphrase": trustPassphrase})
	if resp2.StatusCode != http.StatusCreated {
		t.Fatalf("import the repository key into the second trustdeck: %d %s", resp2.StatusCode, body)
	}
	dave := c.newSignerKey("dave")
	resp2, body = c.s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/repositories/prod/app/signers",
		map[string]string{"name": "dave", "public_key": string(readFile(t, dave.certFile)), "repository_passphrase": trustPassphrase})
	if resp2.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "401") {
		t.Errorf("add a signer with refused credentials: %d %s; want 503 naming the 401", resp2.StatusCode, body)
	}
	if r := mustCLI(reader, "delegation", "list", gun); strings.Contains(r.stdout, "targets/dave") {
		t.Errorf("signer dave was added although trustdeck's credentials are wrong:\n%s", r)
	}
}

// tokenSigningCert writes a self-signed certificate of w's token signing key
// (as a bundle for notary-server's rootcertbundle) and returns its path and
// the key's libtrust key ID.
func tokenSigningCert(t *testing.T, w *world) (string, string) {
	t.Helper()
	blk, _ := pem.Decode(readFile(t, filepath.Join(w.s.DataDir, "secrets", "token-signing.pem")))
	if blk == nil {
		t.Fatal("the token signing key is not PEM")
	}
	key, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "trustdeck token signing"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := tdtokens.KeyID(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return w.writeFile("token-signing.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), kid
}

// bearerGet sends GET path to notary-server with a bearer token ("" for
// none) and returns the status, the WWW-Authenticate header and the body.
func bearerGet(t *testing.T, ns *notaryServer, path, token string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ns.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ns.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
}

// jwtHeader decodes a JWT's header.
func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	head, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("JWT header %s: %v", b, err)
	}
	return h
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

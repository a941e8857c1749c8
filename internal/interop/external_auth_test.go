package interop

// One trustdeck in front of an external notary-server that requires registry
// tokens, and that notary-server's token service (realm) at the same time:
// one set of accounts and namespace roles for the dashboard and for every
// docker/notary client of the server. notary-server trusts the certificate
// of trustdeck's token signing key that trustdeck writes and serves
// (rootcertbundle), and verifies its tokens the docker/distribution way (the
// "kid" header is the libtrust key ID of a key in the bundle; issuer,
// audience, expiry, signature, then the access claim). The notary CLI and
// trustdeck's own service account (a global administrator of trustdeck)
// both authenticate there; a trustdeck with a wrong password says so
// instead of failing.
//
// Order: notary-server's address and TLS are prepared first (trustdeck needs
// its URL and CA), trustdeck starts and writes its certificate, then
// notary-server starts with that certificate as its rootcertbundle.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	tdtokens "github.com/trustdeck/trustdeck/internal/tokens"
)

// The accounts of the trustdeck that is the realm, besides newWorld's: the
// service account it reads and writes notary-server with (a global
// administrator: * on every GUN and registry:catalog:*), and the publisher
// who signs with the notary CLI (administrator of prod: pull, push and *,
// which `notary key rotate … -r` needs). jeff writes on prod, reader reads.
var (
	tokenSvc   = account{"trustdeck-svc", "svc-password-123"}
	tokenAlice = account{"alice", "alice-password-123"}
)

func TestExternalNotaryServerTokenAuth(t *testing.T) {
	requireNotaryServer(t)

	ns := newNotaryServer(t) // its URL and CA; started below
	w := newWorld(t, "--notary-url", ns.URL, "--notary-ca", ns.CAFile,
		"--notary-username", tokenSvc.name, "--notary-password", tokenSvc.pass,
		"--registry-host", extRegistry, "--notary-poll-interval", "200ms")
	// The service account exists before notary-server runs: until then the
	// changefeed only fails to connect.
	if resp, body := w.s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/users",
		map[string]any{"username": tokenSvc.name, "password": tokenSvc.pass, "admin": true}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create the service account: %d %s", resp.StatusCode, body)
	}
	w.s.MustCreateUser(t, tokenAlice.name, tokenAlice.pass, "prod", "admin")
	realmURL := w.s.URL + "/auth/token"

	// The certificate of the token signing key: written into the data
	// directory and served; the operator gives notary-server the served copy.
	resp, served := w.s.API(t, "", "", http.MethodGet, "/auth/token/certificate", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /auth/token/certificate: %d %s", resp.StatusCode, served)
	}
	if onDisk := readFile(t, w.s.App.TokenCert); !bytes.Equal(onDisk, []byte(served)) {
		t.Errorf("the served certificate is not %s", w.s.App.TokenCert)
	}
	kid, err := tdtokens.CertificateKeyID([]byte(served))
	if err != nil {
		t.Fatal(err)
	}
	certFile := w.writeFile("token-signing.crt", []byte(served))
	ns.run(map[string]any{"backend": "memory"}, map[string]any{
		"auth": map[string]any{"type": "token", "options": map[string]any{
			"realm": realmURL, "service": "trustdeck", "issuer": "trustdeck", "rootcertbundle": certFile,
		}},
	})
	// Clients reach two TLS servers with different CAs: notary-server and trustdeck.
	bundle := w.writeFile("notary-and-trustdeck-ca.pem", append(readFile(t, ns.CAFile), readFile(t, w.s.CAFile)...))
	gun := extRegistry + "/prod/app"

	// Auth is on: notary-server challenges, naming trustdeck.
	status, hdr, _ := bearerGet(t, ns, "/v2/_trust/changefeed?records=10", "")
	if status != http.StatusUnauthorized || !strings.Contains(hdr, `realm="`+realmURL+`"`) || !strings.Contains(hdr, `service="trustdeck"`) {
		t.Fatalf("notary-server without a token: %d, WWW-Authenticate %q; want 401 sending clients to %s", status, hdr, realmURL)
	}
	// It accepts trustdeck's tokens, by their kid, and only with the access
	// they grant; a token with the same claims signed by another key is
	// refused.
	tok := w.token(tokenSvc, "registry:catalog:*")
	if tok.status != http.StatusOK {
		t.Fatalf("token for %s: %d %s", tokenSvc.name, tok.status, tok.body)
	}
	if h := jwtHeader(t, tok.token); h["kid"] != kid || h["alg"] != "ES256" {
		t.Errorf("token header %v: want alg ES256 and kid %s (the libtrust ID of the certified key)", h, kid)
	}
	if status, hdr, body := bearerGet(t, ns, "/v2/_trust/changefeed?records=10", tok.token); status != http.StatusOK {
		t.Fatalf("notary-server refuses trustdeck's catalog token: %d %q %s", status, hdr, body)
	}
	if status, hdr, _ := bearerGet(t, ns, "/v2/_trust/changefeed?records=10", w.token(outsider, "registry:catalog:*").token); status != http.StatusUnauthorized || !strings.Contains(hdr, "insufficient_scope") {
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

	// Namespace roles apply to <registry host>/<namespace>/*: jeff, a writer
	// of prod, gets pull and push there (notary-server's timestamp key
	// needs both) and nothing on dev.
	for _, tc := range []struct {
		gun  string
		want string
	}{{gun, "pull,push"}, {extRegistry + "/prod/other", "pull,push"}, {extRegistry + "/dev/app", ""}} {
		r := w.token(jeff, "repository:"+tc.gun+":pull,push,*")
		got := ""
		if len(r.claims.Access) == 1 {
			got = strings.Join(r.claims.Access[0].Actions, ",")
		}
		if r.status != http.StatusOK || got != tc.want || len(r.claims.Access) > 1 {
			t.Errorf("token of jeff (write on prod) for %s: %d %+v, want actions %q", tc.gun, r.status, r.claims.Access, tc.want)
		}
		status, hdr, body := bearerGet(t, ns, "/v2/"+tc.gun+"/_trust/tuf/timestamp.key", r.token)
		if tc.want != "" && status != http.StatusOK {
			t.Errorf("notary-server, timestamp key of %s with jeff's token: %d %q %s, want 200", tc.gun, status, hdr, body)
		}
		if tc.want == "" && (status != http.StatusUnauthorized || !strings.Contains(hdr, "insufficient_scope")) {
			t.Errorf("notary-server, timestamp key of %s with jeff's token: %d %q, want 401 insufficient_scope", tc.gun, status, hdr)
		}
	}

	// Publish directly against notary-server with the notary CLI, which
	// answers the challenge with NOTARY_AUTH at trustdeck.
	alice := w.newExtMachine("alice", ns)
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
	artifact := w.writeFile("artifact-v1", []byte("token-auth artifact v1"))
	mustCLI(tokenAlice, "init", gun, "-p")
	mustCLI(tokenAlice, "key", "rotate", gun, "snapshot", "-r") // needs *: the server manages the snapshot key
	mustCLI(tokenAlice, "add", gun, "v1", artifact)
	mustCLI(tokenAlice, "publish", gun)
	// trustdeck's roles decide: reader may read, not publish; jeff may
	// publish a new repository of prod but not of dev; a wrong password gets
	// nothing.
	if r := mustCLI(reader, "list", gun); !strings.Contains(r.stdout, "v1") {
		t.Errorf("notary list as reader lacks v1:\n%s", r)
	}
	r := cli(reader, "key", "rotate", gun, "snapshot", "-r")
	mustFail(t, r, "rotating the snapshot key as reader (pull only)")
	jeffs := w.newExtMachine("jeff", ns)
	if r := cliOn(jeffs, jeff, "init", extRegistry+"/prod/jeffs", "-p"); !r.ok() {
		t.Errorf("notary init -p of prod/jeffs as jeff (write on prod):\n%s", r)
	}
	r = cliOn(jeffs, jeff, "init", extRegistry+"/dev/jeffs", "-p")
	mustFail(t, r, "notary init -p of dev/jeffs as jeff (no role on dev)")
	if status, _, body := bearerGet(t, ns, "/v2/"+extRegistry+"/dev/jeffs/_trust/tuf/root.json",
		w.token(admin, "repository:"+extRegistry+"/dev/jeffs:pull").token); status != http.StatusNotFound {
		t.Errorf("dev/jeffs on notary-server after a refused publish: %d %s, want 404", status, body)
	}
	// (On a machine without a TUF cache: notary lists cached targets when
	// the server refuses.)
	r = cliOn(w.newExtMachine("mallory", ns), account{tokenAlice.name, "wrong-password"}, "list", gun)
	mustFail(t, r, "notary list with a wrong password")
	if !strings.Contains(r.stdout+r.stderr, "Invalid username or password") {
		t.Errorf("notary list with a wrong password should fail with trustdeck's refusal of the password:\n%s", r)
	}

	// The same trustdeck's dashboard, with its service account.
	var repo listedRepo
	waitFor(t, "prod/app to be discovered from notary-server's changefeed", 20*time.Second, func() (bool, string) {
		var ok bool
		repo, ok = findRepo(w.listed(admin, "app"), gun)
		return ok && repo.Trust != nil && repo.Trust.State == "signed" && repo.Trust.SignedTags == 1,
			fmt.Sprintf("%+v | changefeed: %s", repo, w.s.App.Changefeed.LastError())
	})
	if repo.GUN != gun || repo.CreatedBy != "changefeed" {
		t.Errorf("discovered repository %+v: want GUN %s created by the changefeed", repo, gun)
	}
	if e := w.s.App.Changefeed.LastError(); e != "" {
		t.Errorf("changefeed error with the right credentials: %s", e)
	}
	browser := w.s.NewBrowser(t)
	browser.Login(admin.name, admin.pass)
	resp, page := browser.Get("/repositories/prod/app")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, ">v1<") || !strings.Contains(page, sha256Hex([]byte("token-auth artifact v1"))) {
		t.Errorf("repository page: %d, lacks the signed tag v1 and its digest:\n%.3000s", resp.StatusCode, page)
	}
	if _, ok := findEvent(w.audit("prod/app"), "outside trustdeck", "trust.update", "made outside trustdeck"); !ok {
		t.Errorf("no trust.update made outside trustdeck in %v", w.audit("prod/app"))
	}

	// A signer added through trustdeck: a publish to notary-server with the
	// service account's token, which the notary CLI then sees.
	if resp, body := w.s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/keys",
		map[string]string{"pem": alice.repositoryKeyPEM(gun), "passphrase": trustPassphrase}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("import the repository key into trustdeck: %d %s", resp.StatusCode, body)
	}
	carol := w.newSignerKey("carol")
	if resp, body := w.s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/repositories/prod/app/signers",
		map[string]string{"name": "carol", "public_key": string(readFile(t, carol.certFile)), "repository_passphrase": trustPassphrase}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("add signer carol through trustdeck: %d %s", resp.StatusCode, body)
	}
	if r := mustCLI(reader, "delegation", "list", gun); !strings.Contains(r.stdout, "targets/carol") {
		t.Errorf("the notary CLI does not see signer carol added through trustdeck:\n%s", r)
	}
	if _, page := browser.Get("/repositories/prod/app"); !strings.Contains(page, "carol") {
		t.Errorf("the repository page does not list signer carol:\n%.3000s", page)
	}
	if _, ok := findEvent(w.audit("prod/app"), "admin", "signer.add", "carol"); !ok {
		t.Errorf("no signer.add of carol by admin in %v", w.audit("prod/app"))
	}

	// Another trustdeck in front of the same notary-server, with a wrong
	// password for the service account: the realm (the first trustdeck)
	// refuses it, so notary-server answers 401. The changefeed says it
	// cannot read, and pages render and say the server refused access
	// instead of failing. (Last: its refusals count against the service
	// account's login throttle in the realm.)
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

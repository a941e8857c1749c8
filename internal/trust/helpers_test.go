package trust

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/server/storage"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/notaryserver"
	"github.com/trustdeck/trustdeck/internal/testnotary"
)

func TestMain(m *testing.M) {
	// notary's client and server log every step through logrus.
	logrus.SetLevel(logrus.ErrorLevel)
	os.Exit(m.Run())
}

// countingTransport counts the requests the reader sends, by path.
type countingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []string // "GET /v2/…"
	// tamper, if set, may rewrite a response body.
	tamper func(path string, body []byte) []byte
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.seen = append(c.seen, req.Method+" "+req.URL.Path)
	tamper := c.tamper
	c.mu.Unlock()
	resp, err := c.base.RoundTrip(req)
	if err != nil || tamper == nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	b := tamper(req.URL.Path, buf.Bytes())
	resp.Body = http.NoBody
	if b != nil {
		resp.Body = readCloser{bytes.NewReader(b)}
		resp.ContentLength = int64(len(b))
	}
	return resp, nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// take returns the requests seen since the last call.
func (c *countingTransport) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.seen
	c.seen = nil
	return s
}

// env is an embedded notary server on httptest with an in-memory store.
type env struct {
	t     testing.TB
	srv   *httptest.Server
	store *storage.MemStorage
	rt    *countingTransport
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, store: storage.NewMemStorage()}
	e.srv = httptest.NewServer(notaryserver.New(notaryserver.Config{
		Store:        e.store,
		Crypto:       testnotary.Locked(signed.NewEd25519()),
		KeyAlgorithm: data.ED25519Key,
	}))
	t.Cleanup(e.srv.Close)
	e.rt = &countingTransport{base: e.srv.Client().Transport}
	return e
}

// remote is the Remote a Reader uses: through the counting transport.
func (e *env) remote() Remote {
	return func(gun string) (store.RemoteStore, error) {
		return store.NewNotaryServerStore(e.srv.URL, data.GUN(gun), e.rt)
	}
}

// deleteTrust deletes gun's trust data as a client does (DELETE through
// the server, which forgets what it cached of the GUN).
func (e *env) deleteTrust(gun string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodDelete, e.srv.URL+"/v2/"+gun+"/_trust/tuf/", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("DELETE trust data of %s: %s", gun, resp.Status)
	}
}

// admin is a repository owner (holding every key, signers' too) publishing
// through notary's client, as docker does.
type admin struct {
	e    *env
	gun  string
	cs   signed.CryptoService
	repo client.Repository
}

func (e *env) admin(gun string) *admin {
	e.t.Helper()
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("pass")))
	remote, err := store.NewNotaryServerStore(e.srv.URL, data.GUN(gun), e.srv.Client().Transport)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := client.NewRepository(data.GUN(gun), e.srv.URL, remote, store.NewMemoryStore(nil),
		trustpinning.TrustPinConfig{}, cs, changelist.NewMemChangelist())
	if err != nil {
		e.t.Fatal(err)
	}
	return &admin{e: e, gun: gun, cs: cs, repo: r}
}

// init initialises the repository as docker does (root key local, snapshot
// and timestamp managed by the server); publish sends it.
func (a *admin) init() *admin {
	a.e.t.Helper()
	rootKey, err := a.cs.Create(data.CanonicalRootRole, data.GUN(a.gun), data.ECDSAKey)
	if err != nil {
		a.e.t.Fatal(err)
	}
	if err := a.repo.Initialize([]string{rootKey.ID()}, data.CanonicalSnapshotRole); err != nil {
		a.e.t.Fatal(err)
	}
	return a
}

// key makes a signer key: a self-signed certificate with common name cn
// (as `docker trust key generate` + a CA would), or a plain ECDSA key.
func (a *admin) key(role, cn string, cert bool) data.PublicKey {
	a.e.t.Helper()
	if !cert {
		pub, err := a.cs.Create(data.RoleName(role), data.GUN(a.gun), data.ECDSAKey)
		if err != nil {
			a.e.t.Fatal(err)
		}
		return pub
	}
	priv, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		a.e.t.Fatal(err)
	}
	if err := a.cs.AddKey(data.RoleName(role), data.GUN(a.gun), priv); err != nil {
		a.e.t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	c, err := cryptoservice.GenerateCertificate(priv, data.GUN(cn), start, start.Add(365*24*time.Hour))
	if err != nil {
		a.e.t.Fatal(err)
	}
	return data.NewECDSAx509PublicKey(utils.CertToPEM(c))
}

// delegate adds role with keys, for every path.
func (a *admin) delegate(role string, keys ...data.PublicKey) *admin {
	a.e.t.Helper()
	if err := a.repo.AddDelegationRoleAndKeys(data.RoleName(role), keys); err != nil {
		a.e.t.Fatal(err)
	}
	if err := a.repo.AddDelegationPaths(data.RoleName(role), []string{""}); err != nil {
		a.e.t.Fatal(err)
	}
	return a
}

// sign adds tag with content to roles.
func (a *admin) sign(tag, content string, roles ...string) *admin {
	a.e.t.Helper()
	meta, err := data.NewFileMeta(strings.NewReader(content), notary.SHA256)
	if err != nil {
		a.e.t.Fatal(err)
	}
	names := make([]data.RoleName, len(roles))
	for i, r := range roles {
		names[i] = data.RoleName(r)
	}
	if err := a.repo.AddTarget(&client.Target{Name: tag, Hashes: meta.Hashes, Length: meta.Length}, names...); err != nil {
		a.e.t.Fatal(err)
	}
	return a
}

func (a *admin) publish() *admin {
	a.e.t.Helper()
	if err := a.repo.Publish(); err != nil {
		a.e.t.Fatalf("publish %s: %v", a.gun, err)
	}
	return a
}

// digest is the hex sha256 of content.
func digest(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// canonical is the canonical ID of a key.
func canonical(t testing.TB, k data.PublicKey) string {
	t.Helper()
	id, err := utils.CanonicalKeyID(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

package migration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/memregistry"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/secrets"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testpg"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/vault"
)

const testPassphrase = "namespace-key-passphrase"

// testEnv is a store, the vault's signing keys with prod's cosign and
// Notation keys, and an in-process registry.
type testEnv struct {
	st  *store.Store
	sk  *vault.SigningKeys
	reg *memregistry.Registry
	cat *catalog.Service
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), testpg.Location(t, filepath.Join(dir, "trustdeck.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sec, err := secrets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{st: st, sk: vault.NewSigningKeys(st, sec, vault.New(st, sec)), reg: memregistry.Start(t)}
	e.cat = catalog.New(st, e.reg.Host)
	ctx := context.Background()
	if _, err := e.sk.GenerateCosign(ctx, "prod", testPassphrase, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sk.GenerateNotation(ctx, "prod", e.reg.Host, testPassphrase, "alice", vault.NotationNames{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// signWith signs digest in repo with both formats of a key pair.
func signWith(t *testing.T, reg *resign.Registry, f []resign.Format, host, repo, digest, tag string) {
	t.Helper()
	img, ok, err := reg.Describe(context.Background(), host, repo, digest)
	if err != nil || !ok {
		t.Fatalf("describe %s@%s: %v %v", repo, digest, ok, err)
	}
	for _, format := range f {
		if out, err := format.Sign(context.Background(), img, resign.Provenance{Tag: tag}); err != nil || !out.Added {
			t.Fatalf("%s sign: %+v %v", format.Name(), out, err)
		}
	}
}

// requests counts the registry's answers that Signatures can cause.
func requests(r *memregistry.Registry) int {
	n := 0
	for _, m := range []string{"GET", "HEAD"} {
		for _, k := range []string{"manifests", "blobs", "other", "tags"} {
			for _, s := range []int{200, 404} {
				n += r.Count(m, k, s)
			}
		}
	}
	return n
}

// TestSignatures: per tag, DCT from the tag state, cosign and Notation
// found and verified against the namespace's keys, a CI pipeline's
// signatures among the others with their identity; each digest read once
// per page however many tags point at it, nothing read again within the
// TTL, everything read again after it.
func TestSignatures(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	clk := &clock{t: time.Now()}
	svc := New(Config{Keys: e.sk, Catalog: e.cat, Transport: e.reg.Transport(), Now: clk.now})

	a := e.reg.PushImage("prod/app", "a1")
	e.reg.PutManifest("prod/app", "a2", a)
	b := e.reg.PushImage("prod/app", "b")
	c := e.reg.PushImage("prod/app", "c")

	rreg, err := resign.NewRegistry(e.reg.Transport())
	if err != nil {
		t.Fatal(err)
	}
	cosignKey, err := e.sk.UnlockCosign(ctx, "prod", testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, chain, err := e.sk.UnlockNotation(ctx, "prod", testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	ours := formats(t, rreg, cosignKey.(*ecdsa.PrivateKey), leafKey.(*ecdsa.PrivateKey), chain)
	signWith(t, rreg, ours, e.reg.Host, "prod/app", a.Digest, "a1")
	ciCosign, ciLeafKey := genKey(t), genKey(t)
	ciCAKey := genKey(t)
	now := time.Now()
	ciCA, err := resign.NewNotationCA(ciCAKey, pkix.Name{Country: []string{"XX"}, Province: []string{"CI"},
		Organization: []string{"ci"}, CommonName: "ci CA"}, now, resign.NotationCAValidity)
	if err != nil {
		t.Fatal(err)
	}
	ciLeaf, err := resign.IssueNotationLeaf(ciCA, ciCAKey, ciLeafKey.Public(), pkix.Name{Country: []string{"XX"},
		Province: []string{"CI"}, Organization: []string{"ci"}, CommonName: "ci pipeline"}, now, resign.NotationLeafValidity)
	if err != nil {
		t.Fatal(err)
	}
	signWith(t, rreg, formats(t, rreg, ciCosign, ciLeafKey, []*x509.Certificate{ciLeaf, ciCA}), e.reg.Host, "prod/app", b.Digest, "")

	page := []trust.TagState{
		{Name: "a1", State: trust.TagSigned, RegistryDigest: a.Digest, SignedDigest: a.Digest},
		{Name: "a2", State: trust.TagUnsigned, RegistryDigest: a.Digest},
		{Name: "b", State: trust.TagDrifted, RegistryDigest: b.Digest, SignedDigest: "sha256:" + strings.Repeat("0", 64)},
		{Name: "c", State: trust.TagUnsigned, RegistryDigest: c.Digest},
		{Name: "gone", State: trust.TagMissing, SignedDigest: "sha256:" + strings.Repeat("1", 64)},
	}
	cosignID, _ := resign.PublicKeyID(cosignKey.Public())
	leafID := resign.KeyID(chain[0].Raw)
	check := func(what string) {
		t.Helper()
		e.reg.ResetCounts()
		got, err := svc.Signatures(ctx, "prod", "app", page)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"a1": "dct=true cosign=true notation=true others=0", "a2": "dct=false cosign=true notation=true others=0",
			"b": "dct=false cosign=false notation=false others=2", "c": "dct=false cosign=false notation=false others=0",
			"gone": "dct=false cosign=false notation=false others=0"}
		for _, s := range got {
			if m := marks(s); m != want[s.Tag] || s.Error != "" {
				t.Errorf("%s: %s %s: %s, want %s", what, s.Tag, s.Error, m, want[s.Tag])
			}
			if s.Tag == "a1" && (s.Cosign.KeyID != cosignID || s.Notation.KeyID != leafID ||
				!strings.Contains(s.Notation.Identity, "CN=prod Notation signer")) {
				t.Errorf("%s: a1's keys %+v %+v, want %s and %s", what, s.Cosign, s.Notation, cosignID, leafID)
			}
			if s.Tag == "b" {
				var ids []string
				for _, o := range s.Others {
					ids = append(ids, o.Format+":"+o.Identity+":"+o.Problem)
				}
				if !strings.Contains(strings.Join(ids, "|"), "notation:CN=ci pipeline,O=ci,ST=CI,C=XX (issuer: CN=ci CA") {
					t.Errorf("%s: b's other signatures %v, want CI's certificate named", what, ids)
				}
			}
		}
		// Each of the three digests described once (HEAD), whatever the
		// number of tags pointing at it.
		if n := e.reg.Count("HEAD", "manifests", 200); n != 3 {
			t.Errorf("%s: %d HEAD requests, want 3 (one per digest)", what, n)
		}
	}
	check("first page")
	e.reg.ResetCounts()
	if _, err := svc.Signatures(ctx, "prod", "app", page); err != nil {
		t.Fatal(err)
	}
	if n := requests(e.reg); n != 0 {
		t.Errorf("a reload within the TTL sent %d requests to the registry, want none", n)
	}
	clk.add(DefaultStatusTTL)
	check("after the TTL")
}

func marks(s TagSignatures) string {
	return "dct=" + yes(s.DCT) + " cosign=" + yes(s.Cosign.Signed) + " notation=" + yes(s.Notation.Signed) +
		" others=" + strconv.Itoa(len(s.Others))
}

func yes(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// formats are both formats signing with a cosign key and a Notation key
// and chain.
func formats(t *testing.T, reg *resign.Registry, cosignKey, leafKey *ecdsa.PrivateKey, chain []*x509.Certificate) []resign.Format {
	t.Helper()
	c, err := resign.NewCosign(reg, cosignKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := resign.NewNotation(reg, resign.NotationOptions{Key: leafKey, Chain: chain})
	if err != nil {
		t.Fatal(err)
	}
	return []resign.Format{c, n}
}

func genKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

package migration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
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
	vlt *vault.Vault
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
	vlt := vault.New(st, sec)
	e := &testEnv{st: st, sk: vault.NewSigningKeys(st, sec, vlt), vlt: vlt, reg: memregistry.Start(t)}
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

// gate holds every request to the registry until opened.
type gate struct {
	rt   http.RoundTripper
	open chan struct{}
}

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case <-g.open:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return g.rt.RoundTrip(req)
}

// TestKnownSignaturesInTheBackground: a page asking for a digest never
// read gets "checking" at once, however slow the registry; the background
// readers read it; later pages take what is known without a request; a
// signature tag that changes (a notification, or a read of the registry
// listing it with another digest) makes it read again; past the TTL the
// old answer is shown while it is read again.
func TestKnownSignaturesInTheBackground(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	clk := &clock{t: time.Now()}
	g := &gate{rt: e.reg.Transport(), open: make(chan struct{})}
	svc := New(Config{Keys: e.sk, Catalog: e.cat, Transport: g, Now: clk.now})
	t.Cleanup(svc.Close)
	a := e.reg.PushImage("prod/app", "a")
	b := e.reg.PushImage("prod/app", "b")
	page := []trust.TagState{{Name: "a", State: trust.TagSigned, RegistryDigest: a.Digest, SignedDigest: a.Digest},
		{Name: "b", State: trust.TagUnsigned, RegistryDigest: b.Digest}}
	rreg, err := resign.NewRegistry(e.reg.Transport())
	if err != nil {
		t.Fatal(err)
	}
	cosignKey, _ := e.sk.UnlockCosign(ctx, "prod", testPassphrase)
	leafKey, chain, _ := e.sk.UnlockNotation(ctx, "prod", testPassphrase)
	ours := formats(t, rreg, cosignKey.(*ecdsa.PrivateKey), leafKey.(*ecdsa.PrivateKey), chain)
	signWith(t, rreg, ours, e.reg.Host, "prod/app", a.Digest, "a")

	known := func() map[string]string {
		t.Helper()
		done := make(chan []TagSignatures, 1)
		go func() {
			got, err := svc.KnownSignatures(ctx, "prod", "app", page)
			if err != nil {
				t.Error(err)
			}
			done <- got
		}()
		select {
		case got := <-done:
			out := map[string]string{}
			for _, s := range got {
				out[s.Tag] = marks(s)
				if s.Checking {
					out[s.Tag] = "checking"
				}
			}
			return out
		case <-time.After(5 * time.Second):
			t.Fatal("KnownSignatures waits for the registry")
			return nil
		}
	}
	waitFor := func(what string, want map[string]string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := known()
			if fmt.Sprint(got) == fmt.Sprint(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v, want %v", what, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	signed := "dct=true cosign=true notation=true others=0"
	unsigned := "dct=false cosign=false notation=false others=0"

	// The registry hangs: the page does not.
	if got := known(); got["a"] != "checking" || got["b"] != "checking" {
		t.Fatalf("first page: %v, want checking", got)
	}
	close(g.open)
	waitFor("read in the background", map[string]string{"a": signed, "b": unsigned})
	e.reg.ResetCounts()
	known()
	if n := requests(e.reg); n != 0 {
		t.Errorf("a page with everything known sent %d requests", n)
	}

	// b is signed by someone else's pipeline: within the TTL nothing says
	// so, until the registry's notification of its .sig tag.
	signWith(t, rreg, ours[:1], e.reg.Host, "prod/app", b.Digest, "b")
	if got := known(); got["b"] != unsigned {
		t.Fatalf("before the notification: %v", got)
	}
	hexB := strings.TrimPrefix(b.Digest, "sha256:")
	svc.TagsChanged("prod", "app", []store.RegistryTag{{Tag: "sha256-" + hexB + ".sig", Digest: "sha256:" + strings.Repeat("2", 64)}}, false)
	waitFor("after the notification", map[string]string{"a": signed, "b": "dct=false cosign=true notation=false others=0"})

	// A read of the registry listing the same .sig tag changes nothing; the
	// referrers tag schema's index with a new digest makes b read again.
	signWith(t, rreg, ours[1:], e.reg.Host, "prod/app", b.Digest, "b")
	svc.TagsChanged("prod", "app", []store.RegistryTag{{Tag: "b", Digest: b.Digest},
		{Tag: "sha256-" + hexB + ".sig", Digest: "sha256:" + strings.Repeat("2", 64)}}, true)
	time.Sleep(100 * time.Millisecond)
	if got := known(); got["b"] != "dct=false cosign=true notation=false others=0" {
		t.Fatalf("an unchanged signature tag made b read again: %v", got)
	}
	svc.TagsChanged("prod", "app", []store.RegistryTag{{Tag: "sha256-" + hexB, Digest: "sha256:" + strings.Repeat("3", 64)}}, true)
	waitFor("after a read listing a new referrers index", map[string]string{"a": signed, "b": "dct=false cosign=true notation=true others=0"})

	// Past the TTL: the old answer at once, read again behind it.
	clk.add(DefaultStatusTTL)
	e.reg.ResetCounts()
	if got := known(); got["a"] != signed {
		t.Fatalf("past the TTL: %v", got)
	}
	for deadline := time.Now().Add(10 * time.Second); e.reg.Count("HEAD", "manifests", 200) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("past the TTL, the digests are not read again")
		}
	}
}

package resign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/trustdeck/trustdeck/internal/notaryclient"
	"github.com/trustdeck/trustdeck/internal/tlsutil"
)

// testRegistry is go-containerregistry's in-process registry over TLS on
// 127.0.0.1 (notation takes "localhost" for plain HTTP).
type testRegistry struct {
	srv    *httptest.Server
	Host   string // 127.0.0.1:<port>
	CAFile string // the server certificate, for SSL_CERT_FILE and the client
	rt     http.RoundTripper
	reg    *Registry
}

func newTestRegistry(t testing.TB, referrersAPI bool) *testRegistry {
	t.Helper()
	return serveRegistry(t, newRegistryHandler(referrersAPI))
}

func newRegistryHandler(referrersAPI bool) http.Handler {
	return registry.New(registry.WithReferrersSupport(referrersAPI), registry.Logger(log.New(io.Discard, "", 0)))
}

// serveRegistry serves h (a registry, or one wrapped to refuse or
// challenge) over TLS, with trustdeck's client for it.
func serveRegistry(t testing.TB, h http.Handler) *testRegistry {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	caFile := filepath.Join(t.TempDir(), "registry-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	// The one outbound client of trustdeck, as the migration uses it.
	rt, err := notaryclient.New(notaryclient.Options{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(rt)
	if err != nil {
		t.Fatal(err)
	}
	return &testRegistry{srv: srv, Host: u.Host, CAFile: caFile, rt: rt, reg: reg}
}

// startDebianRegistry runs Debian's docker-registry (distribution 2.8: no
// referrers API) over TLS on 127.0.0.1 with deletes enabled. Without the
// package the test skips, loudly; TRUSTDECK_REQUIRE_TOOLS=1 fails instead.
func startDebianRegistry(t testing.TB) *testRegistry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		msg := "Debian's docker-registry is not installed (apt-get install docker-registry)"
		if os.Getenv("TRUSTDECK_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED, REAL REGISTRY MISSING: " + msg)
	}
	dir := t.TempDir()
	files, err := tlsutil.Ensure(filepath.Join(dir, "tls"), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	config := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  tls:
    certificate: %s
    key: %s
`, filepath.Join(dir, "data"), addr, files.Cert, files.Key)
	configFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", configFile)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("docker-registry log:\n%s", logs.String())
		}
	})
	rt, err := notaryclient.New(notaryclient.Options{CAFile: files.CACert})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/v2/", nil)
		if resp, err := rt.RoundTrip(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer on %s:\n%s", addr, logs.String())
		}
	}
	reg, err := NewRegistry(rt)
	if err != nil {
		t.Fatal(err)
	}
	return &testRegistry{Host: addr, CAFile: files.CACert, rt: rt, reg: reg}
}

func (r *testRegistry) opts() []remote.Option {
	return []remote.Option{remote.WithTransport(r.rt), remote.WithContext(context.Background())}
}

// pushImage pushes a random image (layers random layers) under repo:tag and
// returns it as an Image.
func (r *testRegistry) pushImage(t testing.TB, repo, tag string) Image {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(r.Host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, r.opts()...); err != nil {
		t.Fatal(err)
	}
	return r.head(t, ref)
}

// pushIndex pushes a random multi-platform index under repo:tag.
func (r *testRegistry) pushIndex(t testing.TB, repo, tag string) Image {
	t.Helper()
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(r.Host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, r.opts()...); err != nil {
		t.Fatal(err)
	}
	return r.head(t, ref)
}

func (r *testRegistry) head(t testing.TB, ref name.Reference) Image {
	t.Helper()
	d, err := remote.Head(ref, r.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	return Image{Registry: r.Host, Repository: ref.Context().RepositoryStr(), Digest: d.Digest.String(),
		MediaType: string(d.MediaType), Size: d.Size}
}

// rawManifest fetches a manifest by tag or digest.
func (r *testRegistry) rawManifest(t testing.TB, ref string) ([]byte, *v1.Manifest) {
	t.Helper()
	nref, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Get(nref, r.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(d.Manifest))
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	return d.Manifest, m
}

// testKeys are a namespace's keys as the vault makes them.
type testKeys struct {
	cosign   *ecdsa.PrivateKey
	caKey    *ecdsa.PrivateKey
	ca       *x509.Certificate
	leafKey  *ecdsa.PrivateKey
	leaf     *x509.Certificate
	notation []*x509.Certificate // leaf, CA
}

func newTestKeys(t testing.TB, ns string) *testKeys {
	t.Helper()
	k := &testKeys{cosign: genKey(t), caKey: genKey(t), leafKey: genKey(t)}
	now := time.Now()
	var err error
	k.ca, err = NewNotationCA(k.caKey, pkix.Name{Country: []string{"XX"}, Province: []string{"Test"},
		Organization: []string{"trustdeck"}, CommonName: ns + " Notation CA"}, now, NotationCAValidity)
	if err != nil {
		t.Fatal(err)
	}
	k.leaf, err = IssueNotationLeaf(k.ca, k.caKey, k.leafKey.Public(), pkix.Name{Country: []string{"XX"},
		Province: []string{"Test"}, Organization: []string{"trustdeck"}, CommonName: ns + " Notation signer"},
		now, NotationLeafValidity)
	if err != nil {
		t.Fatal(err)
	}
	k.notation = []*x509.Certificate{k.leaf, k.ca}
	return k
}

func genKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (k *testKeys) formats(t testing.TB, reg *Registry, extraCosign ...crypto.PublicKey) (*Cosign, *Notation) {
	t.Helper()
	c, err := NewCosign(reg, k.cosign, extraCosign...)
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewNotation(reg, NotationOptions{Key: k.leafKey, Chain: k.notation})
	if err != nil {
		t.Fatal(err)
	}
	return c, n
}

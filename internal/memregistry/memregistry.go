// Package memregistry runs go-containerregistry's in-process registry
// (pkg/registry) over TLS on a loopback port for tests, and pushes images
// and indexes to it with go-containerregistry's real client (pkg/v1/remote).
// It can be stopped and started again on the same address with its content
// (a registry that goes down and comes back), and, as options, answer like
// distribution does where the in-process registry does not: Link headers on
// paginated listings, ETags and 304 answers to If-None-Match on manifests.
package memregistry

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Registry is a running in-process registry.
type Registry struct {
	t      testing.TB
	Host   string // 127.0.0.1:port
	URL    string // https://127.0.0.1:port
	CAFile string // PEM of the server certificate (self-signed)

	handler http.Handler
	cert    tls.Certificate
	links   bool
	etags   bool

	mu  sync.Mutex
	srv *httptest.Server

	transportOnce sync.Once
	transport     *http.Transport

	delay    atomic.Int64 // nanoseconds added to every request
	inFlight atomic.Int64
	maxIn    atomic.Int64
	counts   sync.Map // "METHOD kind status" → *atomic.Int64
}

// Option configures a Registry.
type Option func(*Registry)

// WithLinks has listings (tags, catalog) answer n entries at most with a
// Link header to the next page, as distribution does.
func WithLinks() Option { return func(r *Registry) { r.links = true } }

// WithETags has manifest answers carry ETag "<digest>" and answer 304 to a
// matching If-None-Match, as distribution does.
func WithETags() Option { return func(r *Registry) { r.etags = true } }

// Start runs a registry until the test ends.
func Start(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	r := &Registry{t: t, handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	for _, o := range opts {
		o(r)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	srv.StartTLS()
	r.srv, r.cert = srv, srv.TLS.Certificates[0]
	r.Host = srv.Listener.Addr().String()
	r.URL = "https://" + r.Host
	r.CAFile = filepath.Join(t.TempDir(), "registry-ca.pem")
	if err := os.WriteFile(r.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// Stop stops serving (the content stays for Restart).
func (r *Registry) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.CloseClientConnections()
		r.srv.Close()
		r.srv = nil
	}
}

// Restart serves again on the same address, with the same certificate and
// content.
func (r *Registry) Restart() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return
	}
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", r.Host); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{r.cert}}
	srv.StartTLS()
	r.srv = srv
}

// SetDelay adds d to the time every request takes.
func (r *Registry) SetDelay(d time.Duration) { r.delay.Store(int64(d)) }

// MaxInFlight is the most requests the registry served at once.
func (r *Registry) MaxInFlight() int { return int(r.maxIn.Load()) }

// Count is how many requests of method on kind of path (manifests, tags,
// catalog, blobs) were answered status.
func (r *Registry) Count(method, kind string, status int) int {
	if v, ok := r.counts.Load(method + " " + kind + " " + strconv.Itoa(status)); ok {
		return int(v.(*atomic.Int64).Load())
	}
	return 0
}

// ResetCounts forgets the counts and the most requests in flight.
func (r *Registry) ResetCounts() {
	r.counts.Clear()
	r.maxIn.Store(0)
}

func kindOf(path string) string {
	switch {
	case strings.HasSuffix(path, "/_catalog"):
		return "catalog"
	case strings.Contains(path, "/manifests/"):
		return "manifests"
	case strings.HasSuffix(path, "/tags/list"):
		return "tags"
	case strings.Contains(path, "/blobs/"):
		return "blobs"
	}
	return "other"
}

// statusRecorder keeps the status of a response and lets serve rewrite it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	n := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	for {
		m := r.maxIn.Load()
		if n <= m || r.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	if d := time.Duration(r.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	rec := &statusRecorder{ResponseWriter: w}
	kind := kindOf(req.URL.Path)
	switch {
	case r.links && (kind == "tags" || kind == "catalog") && req.Method == http.MethodGet:
		r.serveLinked(rec, req)
	case r.etags && kind == "manifests" && (req.Method == http.MethodGet || req.Method == http.MethodHead):
		r.serveETag(rec, req)
	default:
		r.handler.ServeHTTP(rec, req)
	}
	v, _ := r.counts.LoadOrStore(req.Method+" "+kind+" "+strconv.Itoa(rec.status), new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// serveLinked answers a listing with at most n entries (sorted), after
// `last`, and a Link header to the next page.
func (r *Registry) serveLinked(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	inner := req.Clone(req.Context())
	iq := url.Values{}
	inner.URL.RawQuery = iq.Encode()
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, inner)
	if rec.Code != http.StatusOK {
		copyResponse(w, rec)
		return
	}
	key := "tags"
	if strings.HasSuffix(req.URL.Path, "/_catalog") {
		key = "repositories"
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		copyResponse(w, rec)
		return
	}
	var all []string
	list, _ := body[key].([]any)
	for _, v := range list {
		if s, ok := v.(string); ok {
			all = append(all, s)
		}
	}
	slices.Sort(all)
	if last := q.Get("last"); last != "" {
		i := 0
		for i < len(all) && all[i] <= last {
			i++
		}
		all = all[i:]
	}
	n, _ := strconv.Atoi(q.Get("n"))
	if n > 0 && len(all) > n {
		all = all[:n]
		next := url.Values{"n": {strconv.Itoa(n)}, "last": {all[len(all)-1]}}
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, req.URL.Path, next.Encode()))
	}
	if all == nil {
		all = []string{}
	}
	body[key] = all
	out, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// serveETag answers a manifest request with an ETag, and 304 when the
// request's If-None-Match holds it.
func (r *Registry) serveETag(w http.ResponseWriter, req *http.Request) {
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	digest := rec.Header().Get("Docker-Content-Digest")
	if rec.Code == http.StatusOK && digest != "" {
		etag := `"` + digest + `"`
		rec.Header().Set("ETag", etag)
		if req.Header.Get("If-None-Match") == etag {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	copyResponse(w, rec)
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// Transport trusts the registry's certificate.
func (r *Registry) Transport() http.RoundTripper {
	r.transportOnce.Do(func() {
		pool := x509.NewCertPool()
		pool.AddCert(r.certificate())
		r.transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 32}
	})
	return r.transport
}

func (r *Registry) certificate() *x509.Certificate {
	c, err := x509.ParseCertificate(r.cert.Certificate[0])
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

func (r *Registry) remoteOptions() []remote.Option {
	return []remote.Option{remote.WithTransport(r.Transport())}
}

func (r *Registry) ref(repo, tag string) name.Reference {
	r.t.Helper()
	ref, err := name.NewTag(r.Host + "/" + repo + ":" + tag)
	if err != nil {
		r.t.Fatal(err)
	}
	return ref
}

// Pushed is an image or index pushed to the registry.
type Pushed struct {
	Digest    string // sha256:<hex>
	Manifest  []byte // the manifest's bytes, exactly as the registry holds them
	MediaType string
}

// Hex is the digest without "sha256:".
func (p Pushed) Hex() string { return strings.TrimPrefix(p.Digest, "sha256:") }

// PushImage pushes a new random single-platform image as repo:tag.
func (r *Registry) PushImage(repo, tag string) Pushed {
	r.t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := remote.Write(r.ref(repo, tag), img, r.remoteOptions()...); err != nil {
		r.t.Fatalf("push %s:%s: %v", repo, tag, err)
	}
	return pushed(r.t, img)
}

// PushIndex pushes a new random OCI index with one image per platform
// (os/arch[/variant]) as repo:tag.
func (r *Registry) PushIndex(repo, tag string, platforms ...string) Pushed {
	r.t.Helper()
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		img, err := random.Image(128, 1)
		if err != nil {
			r.t.Fatal(err)
		}
		parts := strings.Split(p, "/")
		pl := &v1.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) > 2 {
			pl.Variant = parts[2]
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: pl}})
	}
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	if err := remote.WriteIndex(r.ref(repo, tag), idx, r.remoteOptions()...); err != nil {
		r.t.Fatalf("push index %s:%s: %v", repo, tag, err)
	}
	raw, err := idx.RawManifest()
	if err != nil {
		r.t.Fatal(err)
	}
	d, _ := idx.Digest()
	return Pushed{Digest: d.String(), Manifest: raw, MediaType: string(types.OCIImageIndex)}
}

func pushed(t testing.TB, img v1.Image) Pushed {
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	mt, _ := img.MediaType()
	return Pushed{Digest: d.String(), Manifest: raw, MediaType: string(mt)}
}

// PutManifest stores manifest as repo:tag with a direct PUT (fast: seeding
// many tags on one manifest whose blobs were pushed before).
func (r *Registry) PutManifest(repo, tag string, p Pushed) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, r.URL+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(p.Manifest))
	req.Header.Set("Content-Type", p.MediaType)
	resp, err := (&http.Client{Transport: r.Transport()}).Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		r.t.Fatalf("PUT %s:%s: %d", repo, tag, resp.StatusCode)
	}
}

// DeleteTag deletes repo:tag (the in-process registry deletes the tag, not
// the manifest it points at).
func (r *Registry) DeleteTag(repo, tag string) {
	r.t.Helper()
	if err := remote.Delete(r.ref(repo, tag), r.remoteOptions()...); err != nil {
		r.t.Fatalf("delete %s:%s: %v", repo, tag, err)
	}
}

// DeleteManifest deletes the manifest repo@digest.
func (r *Registry) DeleteManifest(repo, digest string) {
	r.t.Helper()
	ref, err := name.NewDigest(r.Host + "/" + repo + "@" + digest)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := remote.Delete(ref, r.remoteOptions()...); err != nil {
		r.t.Fatalf("delete %s@%s: %v", repo, digest, err)
	}
}

package testregistry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// SeedConcurrency bounds the manifest PUTs of Client.Tag.
const SeedConcurrency = 8

// Client pushes to and reads from the registry as one account, through
// go-containerregistry (the library crane is made of): it follows the
// registry's token challenge to the realm with the account's credentials.
type Client struct {
	addr string
	auth authn.Authenticator
	base http.RoundTripper
}

// Client returns a client authenticating as username (anonymous when "").
func (r *Registry) Client(username, password string) *Client {
	return NewClient(r.Addr, r.TLSConfig(), username, password)
}

// NewClient is a client of the registry at addr (host:port) outside a test
// (the browser tests' seeder): tc trusts the registry and its token realm.
func NewClient(addr string, tc *tls.Config, username, password string) *Client {
	var auth authn.Authenticator = authn.Anonymous
	if username != "" {
		auth = &authn.Basic{Username: username, Password: password}
	}
	return &Client{addr: addr, auth: auth, base: &http.Transport{TLSClientConfig: tc,
		MaxIdleConnsPerHost: SeedConcurrency, ResponseHeaderTimeout: time.Minute}}
}

// Manifest is a manifest (or index) as pushed: its bytes are what the
// registry serves and what a DCT signature covers (notary add with these
// bytes signs Digest).
type Manifest struct {
	// Digest is "sha256:<hex>" of Raw.
	Digest    string
	MediaType string
	Raw       []byte
}

// Size is the length of the manifest bytes.
func (m Manifest) Size() int64 { return int64(len(m.Raw)) }

// Index is a pushed multi-platform index and its platforms.
type Index struct {
	Manifest
	// Platforms are the index's images, in order.
	Platforms []Platform
}

// Platform is one image of an index.
type Platform struct {
	OS, Architecture string
	Manifest
}

// Ref is the image reference of repo (namespace/name) and a tag or
// "sha256:…" digest in this registry.
func (r *Registry) Ref(repo, tagOrDigest string) string { return ref(r.Addr, repo, tagOrDigest) }

// Ref is the image reference of repo and a tag or digest in c's registry.
func (c *Client) Ref(repo, tagOrDigest string) string { return ref(c.addr, repo, tagOrDigest) }

func ref(addr, repo, tagOrDigest string) string {
	if strings.HasPrefix(tagOrDigest, "sha256:") {
		return addr + "/" + repo + "@" + tagOrDigest
	}
	return addr + "/" + repo + ":" + tagOrDigest
}

func (c *Client) options(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithAuth(c.auth), remote.WithTransport(c.base), remote.WithContext(ctx)}
}

func (c *Client) ref(t testing.TB, repo, tagOrDigest string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(c.Ref(repo, tagOrDigest), name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// PushImage pushes a new random single-platform image (Docker schema 2, one
// 1 KiB layer) as repo:tag and returns its manifest.
func (c *Client) PushImage(t testing.TB, repo, tag string) Manifest {
	t.Helper()
	m, err := c.TryPushImage(repo, tag)
	if err != nil {
		t.Fatalf("push %s: %v", c.Ref(repo, tag), err)
	}
	return m
}

// TryPushImage is PushImage returning the error (the registry's refusal).
func (c *Client) TryPushImage(repo, tag string) (Manifest, error) {
	img, err := random.Image(1024, 1)
	if err != nil {
		return Manifest{}, err
	}
	ref, err := name.NewTag(c.Ref(repo, tag), name.StrictValidation)
	if err != nil {
		return Manifest{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := remote.Write(ref, img, c.options(ctx)...); err != nil {
		return Manifest{}, err
	}
	return imageManifest(img)
}

// PushIndex pushes a new random multi-platform OCI image index (linux/amd64
// and linux/arm64, each an OCI image) as repo:tag.
func (c *Client) PushIndex(t testing.TB, repo, tag string) Index {
	t.Helper()
	idx, err := c.TryPushIndex(repo, tag)
	if err != nil {
		t.Fatalf("push index %s: %v", c.Ref(repo, tag), err)
	}
	return idx
}

// TryPushIndex is PushIndex returning the error.
func (c *Client) TryPushIndex(repo, tag string) (Index, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var out Index
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(1024, 1)
		if err != nil {
			return out, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return out, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return out, err
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		m, err := imageManifest(img)
		if err != nil {
			return out, err
		}
		out.Platforms = append(out.Platforms, Platform{OS: "linux", Architecture: arch, Manifest: m})
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref, err := name.NewTag(c.Ref(repo, tag), name.StrictValidation)
	if err != nil {
		return out, err
	}
	if err := remote.WriteIndex(ref, idx, c.options(ctx)...); err != nil {
		return out, err
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return out, err
	}
	out.Manifest = Manifest{Digest: digestOf(raw), MediaType: string(types.OCIImageIndex), Raw: raw}
	return out, nil
}

func imageManifest(img v1.Image) (Manifest, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return Manifest{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return Manifest{}, err
	}
	return Manifest{Digest: digestOf(raw), MediaType: string(mt), Raw: raw}, nil
}

func digestOf(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Tag points every tag at m, a manifest already in repo, by direct manifest
// PUTs (SeedConcurrency at a time; crane tag costs ~90 ms a tag): thousands
// of tags in seconds.
func (c *Client) Tag(t testing.TB, repo string, m Manifest, tags ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rt := c.transport(t, ctx, repo, transport.PushScope)
	work := make(chan string)
	errs := make(chan error, len(tags))
	var wg sync.WaitGroup
	for range min(SeedConcurrency, len(tags)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tag := range work {
				errs <- c.putManifest(ctx, rt, repo, tag, m)
			}
		}()
	}
	for _, tag := range tags {
		work <- tag
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("tag %s: %v", repo, err)
		}
	}
}

func (c *Client) putManifest(ctx context.Context, rt http.RoundTripper, repo, tag string, m Manifest) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut,
		"https://"+c.addr+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(m.Raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", m.MediaType)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT manifest %s: %s %s", tag, resp.Status, body)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != m.Digest {
		return fmt.Errorf("PUT manifest %s: digest %s, want %s", tag, got, m.Digest)
	}
	return nil
}

// transport is an authenticated round tripper for repo with the scope's
// actions (transport.PullScope, PushScope, DeleteScope).
func (c *Client) transport(t testing.TB, ctx context.Context, repo, action string) http.RoundTripper {
	t.Helper()
	r, err := name.NewRepository(c.addr+"/"+repo, name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := transport.NewWithContext(ctx, r.Registry, c.auth, c.base, []string{r.Scope(action)})
	if err != nil {
		t.Fatalf("registry transport for %s: %v", r, err)
	}
	return rt
}

// Digest is the digest the registry serves for repo:tag (HEAD with every
// manifest media type docker accepts).
func (c *Client) Digest(t testing.TB, repo, tag string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := remote.Head(c.ref(t, repo, tag), c.options(ctx)...)
	if err != nil {
		t.Fatalf("HEAD %s: %v", c.Ref(repo, tag), err)
	}
	return d.Digest.String()
}

// Pull fetches the manifest of repo:tag (or @digest), as docker pull does
// first.
func (c *Client) Pull(t testing.TB, repo, tagOrDigest string) Manifest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := remote.Get(c.ref(t, repo, tagOrDigest), c.options(ctx)...)
	if err != nil {
		t.Fatalf("GET %s: %v", c.Ref(repo, tagOrDigest), err)
	}
	return Manifest{Digest: d.Digest.String(), MediaType: string(d.MediaType), Raw: d.Manifest}
}

// Tags lists repo's tags.
func (c *Client) Tags(t testing.TB, repo string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := name.NewRepository(c.addr+"/"+repo, name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r, c.options(ctx)...)
	if err != nil {
		t.Fatalf("list tags of %s: %v", r, err)
	}
	return tags
}

// Catalog lists the registry's repositories (pages of 1000, following Link).
func (c *Client) Catalog(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg, err := name.NewRegistry(c.addr, name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	repos, err := remote.Catalog(ctx, reg, remote.WithAuth(c.auth), remote.WithTransport(c.base))
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	return repos
}

// Delete deletes the manifest digest ("sha256:…") from repo, and with it
// every tag pointing at it.
func (c *Client) Delete(t testing.TB, repo, digest string) {
	t.Helper()
	if err := c.TryDelete(repo, digest); err != nil {
		t.Fatalf("delete %s: %v", c.Ref(repo, digest), err)
	}
}

// TryDelete is Delete returning the error.
func (c *Client) TryDelete(repo, digest string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ref, err := name.ParseReference(c.Ref(repo, digest), name.StrictValidation)
	if err != nil {
		return err
	}
	return remote.Delete(ref, c.options(ctx)...)
}

package resign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Registry is the registry I/O both formats share: go-containerregistry's
// puller and pusher (which keep their token-scoped transports per
// repository) over the caller's RoundTripper, HTTPS only.
//
// It also serialises the read-modify-write updates this process makes to
// one manifest (the cosign .sig manifest, the referrers fallback index),
// which registries offer no compare-and-swap for: two tags with the same
// digest signed at once would otherwise drop one signature.
type Registry struct {
	puller *remote.Puller
	pusher *remote.Pusher

	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// NewRegistry returns the registry client over rt (nil: http.DefaultTransport).
// Requests in plain HTTP are refused: go-containerregistry would otherwise
// fall back to it for loopback and private addresses.
//
// Make one per migration run (or page load), not one per process: the
// pusher remembers the blobs it uploaded and does not upload them again,
// which a registry garbage-collecting in between would not expect. A client
// that only reads (Describe, Find) can live as long as its user.
func NewRegistry(rt http.RoundTripper) (*Registry, error) {
	if rt == nil {
		rt = http.DefaultTransport
	}
	opts := []remote.Option{
		remote.WithTransport(httpsOnly{rt}),
		remote.WithAuth(authn.Anonymous), // rt answers token challenges
		remote.WithUserAgent(signingAgent),
		remote.WithRetryStatusCodes(http.StatusTooManyRequests, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout),
	}
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, fmt.Errorf("resign: registry client: %w", err)
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, fmt.Errorf("resign: registry client: %w", err)
	}
	return &Registry{puller: puller, pusher: pusher, locks: map[string]*keyLock{}}, nil
}

// httpsOnly refuses plain-HTTP requests.
type httpsOnly struct{ rt http.RoundTripper }

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("refusing plain-HTTP request to %s: registries are reached over HTTPS", req.URL.Host)
	}
	return h.rt.RoundTrip(req)
}

// lock holds the process-wide lock for key until the returned func is called.
func (r *Registry) lock(key string) func() {
	r.mu.Lock()
	l := r.locks[key]
	if l == nil {
		l = &keyLock{}
		r.locks[key] = l
	}
	l.refs++
	r.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		r.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(r.locks, key)
		}
		r.mu.Unlock()
	}
}

// manifest reads a manifest by tag or digest (at most maxManifestSize
// bytes); nil on 404. Its Image() reuses the bytes read.
func (r *Registry) manifest(ctx context.Context, ref name.Reference) (*remote.Descriptor, error) {
	d, err := r.puller.Get(ctx, ref)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if d.Size > maxManifestSize || int64(len(d.Manifest)) > maxManifestSize {
		return nil, fmt.Errorf("manifest %s is larger than %d bytes", ref, maxManifestSize)
	}
	return d, nil
}

// Describe reads what Sign and Find need of an image from the registry (a
// HEAD of the manifest by digest): its media type and size, as the registry
// serves them now. ok is false when the registry does not hold the digest.
func (r *Registry) Describe(ctx context.Context, registry, repository, digest string) (img Image, ok bool, err error) {
	img = Image{Registry: registry, Repository: repository, Digest: digest, MediaType: "-", Size: 1}
	repo, err := img.repository()
	if err != nil {
		return Image{}, false, err
	}
	d, err := r.puller.Head(ctx, repo.Digest(digest))
	if isNotFound(err) {
		return Image{}, false, nil
	}
	if err != nil {
		return Image{}, false, wrapRegistry("read "+img.Reference(), err)
	}
	if d.Digest.String() != digest {
		return Image{}, false, fmt.Errorf("resign: %s: the registry answered for digest %s", img.Reference(), d.Digest)
	}
	img.MediaType, img.Size = string(d.MediaType), d.Size
	return img, true, nil
}

// blob reads a blob of at most limit bytes and checks its digest.
func (r *Registry) blob(ctx context.Context, repo name.Repository, digest v1.Hash, limit int64) ([]byte, error) {
	l, err := r.puller.Layer(ctx, repo.Digest(digest.String()))
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", digest, limit)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(b)); got != digest {
		return nil, fmt.Errorf("blob %s: the registry served content with digest %s", digest, got)
	}
	return b, nil
}

// upload pushes a blob (skipped when the registry has it).
func (r *Registry) upload(ctx context.Context, repo name.Repository, b []byte, mt types.MediaType) error {
	return r.pusher.Upload(ctx, repo, static.NewLayer(b, mt))
}

// put pushes a manifest under ref. For a manifest with a subject the pusher
// keeps the referrers tag-schema index up to date when the registry has no
// referrers API.
func (r *Registry) put(ctx context.Context, ref name.Reference, raw []byte, mt types.MediaType) error {
	return r.pusher.Put(ctx, ref, rawManifest{raw: raw, mt: mt})
}

// referrers lists the manifests referring to digest with artifactType,
// through the referrers API or its tag-schema fallback.
func (r *Registry) referrers(ctx context.Context, repo name.Repository, digest, artifactType string) ([]v1.Descriptor, error) {
	idx, err := remote.Referrers(repo.Digest(digest), remote.Reuse(r.puller), remote.WithContext(ctx),
		remote.WithFilter("artifactType", artifactType))
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	for _, d := range im.Manifests {
		// The fallback index is not filtered by the registry, and a
		// registry's API may ignore the filter: check here.
		if d.ArtifactType == artifactType {
			out = append(out, d)
		}
	}
	return out, nil
}

type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// RegistryError is a refusal by the registry (an HTTP status), e.g. 403 on a
// push the credentials do not allow.
type RegistryError struct {
	Status int
	Op     string // what was attempted, for people
	Err    error
}

func (e *RegistryError) Error() string {
	return fmt.Sprintf("%s: the registry answered %d %s: %v", e.Op, e.Status, http.StatusText(e.Status), e.Err)
}

func (e *RegistryError) Unwrap() error { return e.Err }

// wrapRegistry names a registry refusal, keeping other errors (network, TLS) as they are.
func wrapRegistry(op string, err error) error {
	if err == nil {
		return nil
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return &RegistryError{Status: terr.StatusCode, Op: op, Err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

package migration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/trustdeck/trustdeck/internal/lru"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/vault"
)

// statusConcurrency bounds the digests Signatures reads at once.
const statusConcurrency = 8

// statusCacheSize bounds the digests whose signatures are kept.
const statusCacheSize = 20000

// Mark is one format's column of a tag: ✓ when a signature made by the
// namespace's key verifies in the registry.
type Mark struct {
	Signed bool `json:"signed"`
	// KeyID and Identity name the key (cosign: SHA-256 of the public key)
	// or certificate (Notation: its thumbprint and subject) that signed.
	KeyID    string `json:"key_id,omitempty"`
	Identity string `json:"identity,omitempty"`
}

// TagSignatures are the signatures of one tag, read from the registry.
type TagSignatures struct {
	Tag string `json:"tag"`
	// Digest is the digest the registry serves for the tag, whose
	// signatures these are ("" when the registry has no such tag).
	Digest string `json:"digest"`
	// DCT is ✓ when the registry serves the digest DCT signed for the tag.
	DCT      bool `json:"dct"`
	Cosign   Mark `json:"cosign"`
	Notation Mark `json:"notation"`
	// Others are the signatures of either format not made by the
	// namespace's keys (a CI pipeline's, with its key or certificate
	// identity when it can be read), or that do not verify (altered).
	Others []resign.Signature `json:"others"`
	// Error says why the registry could not be read for the digest.
	Error string `json:"error,omitempty"`
}

// Signatures reads, for a page of tags (trust.TagStates of one
// repository), which signatures the registry holds for each tag's digest:
// DCT from the tag state, cosign and Notation found and verified against
// the namespace's keys (resign's Find), and others' signatures. What it
// reads of a digest is kept for StatusTTL and shared by the tags that point
// at it, so a page reads each digest once and a reload within the TTL reads
// nothing. Registry failures are per tag (Error); the error returned is the
// keys'.
func (s *Service) Signatures(ctx context.Context, namespace, name string, tags []trust.TagState) ([]TagSignatures, error) {
	out := make([]TagSignatures, len(tags))
	for i, t := range tags {
		out[i] = TagSignatures{Tag: t.Name, Digest: t.RegistryDigest, DCT: t.State == trust.TagSigned &&
			t.SignedDigest != "" && t.SignedDigest == t.RegistryDigest, Others: []resign.Signature{}}
	}
	if s.cfg.Transport == nil {
		return out, nil // no registry: DCT's column only
	}
	v, err := s.cfg.Keys.Verification(ctx, namespace)
	if err != nil {
		return nil, err
	}
	keys := keysFingerprint(v)
	repo := namespace + "/" + name
	var (
		reg     *resign.Registry
		formats []resign.Format
		found   = map[string]*digestSignatures{}
		missing []string
	)
	for _, t := range out {
		if t.Digest == "" || found[t.Digest] != nil {
			continue
		}
		if d, ok := s.status.get(statusKey{repo, t.Digest}, keys); ok {
			found[t.Digest] = d
			continue
		}
		found[t.Digest] = &digestSignatures{}
		missing = append(missing, t.Digest)
	}
	if len(missing) > 0 {
		if reg, err = resign.NewRegistry(s.cfg.Transport); err != nil {
			return nil, err
		}
		if formats, err = verifyingFormats(reg, v, s.cfg.Now); err != nil {
			return nil, err
		}
		sem := make(chan struct{}, statusConcurrency)
		var wg sync.WaitGroup
		for _, d := range missing {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				got := s.read(ctx, reg, formats, repo, d)
				*found[d] = *got
				if got.err == "" && ctx.Err() == nil {
					s.status.put(statusKey{repo, d}, keys, got)
				}
			})
		}
		wg.Wait()
	}
	for i := range out {
		d := found[out[i].Digest]
		if d == nil {
			continue
		}
		out[i].Error = d.err
		for _, sig := range d.sigs {
			var m *Mark
			switch {
			case !sig.Verified:
				out[i].Others = append(out[i].Others, sig)
				continue
			case sig.Format == resign.FormatCosign:
				m = &out[i].Cosign
			default:
				m = &out[i].Notation
			}
			if !m.Signed {
				*m = Mark{Signed: true, KeyID: sig.KeyID, Identity: sig.Identity}
			}
		}
	}
	return out, nil
}

// digestSignatures is what the registry holds for one digest.
type digestSignatures struct {
	sigs []resign.Signature
	err  string
}

// read finds the signatures of both formats for repo@digest.
func (s *Service) read(ctx context.Context, reg *resign.Registry, formats []resign.Format, repo, digest string) *digestSignatures {
	img, ok, err := reg.Describe(ctx, s.imageHost(), repo, digest)
	switch {
	case err != nil:
		return &digestSignatures{err: failure(err, repo)}
	case !ok:
		return &digestSignatures{err: "The registry no longer serves " + digest + "."}
	}
	out := &digestSignatures{}
	for _, f := range formats {
		sigs, err := f.Find(ctx, img)
		if err != nil {
			return &digestSignatures{err: failure(err, repo)}
		}
		out.sigs = append(out.sigs, sigs...)
	}
	return out
}

// verifyingFormats are both formats, trusting the namespace's keys only.
func verifyingFormats(reg *resign.Registry, v *vault.Verification, now func() time.Time) ([]resign.Format, error) {
	cosign, err := resign.NewCosign(reg, nil, v.CosignKeys...)
	if err != nil {
		return nil, err
	}
	notation, err := resign.NewNotation(reg, resign.NotationOptions{Roots: v.NotationCAs, Now: now})
	if err != nil {
		return nil, err
	}
	return []resign.Format{cosign, notation}, nil
}

// keysFingerprint names a namespace's verification material: a key
// generated anew must not be answered from the cache.
func keysFingerprint(v *vault.Verification) string {
	h := sha256.New()
	for _, k := range v.CosignKeys {
		id, _ := resign.PublicKeyID(k)
		h.Write([]byte(id))
	}
	for _, c := range v.NotationCAs {
		h.Write(c.Raw)
	}
	return hex.EncodeToString(h.Sum(nil))
}

type statusKey struct{ repo, digest string }

type statusEntry struct {
	d    *digestSignatures
	keys string // the verification material it was verified against
	at   time.Time
}

// statusCache keeps what Signatures read, for ttl.
type statusCache struct {
	ttl   time.Duration
	now   func() time.Time
	cache *lru.Cache[statusKey, statusEntry]
}

func newStatusCache(ttl time.Duration, now func() time.Time) *statusCache {
	return &statusCache{ttl: ttl, now: now, cache: lru.New[statusKey, statusEntry](statusCacheSize, nil)}
}

func (c *statusCache) get(k statusKey, keys string) (*digestSignatures, bool) {
	e, ok := c.cache.Get(k)
	if !ok || e.keys != keys || c.now().Sub(e.at) >= c.ttl {
		return nil, false
	}
	return e.d, true
}

func (c *statusCache) put(k statusKey, keys string, d *digestSignatures) {
	c.cache.Put(k, statusEntry{d: d, keys: keys, at: c.now()})
}

// forget drops what Signatures read of repo@digest (a run just signed
// it): the next page reads the registry again.
func (c *statusCache) forget(repo, digest string) { c.cache.Remove(statusKey{repo, digest}) }

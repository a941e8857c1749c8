package migration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/trustdeck/trustdeck/internal/lru"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/store"
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
	// Checking is set by KnownSignatures for a digest not read yet: the
	// cosign and Notation columns are unknown, being read.
	Checking bool `json:"checking,omitempty"`
}

// Signatures reads, for a page of tags (trust.TagStates of one
// repository), which signatures the registry holds for each tag's digest:
// DCT from the tag state, cosign and Notation found and verified against
// the namespace's keys (resign's Find), and others' signatures. What it
// reads of a digest is kept and shared by the tags that point at it; a
// digest read within StatusTTL (and not changed since: a signature pushed,
// a signature tag changed) is not read again. It waits for the registry:
// pages use KnownSignatures. Registry failures are per tag (Error); the
// error returned is the keys'.
func (s *Service) Signatures(ctx context.Context, namespace, name string, tags []trust.TagState) ([]TagSignatures, error) {
	return s.signatures(ctx, namespace, name, tags, true)
}

// KnownSignatures is Signatures without waiting for the registry: what is
// known of each digest, however old, and Checking for a digest never read.
// Digests unknown or older than StatusTTL are queued for the background
// readers, which read the registry (a reload then shows them).
func (s *Service) KnownSignatures(ctx context.Context, namespace, name string, tags []trust.TagState) ([]TagSignatures, error) {
	return s.signatures(ctx, namespace, name, tags, false)
}

func (s *Service) signatures(ctx context.Context, namespace, name string, tags []trust.TagState, wait bool) ([]TagSignatures, error) {
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
		found   = map[string]*digestSignatures{}
		missing []string
	)
	for _, t := range out {
		if t.Digest == "" || found[t.Digest] != nil {
			continue
		}
		d, fresh, ok := s.status.get(statusKey{repo, t.Digest}, keys)
		switch {
		case ok && fresh:
			found[t.Digest] = d
		case !wait:
			if ok {
				found[t.Digest] = d
			} else {
				found[t.Digest] = &digestSignatures{checking: true}
			}
			s.refresh.enqueue(s, statusKey{repo, t.Digest}, false)
		default:
			found[t.Digest] = &digestSignatures{}
			missing = append(missing, t.Digest)
		}
	}
	if len(missing) > 0 {
		reg, formats, err := s.verifyingFormats(v)
		if err != nil {
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
				if ctx.Err() == nil {
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
		out[i].Error, out[i].Checking = d.err, d.checking
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

// TagsChanged hears of a repository's tags from the registry service
// (after a read, full, or a notification): a signature tag that changed
// (cosign's sha256-<hex>.sig, the referrers tag schema's sha256-<hex>)
// makes what is known of its image stale, and the image is read again in
// the background; after a read, images never read are queued too, so the
// repository's page finds them known. It does not block.
func (s *Service) TagsChanged(namespace, name string, tags []store.RegistryTag, full bool) {
	if s.cfg.Transport == nil {
		return
	}
	repo := namespace + "/" + name
	for _, t := range tags {
		if digest, ok := signatureSubject(t.Tag); ok {
			if s.status.sigTagChanged(repo, t.Tag, t.Digest) || !full {
				s.status.stale(statusKey{repo, digest})
				s.refresh.enqueue(s, statusKey{repo, digest}, true)
			}
			continue
		}
		if full && t.Digest != "" && !s.status.has(statusKey{repo, t.Digest}) {
			s.refresh.enqueue(s, statusKey{repo, t.Digest}, false)
		}
	}
}

// signatureSubject is the digest of the image a signature tag is of.
func signatureSubject(tag string) (string, bool) {
	if !trust.IsSignatureTag(tag) {
		return "", false
	}
	return "sha256:" + tag[len("sha256-"):len("sha256-")+64], true
}

// refresher reads digests' signatures in the background, statusConcurrency
// at a time, each digest once at a time: a digest that changed while it was
// being read is read once more afterwards (what was read may predate the
// change); a page asking again for it meanwhile waits for the read under
// way.
type refresher struct {
	start sync.Once
	queue chan statusKey

	mu    sync.Mutex
	state map[statusKey]uint8
}

const (
	refreshQueued = iota + 1
	refreshRunning
	refreshAgain
)

// statusQueueSize bounds the digests waiting to be read; beyond it a digest
// is not queued (the next page asking for it queues it).
const statusQueueSize = 4096

// enqueue queues k for a read; changed says the registry changed for it
// (a read under way then reads again).
func (r *refresher) enqueue(s *Service, k statusKey, changed bool) {
	if s.ctx.Err() != nil {
		return // closed
	}
	r.start.Do(func() {
		r.queue, r.state = make(chan statusKey, statusQueueSize), map[statusKey]uint8{}
		for range statusConcurrency {
			s.wg.Go(func() { r.work(s) })
		}
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state[k] {
	case 0:
		r.push(k)
	case refreshRunning:
		if changed {
			r.state[k] = refreshAgain
		}
	}
}

// push queues k (r.mu held).
func (r *refresher) push(k statusKey) {
	select {
	case r.queue <- k:
		r.state[k] = refreshQueued
	default:
		delete(r.state, k)
	}
}

func (r *refresher) work(s *Service) {
	for {
		select {
		case <-s.ctx.Done():
			return
		case k := <-r.queue:
			r.mu.Lock()
			r.state[k] = refreshRunning
			r.mu.Unlock()
			s.readInBackground(k)
			r.mu.Lock()
			if r.state[k] == refreshAgain {
				r.push(k)
			} else {
				delete(r.state, k)
			}
			r.mu.Unlock()
		}
	}
}

// readInBackground reads one digest's signatures and keeps them (a failure
// too: pages show it until a read succeeds).
func (s *Service) readInBackground(k statusKey) {
	ns, _, _ := strings.Cut(k.repo, "/")
	v, err := s.cfg.Keys.Verification(s.ctx, ns)
	if err != nil {
		s.cfg.Log.Warn("migration: signature status: keys", "namespace", ns, "err", err)
		return
	}
	reg, formats, err := s.verifyingFormats(v)
	if err != nil {
		s.cfg.Log.Warn("migration: signature status: registry client", "err", err)
		return
	}
	d := s.read(s.ctx, reg, formats, k.repo, k.digest)
	if s.ctx.Err() == nil {
		s.status.put(k, keysFingerprint(v), d)
	}
}

// digestSignatures is what the registry holds for one digest.
type digestSignatures struct {
	sigs     []resign.Signature
	err      string
	checking bool // not read yet (KnownSignatures)
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

// verifyingFormats are both formats over the service's reading registry
// client (s.reader: a new client per digest would ping the registry and
// authenticate again for each), trusting the namespace's keys only.
func (s *Service) verifyingFormats(v *vault.Verification) (*resign.Registry, []resign.Format, error) {
	reg, err := s.reader()
	if err != nil {
		return nil, nil, err
	}
	cosign, err := resign.NewCosign(reg, nil, v.CosignKeys...)
	if err != nil {
		return nil, nil, err
	}
	notation, err := resign.NewNotation(reg, resign.NotationOptions{Roots: v.NotationCAs, Now: s.cfg.Now})
	if err != nil {
		return nil, nil, err
	}
	return reg, []resign.Format{cosign, notation}, nil
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

// statusCache keeps what was read of each digest: fresh for ttl (and
// until made stale), shown however old by KnownSignatures. It also keeps
// the digests of the signature tags last seen, to tell when one changed.
type statusCache struct {
	ttl     time.Duration
	now     func() time.Time
	cache   *lru.Cache[statusKey, statusEntry]
	sigTags *lru.Cache[statusKey, string] // {repo, signature tag} → its digest
}

func newStatusCache(ttl time.Duration, now func() time.Time) *statusCache {
	return &statusCache{ttl: ttl, now: now, cache: lru.New[statusKey, statusEntry](statusCacheSize, nil),
		sigTags: lru.New[statusKey, string](statusCacheSize, nil)}
}

// get returns what was read of k with the keys, and whether it is fresh: a
// failure to read never is.
func (c *statusCache) get(k statusKey, keys string) (d *digestSignatures, fresh, ok bool) {
	e, ok := c.cache.Get(k)
	if !ok || e.keys != keys {
		return nil, false, false
	}
	return e.d, e.d.err == "" && !e.at.IsZero() && c.now().Sub(e.at) < c.ttl, true
}

// has reports whether k was read (with any keys).
func (c *statusCache) has(k statusKey) bool {
	_, ok := c.cache.Get(k)
	return ok
}

func (c *statusCache) put(k statusKey, keys string, d *digestSignatures) {
	c.cache.Put(k, statusEntry{d: d, keys: keys, at: c.now()})
}

// stale marks what was read of k as old: shown until read again, never
// fresh.
func (c *statusCache) stale(k statusKey) {
	c.cache.Update(k, func(e statusEntry, present bool) (statusEntry, bool) {
		e.at = time.Time{}
		return e, present
	})
}

// sigTagChanged records the digest of a signature tag and reports whether
// it differs from the one seen before (or none was).
func (c *statusCache) sigTagChanged(repo, tag, digest string) bool {
	return c.sigTags.Update(statusKey{repo, tag}, func(prev string, seen bool) (string, bool) {
		return digest, !seen || prev != digest
	})
}

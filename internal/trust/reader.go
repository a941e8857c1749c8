// Package trust reads Docker Content Trust data and models it as `docker
// trust inspect` shows it, and beyond (what the CLI hides).
//
// A Reader loads the trust data of a GUN with notary's own client code
// (client.LoadTUFRepo, the function behind every read of client.Repository),
// so metadata is verified exactly as docker verifies it: signatures and
// thresholds, expiry, versions, root rotation, delegation paths. It keeps a
// per-GUN metadata cache in memory, so a refresh downloads only the
// timestamp when nothing changed.
//
// Repo is the verified data of one GUN. Repo.Inspect, FormatJSON and
// FormatPretty reproduce docker's output byte for byte; Unreleased, TagView,
// Expiries and Signers show what docker does not.
package trust

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/cryptoservice"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// Remote returns the notary server's store for a GUN. In production:
//
//	func(gun string) (storage.RemoteStore, error) {
//		return storage.NewNotaryServerStore(baseURL, data.GUN(gun), roundTripper)
//	}
//
// The round tripper carries authentication, TLS and timeouts: notary's
// store sends requests without a context, so a cancelled Load stops waiting
// but the request runs until the round tripper ends it.
type Remote func(gun string) (store.RemoteStore, error)

// DefaultMaxRepos is how many GUNs a Reader caches by default.
const DefaultMaxRepos = 512

// Reader loads and caches trust data. It is safe for concurrent use: loads
// of one GUN run one at a time, loads of different GUNs in parallel.
type Reader struct {
	remote   Remote
	maxRepos int
	now      func() time.Time
	observe  func(took time.Duration, err error) // nil: none

	mu      sync.Mutex
	entries map[string]*entry
	lru     list.List // of *entry, most recently used first
}

// entry is the cache of one GUN.
type entry struct {
	gun  string
	elem *list.Element // in Reader.lru; guarded by Reader.mu
	// users counts goroutines holding the entry; an entry in use is not
	// evicted. Guarded by Reader.mu.
	users int
	// stale asks the next load to start from an empty cache (Invalidate was
	// called while the entry was in use). Guarded by Reader.mu.
	stale bool

	// sem is held during a load; it guards cache and trusted.
	sem   chan struct{}
	cache *store.MemoryStore
	// trusted is set once a load succeeded: the cache's root is one the
	// Reader has verified before.
	trusted bool
	// last is the result of the last successful load and lastTimestamp the
	// timestamp.json it was verified with.
	last          *Repo
	lastTimestamp []byte
}

// Option configures a Reader.
type Option func(*Reader)

// WithMaxRepos bounds the number of GUNs whose metadata the Reader keeps
// (least recently used are dropped first). n < 1 means DefaultMaxRepos.
func WithMaxRepos(n int) Option {
	return func(r *Reader) {
		if n >= 1 {
			r.maxRepos = n
		}
	}
}

// WithClock sets the clock that stamps Repo.LoadedAt (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(r *Reader) {
		if now != nil {
			r.now = now
		}
	}
}

// ObserveLoads has every Load report how long it took and its error
// (metrics: inspection latency).
func ObserveLoads(observe func(took time.Duration, err error)) Option {
	return func(r *Reader) { r.observe = observe }
}

// NewReader returns a Reader that fetches metadata through remote.
func NewReader(remote Remote, opts ...Option) *Reader {
	r := &Reader{remote: remote, maxRepos: DefaultMaxRepos, now: time.Now, entries: map[string]*entry{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Load fetches and verifies the current trust data of gun. Errors are
// *errs.Error wrapping ErrNoTrustData, ErrUnreachable, ErrUnauthorized or
// ErrVerification (see errors.go), or an errs.Invalid for an empty GUN.
//
// Unlike notary's client, Load never falls back to a cached timestamp: if
// the server cannot give the current timestamp, Load fails (a dashboard must
// not show deleted or stale data as current). If the root no longer chains
// to the root seen before, Load trusts the new root and sets
// Repo.RootReplaced.
func (r *Reader) Load(ctx context.Context, gun string) (*Repo, error) {
	if r.observe == nil {
		return r.loadGUN(ctx, gun)
	}
	start := time.Now()
	repo, err := r.loadGUN(ctx, gun)
	r.observe(time.Since(start), err)
	return repo, err
}

func (r *Reader) loadGUN(ctx context.Context, gun string) (*Repo, error) {
	if gun == "" {
		return nil, errs.Invalidf("invalid_gun", "The repository name is empty.")
	}
	if err := ctx.Err(); err != nil {
		return nil, classify(gun, err, err)
	}
	e := r.acquire(gun)
	defer r.release(e)
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, classify(gun, ctx.Err(), ctx.Err())
	}
	defer func() { <-e.sem }()

	r.mu.Lock()
	stale := e.stale
	e.stale = false
	r.mu.Unlock()
	if stale {
		e.reset()
	}
	return r.load(ctx, e)
}

// Invalidate drops what the Reader knows about gun; the next Load starts
// from nothing (and trusts whatever root the server has). Call it after
// deleting or re-creating a GUN's trust data.
func (r *Reader) Invalidate(gun string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[gun]
	if !ok {
		return
	}
	if e.users > 0 {
		e.stale = true
		return
	}
	r.lru.Remove(e.elem)
	delete(r.entries, gun)
}

// InvalidateAll invalidates every GUN the Reader holds.
func (r *Reader) InvalidateAll() {
	r.mu.Lock()
	guns := make([]string, 0, len(r.entries))
	for g := range r.entries {
		guns = append(guns, g)
	}
	r.mu.Unlock()
	for _, g := range guns {
		r.Invalidate(g)
	}
}

// Cached reports how many GUNs the Reader holds metadata for.
func (r *Reader) Cached() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// acquire returns gun's entry, creating it, and marks it in use.
func (r *Reader) acquire(gun string) *entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[gun]
	if !ok {
		e = &entry{gun: gun, sem: make(chan struct{}, 1), cache: store.NewMemoryStore(nil)}
		e.elem = r.lru.PushFront(e)
		r.entries[gun] = e
	} else {
		r.lru.MoveToFront(e.elem)
	}
	e.users++
	return e
}

// release ends a use of e and evicts least recently used entries not in use
// while the Reader holds too many.
func (r *Reader) release(e *entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.users--
	for el := r.lru.Back(); el != nil && len(r.entries) > r.maxRepos; {
		prev := el.Prev()
		if old := el.Value.(*entry); old.users == 0 {
			r.lru.Remove(el)
			delete(r.entries, old.gun)
		}
		el = prev
	}
}

// reset empties the entry's cache. The caller holds e.sem.
func (e *entry) reset() {
	e.cache = store.NewMemoryStore(nil)
	e.trusted = false
	e.last, e.lastTimestamp = nil, nil
}

// load runs notary's update against e's cache. The caller holds e.sem.
//
// It first downloads the timestamp itself: if it is byte for byte the one the
// last successful load verified, and no role has expired since, nothing can
// have changed and the last result is returned without re-verifying every
// cached file (notary's update would re-parse and re-verify them all).
func (r *Reader) load(ctx context.Context, e *entry) (*Repo, error) {
	remote, err := r.remote(e.gun)
	if err != nil {
		return nil, unreachable(e.gun, err)
	}
	rs := &readOnlyRemote{ctx: ctx, remote: remote}
	ts, tsErr := rs.GetSized(data.CanonicalTimestampRole.String(), notary.MaxTimestampSize)
	now := r.now()
	if tsErr == nil && e.last != nil && bytes.Equal(ts, e.lastTimestamp) && e.last.unexpired(now) {
		same := *e.last
		same.LoadedAt = now
		same.RootReplaced = false
		return &same, nil
	}
	if tsErr == nil {
		rs.prefetched = ts
	}
	// On an error notary's update asks again and reports it its own way.
	rs.timestampErr = nil

	replaced := false
	tr, err := r.update(ctx, e, rs)
	if err != nil && e.trusted && isVerification(err) {
		// The data may be fine but no longer chain to the root we trusted
		// (deleted and re-created, or a root replaced without rotation).
		e.reset()
		rs = &readOnlyRemote{ctx: ctx, remote: remote}
		if tr, err = r.update(ctx, e, rs); err == nil {
			replaced = true
		}
	}
	if err != nil {
		if errors.Is(err, ErrNoTrustData) {
			e.reset()
		}
		return nil, err
	}
	repo, err := buildRepo(e.gun, tr, e.cache, now)
	if err != nil {
		e.reset()
		return nil, classify(e.gun, err, nil)
	}
	e.trusted = true
	e.last, e.lastTimestamp = repo, rs.timestamp
	if replaced {
		flagged := *repo
		flagged.RootReplaced = true
		return &flagged, nil
	}
	return repo, nil
}

// update is one notary client update of e's cache through rs.
func (r *Reader) update(ctx context.Context, e *entry, rs *readOnlyRemote) (*tuf.Repo, error) {
	tr, _, err := client.LoadTUFRepo(client.TUFLoadOptions{
		GUN:           data.GUN(e.gun),
		TrustPinning:  trustpinning.TrustPinConfig{},
		CryptoService: cryptoservice.EmptyService,
		Cache:         e.cache,
		RemoteStore:   rs,
	})
	if err == nil && rs.timestampErr != nil {
		// notary fell back to the cached timestamp; we do not.
		err = rs.timestampErr
	}
	if err != nil {
		return nil, classify(e.gun, err, ctx.Err())
	}
	return tr, nil
}

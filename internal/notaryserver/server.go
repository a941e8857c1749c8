package notaryserver

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/server/errors"
	"github.com/theupdateframework/notary/server/handlers"
	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/utils"
)

type server struct {
	store     storage.MetaStore
	crypto    signed.CryptoService
	algorithm string
	auth      Authorizer
	hooks     Hooks
	log       *slog.Logger
	maxUpload int64

	locks    *GUNLocks // serialises the writes to one GUN in this process
	atomicFn func(ctx context.Context, gun string, fn func(storage.MetaStore) error) error
	cache    *metaCache // nil: off
	observer Observer   // nil: off
	// Cache-Control of current metadata and of metadata by checksum or
	// version (Config.CurrentMaxAge, ConsistentMaxAge).
	currentCache, consistentCache utils.CacheControlConfig
	now                           func() time.Time
}

func newServer(cfg Config) *server {
	return &server{
		store:     cfg.Store,
		crypto:    cfg.Crypto,
		algorithm: cfg.KeyAlgorithm,
		auth:      cfg.Auth,
		hooks:     cfg.Hooks,
		log:       cfg.Logger,
		maxUpload: cfg.MaxUploadBytes,
		locks:     cfg.Locks,
		atomicFn:  cfg.Atomic,
		cache:     cfg.cache(),
		observer:  cfg.Observer,
		currentCache: utils.NewCacheControlConfig(
			maxAgeSeconds(cfg.CurrentMaxAge, notary.CurrentMetadataCacheMaxAge), true),
		consistentCache: utils.NewCacheControlConfig(
			maxAgeSeconds(cfg.ConsistentMaxAge, notary.ConsistentMetadataCacheMaxAge), false),
		now: time.Now,
	}
}

// Invalidate forgets what the server cached of gun's metadata: call it when
// gun's trust data was written behind its back (by another replica sharing
// the store). gun "" forgets every GUN's.
func (s *server) Invalidate(gun string) {
	if gun == "" {
		s.cache.invalidateAll()
		return
	}
	s.cache.invalidate(gun)
}

// ServeHTTP serves r, reporting it to the observer if there is one.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := match(r.Method, r.URL.Path)
	if op := rt.operation(); s.observer != nil && op != OpNone {
		s.serveObserved(w, r, rt, op)
		return
	}
	s.serve(w, r, rt)
}

// serve authorizes the request, admits it and runs its endpoint.
func (s *server) serve(w http.ResponseWriter, r *http.Request, rt route) {

	actor, ok := s.auth.Authorize(refusing{w, r}, r, rt.gun, rt.actions...)
	if !ok {
		return
	}

	// An update is admitted under the GUN's lock (below), so that whoever
	// else holds it (removing the catalog entry) cannot interleave.
	if rt.gun != "" && rt.endpoint != update {
		if err := s.hooks.Admit(r.Context(), actor, rt.gun, rt.write); err != nil {
			s.writeError(refusing{w, r}, r, err)
			return
		}
	}

	if rt.endpoint == getMetadata {
		s.getMetadata(w, r, rt)
		return
	}

	r = s.withNotaryContext(r, rt)
	switch rt.endpoint {
	case ping:
		w.Header().Set("Content-Type", "application/json")
		s.run(w, r, handlers.MainHandler)
	case globalChangefeed, changefeed:
		w.Header().Set("Content-Type", "application/json")
		s.run(w, r, handlers.Changefeed)
	case getKey:
		w.Header().Set("Content-Type", "application/json")
		s.run(w, r, handlers.GetKeyHandler)
	case rotateKey:
		w.Header().Set("Content-Type", "application/json")
		if s.run(w, r, handlers.RotateKeyHandler) {
			s.hooks.Rotated(r.Context(), actor, rt.gun, rt.role)
		}
	case deleteGUN:
		unlock := s.locks.Lock(rt.gun)
		// Deleting nothing succeeds (notary's semantics) but is no event.
		_, _, current := s.store.GetCurrent(data.GUN(rt.gun), data.CanonicalRootRole)
		ok := s.run(w, r, handlers.DeleteHandler)
		s.cache.invalidate(rt.gun)
		unlock()
		if ok && current == nil {
			s.hooks.Deleted(r.Context(), actor, rt.gun)
		}
	case update:
		unlock := s.locks.Lock(rt.gun)
		if err := s.hooks.Admit(r.Context(), actor, rt.gun, true); err != nil {
			unlock()
			s.writeError(refusing{w, r}, r, err)
			return
		}
		written, err := s.update(w, r, rt.gun)
		s.cache.invalidate(rt.gun)
		unlock()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.hooks.Updated(r.Context(), actor, rt.gun, written)
	default:
		s.writeError(w, r, errors.ErrMetadataNotFound.WithDetail(nil))
	}
}

// withNotaryContext gives r what notary's handlers look for: their
// collaborators in the context, the route variables through mux.Vars.
func (s *server) withNotaryContext(r *http.Request, rt route) *http.Request {
	ctx := context.WithValue(r.Context(), notary.CtxKeyMetaStore, s.store)
	ctx = context.WithValue(ctx, notary.CtxKeyCryptoSvc, s.crypto)
	ctx = context.WithValue(ctx, notary.CtxKeyKeyAlgo, s.algorithm)
	return mux.SetURLVars(r.WithContext(ctx), rt.vars())
}

// getMetadata answers GET of a metadata file: from the cache when it holds
// the file, else with notary's handler (which re-signs a stale timestamp or
// snapshot), whose successful answer is cached.
func (s *server) getMetadata(w http.ResponseWriter, r *http.Request, rt route) {
	name := rt.metadataName()
	if f := s.cache.get(rt.gun, name, s.now()); f != nil {
		f.serve(w, r)
		return
	}
	token := s.cache.fillToken(rt.gun)
	cache := s.currentCache
	if rt.checksum != "" || rt.version != "" {
		cache = s.consistentCache
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	rec.header.Set("Content-Type", "application/json")
	r = s.withNotaryContext(r, rt)
	utils.WrapWithCacheHandler(cache, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.run(w, r, handlers.GetHandler)
	})).ServeHTTP(rec, r)

	if rec.status != http.StatusOK {
		rec.replay(w)
		return
	}
	// Answered from a file either way: its ETag and Last-Modified, and
	// 304 to a conditional GET, with the cache off too.
	// Only a file the cache keeps needs its own copy of the body (sized
	// to it): otherwise the recorder's, which nothing else holds, serves.
	body, keep := rec.body.Bytes(), s.cache != nil
	if keep {
		body = bytes.Clone(body)
	}
	f := newCachedFile(body, rec.header, keep)
	if keep && rt.checksum == "" && rt.version == "" &&
		(rt.role == data.CanonicalTimestampRole.String() || rt.role == data.CanonicalSnapshotRole.String()) {
		f.until, keep = serverSignedUntil(s.store, rt.gun, rt.role, f.body)
	}
	if keep {
		s.cache.add(rt.gun, name, f, token)
	}
	f.serve(w, r)
}

// maxAgeSeconds is a Cache-Control max-age: def when d is 0, none (0) when
// d is negative.
func maxAgeSeconds(d, def time.Duration) int {
	switch {
	case d == 0:
		d = def
	case d < 0:
		return 0
	}
	return int(d / time.Second)
}

// run calls one of notary's handlers and answers its error, if any. It
// reports whether the handler succeeded.
func (s *server) run(w http.ResponseWriter, r *http.Request, h utils.ContextHandler) bool {
	if err := h(r.Context(), w, r); err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}

// GUNLocks hands out one mutex per GUN, kept only while in use. Writers of
// one GUN take turns, so two publishes that touch different roles both
// succeed instead of the second failing on the snapshot and timestamp
// versions the first one took. Across processes sharing the store the
// database's GUN lock does the same (Config.Atomic); these mutexes keep a
// process's own writers of a GUN from queueing in the database. Others that must not interleave with
// a GUN's writes (removing its catalog entry) share them through
// Config.Locks. The zero value is ready to use.
type GUNLocks struct {
	mu sync.Mutex
	m  map[string]*gunLock
}

type gunLock struct {
	sync.Mutex
	users int
}

// Lock waits for gun's lock; unlock releases it.
func (l *GUNLocks) Lock(gun string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*gunLock)
	}
	g := l.m[gun]
	if g == nil {
		g = &gunLock{}
		l.m[gun] = g
	}
	g.users++
	l.mu.Unlock()

	g.Lock()
	return func() {
		g.Unlock()
		l.mu.Lock()
		g.users--
		if g.users == 0 {
			delete(l.m, gun)
		}
		l.mu.Unlock()
	}
}

// refusing wraps the response to a request refused before its body was read.
// Before the refusal's header goes out it reads (a bounded part of) the body:
// notary and docker clients send "Connection: close", and a server that
// answers and closes while the client is still uploading makes the client
// report "broken pipe" instead of the refusal.
type refusing struct {
	http.ResponseWriter
	r *http.Request
}

// drainLimit bounds how much of a refused upload is read and discarded.
const drainLimit = 4 << 20

func (w refusing) WriteHeader(status int) {
	if w.r.Body != nil && w.r.Method != http.MethodGet && w.r.Method != http.MethodHead {
		io.CopyN(io.Discard, w.r.Body, drainLimit)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w refusing) Write(b []byte) (int, error) {
	return w.ResponseWriter.Write(b)
}

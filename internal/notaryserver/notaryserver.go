// Package notaryserver is trustdeck's embedded Notary v1 server: the HTTP API
// that notary and docker clients call under /v2/ to read and publish TUF trust
// data.
//
// It is composed from notary v0.7.0's exported pieces rather than from its
// package server (which would pin prometheus to v0.9): the read, key, delete
// and changefeed endpoints call notary's server/handlers, while the update
// endpoint is trustdeck's own, because notary's takes role names from
// multipart.Part.FileName, which since Go 1.17 drops the "targets/" of every
// delegation. The update is validated by the rules of notary-server (see
// validate.go) with notary's own TUF builder.
//
// Authentication and authorization belong to the caller (Authorizer), and so
// does what trustdeck records about each change (Hooks).
package notaryserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

func init() {
	// notary-server signs timestamps for 14 days and snapshots for 3 years,
	// not for TUF's shorter defaults. notary's package server sets this in its
	// init; we do not import it, so we set it here (the client package does
	// the same). The map is written once, before any request.
	data.SetDefaultExpiryTimes(data.NotaryDefaultExpiries)
}

// Authorizer decides who may do what. It is called once per request, before
// anything else happens.
type Authorizer interface {
	// Authorize checks that r may perform actions ("pull", "push", "*") on gun
	// ("" = global, e.g. the global changefeed or the /v2/ ping). If not, it
	// has written the 401/403 response itself and returns ok=false. actor
	// names the account.
	Authorize(w http.ResponseWriter, r *http.Request, gun string, actions ...string) (actor string, ok bool)
}

// RoleVersion names one metadata file written by an update.
type RoleVersion struct {
	Role    string
	Version int
}

// Hooks lets the caller guard and record changes of trust data.
type Hooks interface {
	// Admit is called for every GUN-scoped request after authorization
	// (catalog guard). write is true for updates (POST), deletes and key
	// rotation. Returning a *Refusal refuses the request with its status and a
	// notary-style JSON error; any other error answers 500.
	Admit(ctx context.Context, actor, gun string, write bool) error
	// Updated is called after a successful atomic update, with every role
	// written, including the snapshot and timestamp the server generated.
	Updated(ctx context.Context, actor, gun string, written []RoleVersion)
	// Deleted is called after a DELETE of a GUN's trust data.
	Deleted(ctx context.Context, actor, gun string)
	// Rotated is called after the server created a new key for role
	// ("timestamp" or "snapshot"). The client publishes a root listing it next.
	Rotated(ctx context.Context, actor, gun, role string)
}

// Refusal is the error Hooks.Admit returns to refuse a request. It is answered
// with Status and the body {"errors":[{"code":Code,"message":Message}]}.
type Refusal struct {
	Status  int
	Code    string
	Message string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("refused (%d %s): %s", r.Status, r.Code, r.Message)
}

// Config is what New needs.
type Config struct {
	// Store holds the TUF metadata. It must return notary's own error values
	// (storage.ErrNotFound{}, storage.ErrOldVersion{}, …) unwrapped.
	Store storage.MetaStore
	// Crypto holds the server-managed timestamp and snapshot keys. It must be
	// safe for concurrent use and should survive restarts.
	Crypto signed.CryptoService
	// KeyAlgorithm is the algorithm of new server keys; default data.ECDSAKey.
	KeyAlgorithm string
	// Auth authorizes every request. nil lets every request through with an
	// empty actor, like notary-server without auth.
	Auth Authorizer
	// Hooks is optional.
	Hooks Hooks
	// Logger receives a line per failed request (5xx at error level, others
	// at debug). Default slog.Default(). notary's own handlers log through
	// logrus as well.
	Logger *slog.Logger
	// MaxUploadBytes bounds the body of an update; default MaxUploadBytes.
	MaxUploadBytes int64
	// Locks serialise the writes to one GUN; share them with whatever must
	// not interleave with those writes. nil: the server's own.
	Locks *GUNLocks
	// Atomic, when set, runs fn in one transaction of the store that holds
	// gun's write lock across every process sharing the store, giving fn the
	// MetaStore that reads and writes in it: an update is validated against
	// the stored metadata and written inside, so replicas on one database
	// never interleave their writes of a GUN. It may run fn more than once
	// (fn has no effect outside the transaction) and may refuse on its own
	// (a *Refusal: a re-check of admission inside the lock). nil: fn runs
	// on Store, and Locks alone serialise the writers (of this process).
	Atomic func(ctx context.Context, gun string, fn func(storage.MetaStore) error) error
	// MetadataCacheBytes bounds the memory that keeps the metadata GETs
	// were answered with (see metaCache): 0 means
	// DefaultMetadataCacheBytes, a negative value turns the cache off. With
	// the cache on, write the Store only through this server.
	MetadataCacheBytes int
	// CurrentMaxAge and ConsistentMaxAge are the Cache-Control max-age of
	// current metadata (revalidated once stale) and of metadata by checksum
	// or version: 0 means notary-server's defaults (5 minutes and 30 days),
	// a negative value forbids caching ("max-age=0, no-cache, no-store").
	CurrentMaxAge, ConsistentMaxAge time.Duration
	// Observer, when set, is told of every request notary-server's
	// metrics count (see Operation).
	Observer Observer
}

func (cfg Config) cache() *metaCache {
	switch {
	case cfg.MetadataCacheBytes < 0:
		return nil
	case cfg.MetadataCacheBytes == 0:
		return newMetaCache(DefaultMetadataCacheBytes)
	}
	return newMetaCache(cfg.MetadataCacheBytes)
}

// Invalidator is implemented by the handler New returns: Invalidate(gun)
// forgets the metadata of gun it cached, when another process sharing the
// store wrote gun's trust data; Invalidate("") forgets every GUN's.
type Invalidator interface {
	Invalidate(gun string)
}

// MaxUploadBytes is the default limit of an update's body: notary clients
// refuse to download metadata larger than this (notary.MaxDownloadSize), so
// nothing larger can be useful to store.
const MaxUploadBytes = 100 << 20

// New returns the Notary v1 API as an http.Handler. It serves full paths
// starting with /v2/ (mount it there without stripping the prefix); any other
// path is answered 404.
func New(cfg Config) http.Handler {
	if cfg.Store == nil {
		panic("notaryserver: Config.Store is nil")
	}
	if cfg.Crypto == nil {
		panic("notaryserver: Config.Crypto is nil")
	}
	if cfg.KeyAlgorithm == "" {
		cfg.KeyAlgorithm = data.ECDSAKey
	}
	if cfg.Auth == nil {
		cfg.Auth = allowAll{}
	}
	if cfg.Hooks == nil {
		cfg.Hooks = noHooks{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = MaxUploadBytes
	}
	if cfg.Locks == nil {
		cfg.Locks = &GUNLocks{}
	}
	return newServer(cfg)
}

type allowAll struct{}

func (allowAll) Authorize(http.ResponseWriter, *http.Request, string, ...string) (string, bool) {
	return "", true
}

type noHooks struct{}

func (noHooks) Admit(context.Context, string, string, bool) error      { return nil }
func (noHooks) Updated(context.Context, string, string, []RoleVersion) {}
func (noHooks) Deleted(context.Context, string, string)                {}
func (noHooks) Rotated(context.Context, string, string, string)        {}

package app

// Several replicas on one database (issue 14): each replica follows the
// database's change log and forgets what its caches hold of the others'
// changes (staleness bound: cluster.PollInterval, and none for a write,
// which catches up first); the embedded Notary server checks and writes an
// update in one transaction holding the GUN's database lock; background
// work that must run once runs under a lease.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/theupdateframework/notary/server/storage"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/cluster"
	"github.com/trustdeck/trustdeck/internal/notaryserver"
	"github.com/trustdeck/trustdeck/internal/registry"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// Lease names of the background work that runs on one replica at a time.
const (
	LeaseChangefeed = "notary-changefeed" // discovery from an external Notary server
	LeaseRegistry   = "registry-resync"   // the periodic read of the registry
	LeasePrune      = "change-log-prune"  // pruning the change log
	// LeaseMigrations marks the migration runs of replicas that died
	// interrupted (each replica holds store.ReplicaLease while it lives).
	LeaseMigrations = "migration-recovery"
)

// gunAtomic is the embedded Notary server's Config.Atomic: an update is
// validated and written in one transaction holding the GUN's lock in the
// database, after checking (inside it) that the GUN's catalog entry still
// exists; the removal of an entry deletes it under the same lock only while
// the GUN has no trust data (store.DeleteRepository), so no replica can
// store trust data for a repository another replica just removed.
func gunAtomic(st *store.Store, cat *catalog.Service) func(context.Context, string, func(storage.MetaStore) error) error {
	return func(ctx context.Context, gun string, fn func(storage.MetaStore) error) error {
		return st.GUNTx(ctx, gun, func(tx *store.Tx) error {
			if ns, name, ok := cat.SplitGUN(gun); ok {
				exists, err := tx.RepositoryExists(ns, name)
				if err != nil {
					return err
				}
				if !exists {
					return &notaryserver.Refusal{Status: http.StatusNotFound, Code: "NAME_UNKNOWN",
						Message: fmt.Sprintf("repository %s/%s was removed from trustdeck while this update was on its way", ns, name)}
				}
			}
			return fn(tx.TUF())
		})
	}
}

// followed are the caches the change log keeps in step.
type followed struct {
	notary   interface{ ForgetNotaryGUN(gun string) } // nil with an external Notary server
	reader   *trust.Reader
	catalog  *catalog.Service
	accounts *accounts.Service
	registry *registry.Service // nil without a registry
}

// follow registers, for each topic of the change log, what this replica
// forgets when another replica changed it.
func follow(f *cluster.Follower, c followed) {
	// The reader checks each load against the timestamp it verified last
	// (and a new root against the one it trusted): an update needs only
	// the metadata cache dropped; a deletion makes it forget the GUN.
	f.On(store.TopicTUF, func(gun string) {
		if c.notary != nil {
			c.notary.ForgetNotaryGUN(gun)
		}
	})
	f.On(store.TopicTUFDeleted, func(gun string) {
		if c.notary != nil {
			c.notary.ForgetNotaryGUN(gun)
		}
		c.reader.Invalidate(gun)
	})
	f.On(store.TopicCatalog, func(key string) {
		if ns, name, ok := strings.Cut(key, "/"); ok {
			c.catalog.Forget(ns, name)
			c.reader.Invalidate(c.catalog.GUN(ns, name))
		}
	})
	f.On(store.TopicUser, c.accounts.UserChangedElsewhere)
	if c.registry != nil {
		f.On(store.TopicRegistry, func(key string) {
			if ns, name, ok := strings.Cut(key, "/"); ok {
				c.registry.Forget(ns, name)
			}
		})
	}
	f.OnReset(func() {
		// The log lost this replica's position (it was away longer than
		// the log is kept): forget whatever might have changed.
		c.catalog.ForgetAll()
		c.reader.InvalidateAll()
		if c.notary != nil {
			c.notary.ForgetNotaryGUN("")
		}
		if c.registry != nil {
			c.registry.ForgetAll()
		}
		c.accounts.UsersChangedElsewhere()
	})
}

// releaseDeadLocalReplicas gives up the liveness leases of earlier
// trustdeck processes on this host that no longer run (killed: their lease
// would hold for up to cluster.LeaseTTL), so that a restart after a crash
// finds their migration runs interrupted at once, as a single trustdeck
// always did. A process of the lease's ID that runs (perhaps another
// program that reuses the number) keeps it until it expires.
func (a *App) releaseDeadLocalReplicas(ctx context.Context) error {
	host, _ := os.Hostname()
	self := a.Store.ReplicaID()
	leases, err := a.Store.Leases(ctx)
	if err != nil {
		return err
	}
	for _, l := range leases {
		id, ok := strings.CutPrefix(l.Name, store.ReplicaLease(""))
		if !ok || id == self || id != l.Holder {
			continue
		}
		rest, _, ok := cutLast(id, "/")
		lhost, pidText, ok2 := cutLast(rest, "/")
		pid, err := strconv.Atoi(pidText)
		if !ok || !ok2 || err != nil || lhost != host || pid <= 0 {
			continue
		}
		if pid != os.Getpid() && syscall.Kill(pid, 0) != syscall.ESRCH {
			continue // runs, or cannot tell
		}
		if err := a.Store.ReleaseLease(ctx, l.Name, l.Holder); err != nil {
			return err
		}
	}
	return nil
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// recoverMigrations keeps this replica's liveness lease, and, on one
// replica at a time, marks interrupted the runs of replicas whose lease
// expired (killed: nobody else would), so they can be continued.
func (a *App) recoverMigrations() {
	a.exclusive(store.ReplicaLease(a.Store.ReplicaID()), func(ctx context.Context) { <-ctx.Done() })
	a.exclusive(LeaseMigrations, func(ctx context.Context) {
		t := time.NewTicker(cluster.LeaseRenew)
		defer t.Stop()
		for {
			if err := a.Migration.Recover(ctx); err != nil && ctx.Err() == nil {
				a.Log.Warn("migration: cannot mark the runs of stopped replicas interrupted", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// exclusive runs work under the lease name (cluster.Exclusive).
func (a *App) exclusive(name string, work func(context.Context)) {
	a.background = append(a.background, cluster.Exclusive(a.Store, name, a.Log, work))
}

// invalidatingEverywhere is a reader whose Invalidate is logged for the
// other replicas too: the changefeed poller invalidates a GUN an external
// server deleted, on the one replica that polls.
type invalidatingEverywhere struct {
	*trust.Reader
	st  *store.Store
	log *slog.Logger
}

func (r invalidatingEverywhere) Invalidate(gun string) {
	r.Reader.Invalidate(gun)
	if err := r.st.RecordChange(context.Background(), store.TopicTUFDeleted, gun); err != nil {
		r.log.Warn("cannot tell the other replicas about a change of trust data", "gun", gun, "err", err)
	}
}

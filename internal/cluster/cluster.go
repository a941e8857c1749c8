// Package cluster keeps the trustdeck replicas that share one database in
// step: each replica follows the database's change log and forgets what its
// caches hold of every change another replica wrote (Follower), and the
// background work that must run on one replica at a time runs where its
// lease is held (Exclusive).
//
// Staleness bound: a replica learns of another's write within PollInterval
// (250 ms) plus one query, and before it serves a write of its own (Sync),
// so a write never starts from what another replica already changed. Reads
// right after a write on the replica that wrote are fresh: the writer
// forgets its own caches before it answers.
package cluster

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
)

// PollInterval is how often a replica reads the change log's position.
const PollInterval = 250 * time.Millisecond

// pruneAfter is how long changes stay in the log: a replica that was away
// longer (a paused process) finds its position pruned and forgets all.
const pruneAfter = time.Hour

// batch is how many changes one read of the log takes.
const batch = 1000

// Log is the part of the store the Follower reads.
type Log interface {
	ReplicaID() string
	ChangeSeq(ctx context.Context) (int64, error)
	Changes(ctx context.Context, after int64, limit int) ([]store.Change, error)
	PruneChanges(ctx context.Context, before time.Time) (int64, error)
}

// Follower reads the change log and calls, for each change another
// replica wrote, the functions registered for its topic.
type Follower struct {
	log    Log
	logger *slog.Logger

	handlers map[string][]func(key string)
	resets   []func()

	mu   sync.Mutex // one catch-up at a time; guards last
	last int64
}

// NewFollower returns a Follower positioned at the newest change: what
// this replica caches from now on is read after it.
func NewFollower(ctx context.Context, l Log, logger *slog.Logger) (*Follower, error) {
	last, err := l.ChangeSeq(ctx)
	if err != nil {
		return nil, err
	}
	return &Follower{log: l, logger: logger, handlers: map[string][]func(string){}, last: last}, nil
}

// On registers fn for another replica's changes of topic (store.Topic*).
// Register before Run.
func (f *Follower) On(topic string, fn func(key string)) {
	f.handlers[topic] = append(f.handlers[topic], fn)
}

// OnReset registers fn to forget everything: the log was pruned beyond
// this replica's position, so it cannot tell what changed.
func (f *Follower) OnReset(fn func()) { f.resets = append(f.resets, fn) }

// Sync reads the changes since the last Sync and applies them. It costs one
// query by primary key when nothing changed.
func (f *Follower) Sync(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	seq, err := f.log.ChangeSeq(ctx)
	if err != nil || seq <= f.last {
		return err
	}
	me := f.log.ReplicaID()
	for f.last < seq {
		changes, err := f.log.Changes(ctx, f.last, batch)
		if err != nil {
			return err
		}
		if len(changes) == 0 || changes[0].Seq != f.last+1 {
			// Pruned (or not yet visible: a position from the future
			// cannot be, the counter commits with its change).
			f.logger.Warn("cluster: the change log was pruned past this replica's position; forgetting every cache",
				"position", f.last, "newest", seq)
			for _, r := range f.resets {
				r()
			}
			f.last = seq
			return nil
		}
		for _, c := range changes {
			if c.Origin != me {
				for _, h := range f.handlers[c.Topic] {
					h(c.Key)
				}
			}
			f.last = c.Seq
		}
	}
	return nil
}

// Run syncs every PollInterval until ctx ends.
func (f *Follower) Run(ctx context.Context) {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := f.Sync(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			f.logger.Error("cluster: cannot read the change log; caches may serve other replicas' changes late", "err", err)
		case err == nil && failing:
			f.logger.Info("cluster: reading the change log again")
		}
		failing = err != nil
	}
}

// Prune deletes the changes older than an hour, every ten minutes until ctx
// ends (run it under a lease: one replica is enough).
func (f *Follower) Prune(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if _, err := f.log.PruneChanges(ctx, time.Now().Add(-pruneAfter)); err != nil && ctx.Err() == nil {
			f.logger.Warn("cluster: prune the change log", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

package cluster

import (
	"context"
	"log/slog"
	"time"
)

// Lease timing: a lease is taken for LeaseTTL and renewed every
// LeaseRenew; a replica that does not hold it tries every LeaseRenew. When
// the holder dies (kill -9), another takes the work over within
// LeaseTTL+LeaseRenew (20 s). The holder stops its work as soon as a renewal
// fails, before the lease can expire.
const (
	LeaseTTL   = 15 * time.Second
	LeaseRenew = 5 * time.Second
)

// Leases is the part of the store leases need.
type Leases interface {
	ReplicaID() string
	TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Exclusive returns a background function that runs work only while this
// replica holds the lease name: work's context ends when the lease is lost
// or the background function's context ends (then the lease is released so
// another replica takes over at once). work may be started again later.
func Exclusive(st Leases, name string, log *slog.Logger, work func(ctx context.Context)) func(context.Context) {
	return func(ctx context.Context) {
		holder := st.ReplicaID()
		var (
			running bool
			stop    context.CancelFunc
			done    chan struct{} // closed when work returns
		)
		end := func(why string) {
			if !running {
				return
			}
			stop()
			<-done
			running = false
			log.Info("lease given up: the work stopped here", "lease", name, "replica", holder, "why", why)
		}
		t := time.NewTicker(LeaseRenew)
		defer t.Stop()
		for {
			ok, err := st.TakeLease(ctx, name, holder, LeaseTTL)
			switch {
			case ctx.Err() != nil:
			case err != nil:
				log.Warn("lease: cannot take or renew", "lease", name, "err", err)
				end("renewal failed")
			case !ok:
				end("held by another replica")
			case !running:
				wctx, cancel := context.WithCancel(ctx)
				stop, done = cancel, make(chan struct{})
				running = true
				log.Info("lease taken: the work runs on this replica", "lease", name, "replica", holder)
				go func() {
					defer close(done)
					work(wctx)
				}()
			}
			select {
			case <-ctx.Done():
				end("shutting down") // waits for work to return
				rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				st.ReleaseLease(rctx, name, holder)
				cancel()
				return
			case <-done:
				// The work ended by itself: it starts again at the next
				// renewal, as long as the lease is held.
				stop()
				running, done = false, nil
			case <-t.C:
			}
		}
	}
}

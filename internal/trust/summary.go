package trust

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
)

// SummaryStore is what the summarizer needs from the store.
type SummaryStore interface {
	PutTrustSummary(ctx context.Context, namespace, name string, t store.TrustSummary) error
	LastTargetsChange(ctx context.Context, gun string) (time.Time, error)
	ReposWithoutSummary(ctx context.Context) ([]store.Repository, error)
	RepositoryNames(ctx context.Context) ([][2]string, error)
}

// Summarizer keeps each repository's trust summary (state, signed tags,
// signers, nearest expiry, last signed) current, so the repository list never
// loads the metadata of every repository. Refreshes run in one background
// worker; a GUN queued several times is refreshed once.
type Summarizer struct {
	reader *Reader
	st     SummaryStore
	gunOf  func(namespace, name string) string
	log    *slog.Logger
	now    func() time.Time

	// refreshed, if set, runs after each refresh (see OnRefresh).
	refreshed func(ctx context.Context, namespace, name string, repo *Repo, err error)

	mu      sync.Mutex
	pending map[[2]string]bool
	wake    chan struct{}
	idle    *sync.Cond
	busy    bool
}

// NewSummarizer returns a summarizer; call Run to start its worker.
func NewSummarizer(reader *Reader, st SummaryStore, gunOf func(namespace, name string) string, log *slog.Logger) *Summarizer {
	s := &Summarizer{reader: reader, st: st, gunOf: gunOf, log: log, now: time.Now,
		pending: map[[2]string]bool{}, wake: make(chan struct{}, 1)}
	s.idle = sync.NewCond(&s.mu)
	return s
}

// OnRefresh has fn run after every refresh of a repository's summary with
// the trust data it was computed from (LoadLenient's result: repo nil and
// err ErrNoTrustData without trust data), so that what else depends on the
// trust data (the registry's tag counts) follows every change. Call it
// before Run.
func (s *Summarizer) OnRefresh(fn func(ctx context.Context, namespace, name string, repo *Repo, err error)) {
	s.refreshed = fn
}

// Enqueue asks for namespace/name to be refreshed soon.
func (s *Summarizer) Enqueue(namespace, name string) {
	s.mu.Lock()
	s.pending[[2]string{namespace, name}] = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// EnqueueAll queues every catalog repository, for when the Notary server's
// data may have changed wholesale (its changefeed started again).
func (s *Summarizer) EnqueueAll(ctx context.Context) {
	all, err := s.st.RepositoryNames(ctx)
	if err != nil {
		s.log.Error("list repositories to refresh their trust summaries", "err", err)
		return
	}
	for _, n := range all {
		s.Enqueue(n[0], n[1])
	}
}

// Run refreshes queued repositories until ctx ends. It first queues every
// catalog entry that has no summary yet (new databases, upgrades).
func (s *Summarizer) Run(ctx context.Context) {
	if missing, err := s.st.ReposWithoutSummary(ctx); err != nil {
		s.log.Error("list repositories without trust summary", "err", err)
	} else {
		for _, r := range missing {
			s.Enqueue(r.Namespace, r.Name)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			var next [2]string
			found := false
			for k := range s.pending {
				next, found = k, true
				delete(s.pending, k)
				break
			}
			s.busy = found
			if !found {
				s.idle.Broadcast()
			}
			s.mu.Unlock()
			if !found {
				break
			}
			if err := s.Refresh(ctx, next[0], next[1]); err != nil && ctx.Err() == nil {
				s.log.Error("refresh trust summary", "repository", next[0]+"/"+next[1], "err", err)
			}
		}
	}
}

// Wait blocks until nothing is queued or being refreshed (for tests and
// shutdown).
func (s *Summarizer) Wait() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.busy || len(s.pending) > 0 {
		s.idle.Wait()
	}
}

// Refresh recomputes and stores one repository's summary now.
func (s *Summarizer) Refresh(ctx context.Context, namespace, name string) error {
	gun := s.gunOf(namespace, name)
	repo, loadErr := s.reader.LoadLenient(ctx, gun)
	sum := s.compute(ctx, gun, repo, loadErr)
	err := s.st.PutTrustSummary(ctx, namespace, name, sum)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the repository was removed meanwhile
	}
	if err == nil && s.refreshed != nil {
		s.refreshed(ctx, namespace, name, repo, loadErr)
	}
	return err
}

// LoadLenient is Load, except that trust data that is sound but expired is
// returned as it is (LoadAllowingExpiry): docker refuses it, but what it
// signed is still what it signed. The summaries and the registry's tag
// states read trust data this way.
func (r *Reader) LoadLenient(ctx context.Context, gun string) (*Repo, error) {
	repo, err := r.Load(ctx, gun)
	if errors.Is(err, ErrExpired) {
		if all, aerr := r.LoadAllowingExpiry(ctx, gun); aerr == nil {
			repo, err = all, nil
		}
	}
	return repo, err
}

func (s *Summarizer) compute(ctx context.Context, gun string, repo *Repo, err error) store.TrustSummary {
	// Expired trust data comes as it is (LoadLenient): its nearest expiry is
	// the expired role's, in the past.
	if errors.Is(err, ErrNoTrustData) {
		return store.TrustSummary{State: "none"}
	}
	if err != nil {
		return store.TrustSummary{State: "error", Error: err.Error()}
	}
	res := repo.Inspect(gun, "")
	tags := map[string]bool{}
	for _, t := range res.SignedTags {
		tags[t.SignedTag] = true
	}
	sum := store.TrustSummary{State: "unsigned", SignedTags: len(tags), Signers: len(res.Signers)}
	if len(tags) > 0 {
		sum.State = "signed"
	}
	for _, e := range repo.Expiries(s.now()) {
		if e.AutoRenewed {
			continue
		}
		if sum.NearestExpiry.IsZero() || e.Expires.Before(sum.NearestExpiry) {
			sum.NearestExpiry, sum.NearestExpiryRole = e.Expires, e.Role
		}
	}
	sum.LastSigned, err = s.st.LastTargetsChange(ctx, gun)
	if err != nil {
		s.log.Error("last targets change", "gun", gun, "err", err)
	}
	return sum
}

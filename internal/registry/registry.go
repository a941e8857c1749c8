// Package registry is the service that keeps trustdeck's view of the
// registry serving the images <registry host>/<namespace>/<name>: every
// catalog repository's tags and their digests (internal/registryclient
// reads them), kept in the store, compared with the trust data by
// trust.TagStates, and counted for the repository list.
//
// It stays current three ways: a sync of every repository at start and every
// --registry-sync-interval (with the registry's catalog, whose repositories
// enter trustdeck's catalog through discovery.Enter); the registry's
// notifications (Apply), which update the affected tags at once; and reads
// (Tags), which answer from the store and refresh in the background a
// repository read more than RefreshAfter ago. Only a repository never read
// waits, once and for FirstReadTimeout at most. The counts follow every
// change of the tags and of the trust data (TrustChanged, hooked to the
// trust summaries).
//
// When the registry cannot be read, the last known tags stay, with the time
// they were read, the failure's cause and since when it fails: every tag's
// state is then "unknown". The next successful read ends it; no restart is
// needed.
package registry

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/discovery"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/registryclient"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// Audit source and actor of repositories the registry brought in.
const (
	CreatedBy     = "registry"
	SourceCatalog = "registry-catalog"
	SourceEvents  = "registry-events"
)

// Defaults of Config.
const (
	DefaultFirstReadTimeout = 10 * time.Second
	DefaultRefreshAfter     = 30 * time.Second
	DefaultWorkers          = 4
)

// Client is the registry as the service reads it (*registryclient.Client).
type Client interface {
	URL() string
	Tags(ctx context.Context, repository string) ([]string, error)
	Head(ctx context.Context, repository, reference, etag string) (registryclient.Head, error)
	Manifest(ctx context.Context, repository, reference string) (registryclient.Manifest, error)
	Catalog(ctx context.Context) ([]string, error)
}

// Store keeps the registry's state (*store.Store).
type Store interface {
	RegistryState(ctx context.Context, namespace, name string) (*store.RegistryState, error)
	SaveRegistryTags(ctx context.Context, namespace, name string, tags []store.RegistryTag, absent []string, at time.Time) error
	ChangeRegistryTags(ctx context.Context, namespace, name string, put []store.RegistryTag, deleted, deletedDigests []string) error
	RegistryFailed(ctx context.Context, namespace, name, cause string, at time.Time) error
	PutRegistryCounts(ctx context.Context, namespace, name string, c store.RegistryCounts) error
	RepositoryNames(ctx context.Context) ([][2]string, error)
	RepositoryStamp(ctx context.Context, namespace, name string) (string, error)
}

// Catalog is the part of the catalog the service uses (*catalog.Service).
type Catalog interface {
	discovery.EntryCatalog
	SplitGUN(gun string) (namespace, name string, ok bool)
	GUN(namespace, name string) string
	RegistryHost() string
}

// Trust reads trust data (*trust.Reader).
type Trust interface {
	LoadLenient(ctx context.Context, gun string) (*trust.Repo, error)
}

// Summaries queues trust summaries of repositories entered (*trust.Summarizer).
type Summaries interface {
	Enqueue(namespace, name string)
}

// Config is what a Service needs.
type Config struct {
	Client    Client
	Store     Store
	Catalog   Catalog
	Trust     Trust
	Audit     discovery.Auditor
	Summaries Summaries // optional
	// Interval is how often every repository is read again.
	Interval time.Duration
	// FirstReadTimeout bounds how long a read of a repository never read
	// before waits for the registry.
	FirstReadTimeout time.Duration
	// RefreshAfter is how old a repository's last read may be before a
	// read (a page, the API) refreshes it in the background.
	RefreshAfter time.Duration
	// Workers bounds the repositories read at once (their requests are
	// bounded by the client: 16 in flight per registry).
	Workers int
	Log     *slog.Logger
}

// Service keeps the registry's state. Run it in the background.
type Service struct {
	cfg     Config
	states  *stateCache // cfg.Store, keeping the registry states read
	now     func() time.Time
	ctx     context.Context // ends when Run ends: background refreshes
	stop    context.CancelFunc
	wg      sync.WaitGroup
	workers chan struct{}

	// tagsChanged is told of tags read or notified (OnTagsChanged).
	tagsChanged func(namespace, name string, tags []store.RegistryTag, full bool)

	mu         sync.Mutex
	inflight   map[[2]string]chan struct{}
	again      map[[2]string]bool // reads to run once more (see changedDuringRead)
	status     Status
	skipped    map[string]bool
	lastReport string
}

// Status is the registry connection as the pages may show it.
type Status struct {
	URL      string
	Interval time.Duration
	// LastSync is when the last sync of every repository ended; Error the
	// catalog's failure in it ("" when the catalog was read).
	LastSync time.Time
	Error    string
	// Discovered counts the repositories the registry brought into the
	// catalog since trustdeck started.
	Discovered int
}

// New returns a Service; call Run.
func New(cfg Config) *Service {
	if cfg.FirstReadTimeout <= 0 {
		cfg.FirstReadTimeout = DefaultFirstReadTimeout
	}
	if cfg.RefreshAfter <= 0 {
		cfg.RefreshAfter = DefaultRefreshAfter
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	states := newStateCache(cfg.Store)
	cfg.Store = states
	s := &Service{cfg: cfg, states: states, now: time.Now, workers: make(chan struct{}, cfg.Workers),
		inflight: map[[2]string]chan struct{}{}, again: map[[2]string]bool{}, skipped: map[string]bool{}}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.status = Status{URL: cfg.Client.URL(), Interval: cfg.Interval}
	return s
}

// Status reports the last sync.
func (s *Service) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Run syncs every repository now and every Interval until ctx ends; then it
// stops the background refreshes and waits for them.
func (s *Service) Run(ctx context.Context) {
	defer s.Close()
	s.Resync(ctx)
}

// Close stops the background refreshes (of notifications and reads) and
// waits for them.
func (s *Service) Close() {
	s.stop()
	s.wg.Wait()
}

// Forget drops what the service keeps in memory of namespace/name's
// registry state: another replica sharing the database wrote it.
func (s *Service) Forget(namespace, name string) {
	s.states.forget(namespace, name)
}

// ForgetAll drops every registry state the service keeps in memory.
func (s *Service) ForgetAll() {
	s.states.forgetAll()
}

// Resync syncs every repository now and every Interval until ctx ends (the
// periodic work of Run, without stopping the service: with several
// replicas it runs on one of them at a time).
func (s *Service) Resync(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		s.SyncAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SyncAll enters the registry's catalog into trustdeck's, then reads every
// catalog repository under the registry host, Workers at a time.
func (s *Service) SyncAll(ctx context.Context) {
	catalogErr := s.discover(ctx)
	all, err := s.cfg.Store.RepositoryNames(ctx)
	if err != nil {
		s.cfg.Log.Error("registry: list the catalog", "err", err)
		return
	}
	sem := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	for _, n := range all {
		if n[0] == names.Foreign {
			continue // not an image of the registry host
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		done := s.refresh(n[0], n[1])
		wg.Go(func() {
			select {
			case <-done:
			case <-ctx.Done():
			}
			<-sem
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	msg := ""
	if catalogErr != nil {
		msg = catalogErr.Error()
	}
	s.mu.Lock()
	s.status.LastSync, s.status.Error = s.now(), msg
	report := msg != s.lastReport
	s.lastReport = msg
	s.mu.Unlock()
	switch {
	case report && msg != "":
		s.cfg.Log.Warn("registry: cannot read the catalog; repositories can still be added by hand", "registry", s.cfg.Client.URL(), "err", msg)
	case report:
		s.cfg.Log.Info("registry: reading the catalog again", "registry", s.cfg.Client.URL())
	}
}

// discover enters every repository of the registry's catalog under the
// registry host into trustdeck's catalog.
func (s *Service) discover(ctx context.Context) error {
	repos, err := s.cfg.Client.Catalog(ctx)
	if err != nil {
		return err
	}
	for _, repo := range repos {
		if _, err := s.enter(ctx, repo, SourceCatalog, "discovered in the registry's catalog ("+s.cfg.Client.URL()+")"); err != nil {
			return err
		}
	}
	return nil
}

// enter puts the registry's repository into the catalog (audited once). It
// reports its catalog name, ok false for a name trustdeck cannot hold
// (logged once).
func (s *Service) enter(ctx context.Context, repository, source, detail string) ([2]string, error) {
	gun := s.cfg.Catalog.RegistryHost() + "/" + repository
	ns, name, ok := s.cfg.Catalog.SplitGUN(gun)
	if !ok || ns == names.Foreign {
		s.mu.Lock()
		first := !s.skipped[repository]
		s.skipped[repository] = true
		s.mu.Unlock()
		if first {
			s.cfg.Log.Info("registry: skipping a repository that is not named <namespace>/<name> (not shown in trustdeck)",
				"repository", repository)
		}
		return [2]string{}, nil
	}
	created, err := discovery.Enter(ctx, s.cfg.Catalog, s.cfg.Audit, discovery.Entry{GUN: gun, Namespace: ns, Name: name,
		CreatedBy: CreatedBy, Source: source, Detail: detail})
	if err != nil {
		return [2]string{}, err
	}
	if created {
		s.mu.Lock()
		s.status.Discovered++
		s.mu.Unlock()
		s.cfg.Log.Info("registry: repository discovered", "repository", names.Display(ns, name), "source", source)
		if s.cfg.Summaries != nil {
			s.cfg.Summaries.Enqueue(ns, name)
		}
	}
	return [2]string{ns, name}, nil
}

// refresh reads namespace/name from the registry in the background (once,
// however many ask meanwhile); the channel closes when it is done.
func (s *Service) refresh(namespace, name string) <-chan struct{} {
	key := [2]string{namespace, name}
	s.mu.Lock()
	defer s.mu.Unlock()
	if done, ok := s.inflight[key]; ok {
		return done
	}
	done := make(chan struct{})
	s.inflight[key] = done
	s.wg.Go(func() {
		defer close(done)
		select {
		case s.workers <- struct{}{}:
		case <-s.ctx.Done():
			s.mu.Lock()
			delete(s.inflight, key)
			delete(s.again, key)
			s.mu.Unlock()
			return
		}
		defer func() { <-s.workers }()
		for {
			if err := s.Sync(s.ctx, namespace, name); err != nil && s.ctx.Err() == nil {
				s.cfg.Log.Error("registry: store the tags of a repository", "repository", names.Display(namespace, name), "err", err)
			}
			// A notification applied while the read was under way may be
			// older than what the read stored, or newer: read once more.
			s.mu.Lock()
			if s.again[key] && s.ctx.Err() == nil {
				delete(s.again, key)
				s.mu.Unlock()
				continue
			}
			delete(s.again, key)
			delete(s.inflight, key)
			s.mu.Unlock()
			return
		}
	})
	return done
}

// changedDuringRead notes that namespace/name's registry state was changed
// by a notification: a read under way then reads again when it is done (its
// listing may predate the change it would overwrite).
func (s *Service) changedDuringRead(key [2]string) {
	s.mu.Lock()
	if _, ok := s.inflight[key]; ok {
		s.again[key] = true
	}
	s.mu.Unlock()
}

// OnTagsChanged registers f (call it before Run): it is told of a
// repository's tags after each read (full: every tag, signature tags
// included) and after notifications (the tags pushed, and those deleted
// with no digest). f must not block: the migration queues signature reads
// from it.
func (s *Service) OnTagsChanged(f func(namespace, name string, tags []store.RegistryTag, full bool)) {
	s.tagsChanged = f
}

// Sync reads namespace/name's tags from the registry now and stores them,
// or the failure. It returns only the store's errors: the registry's are
// recorded as the repository's state.
func (s *Service) Sync(ctx context.Context, namespace, name string) error {
	prev, err := s.cfg.Store.RegistryState(ctx, namespace, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil // removed meanwhile
	}
	if err != nil {
		return err
	}
	repository := namespace + "/" + name
	tags, err := s.read(ctx, repository, prev)
	var rows []trust.InspectTag
	var absent []string
	var trustErr error
	if err == nil {
		rows, trustErr = s.signedRows(ctx, namespace, name)
		if trustErr == nil {
			absent, err = s.absent(ctx, repository, rows, tags)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil // shutting down: not the registry's failure
		}
		err = s.cfg.Store.RegistryFailed(ctx, namespace, name, Cause(err), s.now())
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	err = s.cfg.Store.SaveRegistryTags(ctx, namespace, name, tags, absent, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err == nil && s.tagsChanged != nil {
		s.tagsChanged(namespace, name, tags, true)
	}
	if err != nil || trustErr != nil {
		return err // without trust data to compare with, the counts stay
	}
	return s.count(ctx, namespace, name, rows, tags, absent)
}

// Cause is the words a page shows for a failure to read the registry.
func Cause(err error) string {
	var e *registryclient.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "the registry could not be read: " + err.Error()
}

// read lists repository's tags and resolves each (MaxInFlight at a time,
// conditionally on what prev holds), with an index's platforms.
func (s *Service) read(ctx context.Context, repository string, prev *store.RegistryState) ([]store.RegistryTag, error) {
	listed, err := s.cfg.Client.Tags(ctx, repository)
	if err != nil {
		return nil, err
	}
	known := make(map[string]store.RegistryTag, len(prev.Tags))
	platforms := map[string][]string{} // by digest
	for _, t := range prev.Tags {
		known[t.Tag] = t
		if t.Platforms != nil {
			platforms[t.Digest] = t.Platforms
		}
	}
	out := make([]store.RegistryTag, len(listed))
	found := make([]bool, len(listed))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, registryclient.MaxInFlight)
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
		mu.Unlock()
	}
	for i, tag := range listed {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			old, had := known[tag]
			etag := ""
			if had {
				etag = old.ETag
			}
			h, err := s.cfg.Client.Head(ctx, repository, tag, etag)
			if err != nil {
				fail(err)
				return
			}
			switch {
			case !h.Found:
				return // deleted since it was listed
			case h.NotModified:
				out[i], found[i] = old, true
				return
			}
			t := store.RegistryTag{Tag: tag, Digest: h.Digest, MediaType: h.MediaType, ETag: h.ETag}
			if registryclient.IsIndex(h.MediaType) {
				mu.Lock()
				p, ok := platforms[h.Digest]
				mu.Unlock()
				if !ok {
					m, err := s.cfg.Client.Manifest(ctx, repository, h.Digest)
					if err != nil {
						fail(err)
						return
					}
					p = m.Platforms
					mu.Lock()
					platforms[h.Digest] = p
					mu.Unlock()
				}
				t.Platforms = p
			}
			out[i], found[i] = t, true
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tags := make([]store.RegistryTag, 0, len(out))
	for i := range out {
		if found[i] {
			tags = append(tags, out[i])
		}
	}
	return tags, nil
}

// signedRows are docker's signed rows of the repository (none without
// trust data).
func (s *Service) signedRows(ctx context.Context, namespace, name string) ([]trust.InspectTag, error) {
	gun := s.cfg.Catalog.GUN(namespace, name)
	repo, err := s.cfg.Trust.LoadLenient(ctx, gun)
	return rowsOf(gun, repo, err)
}

func rowsOf(gun string, repo *trust.Repo, err error) ([]trust.InspectTag, error) {
	switch {
	case errors.Is(err, trust.ErrNoTrustData):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return repo.Inspect(gun, "").SignedTags, nil
}

// absent asks the registry for the signed digest of every drifted tag: one
// it does not hold makes the tag missing (DCT clients cannot pull it).
func (s *Service) absent(ctx context.Context, repository string, rows []trust.InspectTag, tags []store.RegistryTag) ([]string, error) {
	var out []string
	for _, st := range trust.TagStates(rows, trust.RegistryState{Known: true, Tags: registryTags(tags)}) {
		if st.State != trust.TagDrifted || st.SignedDigest == "" || slices.Contains(out, st.SignedDigest) {
			continue
		}
		h, err := s.cfg.Client.Head(ctx, repository, st.SignedDigest, "")
		if err != nil {
			return nil, err
		}
		if !h.Found {
			out = append(out, st.SignedDigest)
		}
	}
	return out, nil
}

func registryTags(tags []store.RegistryTag) []trust.RegistryTag {
	out := make([]trust.RegistryTag, len(tags))
	for i, t := range tags {
		out[i] = trust.RegistryTag{Name: t.Tag, Digest: t.Digest, Platforms: t.Platforms}
	}
	return out
}

// count stores the tag states counted.
func (s *Service) count(ctx context.Context, namespace, name string, rows []trust.InspectTag, tags []store.RegistryTag, absent []string) error {
	c := trust.CountTagStates(trust.TagStates(rows, trust.RegistryState{Known: true, Tags: registryTags(tags), Absent: absent}))
	return s.cfg.Store.PutRegistryCounts(ctx, namespace, name, store.RegistryCounts{Signed: c.Signed, Unsigned: c.Unsigned,
		Drifted: c.Drifted, Missing: c.Missing})
}

// recount counts namespace/name's stored tags again against rows; nothing
// before the registry was first read.
func (s *Service) recount(ctx context.Context, namespace, name string, rows []trust.InspectTag) error {
	st, err := s.cfg.Store.RegistryState(ctx, namespace, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || st.CheckedAt.IsZero() {
		return err
	}
	return s.count(ctx, namespace, name, rows, st.Tags, st.Absent)
}

// TrustChanged counts namespace/name's tag states again after its trust
// data changed (trust.Summarizer.OnRefresh): repo and err are what the
// summary was computed from.
func (s *Service) TrustChanged(ctx context.Context, namespace, name string, repo *trust.Repo, err error) {
	if namespace == names.Foreign {
		return
	}
	gun := s.cfg.Catalog.GUN(namespace, name)
	rows, err := rowsOf(gun, repo, err)
	if err != nil {
		return // unreadable trust data: the last counts stay
	}
	if err := s.recount(ctx, namespace, name, rows); err != nil && ctx.Err() == nil {
		s.cfg.Log.Error("registry: count tag states", "repository", names.Display(namespace, name), "err", err)
	}
}

// Tags is a repository's tags, from the registry and the trust data.
type Tags struct {
	// Registry is the registry's URL.
	Registry string
	// Known is set when the registry's last read of the repository
	// succeeded: the states are current. Otherwise every state is
	// trust.TagUnknown.
	Known bool
	// CheckedAt is the last successful read (zero: never), UnknownSince
	// the first failure since (zero while reads succeed), Error its cause.
	CheckedAt    time.Time
	UnknownSince time.Time
	Error        string
	// States are every tag, signed or in the registry, in natural order.
	States []trust.TagState
	Counts trust.TagCounts
}

// Tags returns namespace/name's tags with their states. It answers from
// the store: a repository read before is refreshed in the background when
// its last read is older than RefreshAfter; one never read is read now,
// waiting FirstReadTimeout at most (then its state is unknown until the read
// in the background ends). Errors are the trust data's (errs kinds) or the
// catalog's (NotFound).
func (s *Service) Tags(ctx context.Context, namespace, name string) (*Tags, error) {
	st, err := s.cfg.Store.RegistryState(ctx, namespace, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.NotFoundf("repository_not_found", "There is no repository %s.", names.Display(namespace, name))
	}
	if err != nil {
		return nil, err
	}
	switch {
	case st.CheckedAt.IsZero() && st.FailingSince.IsZero(): // never read (notifications alone are not all its tags)
		done := s.refresh(namespace, name)
		timer := time.NewTimer(s.cfg.FirstReadTimeout)
		select {
		case <-done:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		if st, err = s.cfg.Store.RegistryState(ctx, namespace, name); err != nil {
			return nil, err
		}
		if st.CheckedAt.IsZero() && st.FailingSince.IsZero() {
			st.Error = "the registry did not answer within " + s.cfg.FirstReadTimeout.String() + "; still reading it in the background"
			st.FailingSince = s.now()
		}
	case s.now().Sub(st.AttemptedAt) >= s.cfg.RefreshAfter:
		s.refresh(namespace, name)
	}
	rows, err := s.signedRows(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	known := !st.CheckedAt.IsZero() && st.FailingSince.IsZero()
	t := &Tags{Registry: s.cfg.Client.URL(), Known: known, CheckedAt: st.CheckedAt, UnknownSince: st.FailingSince, Error: st.Error}
	t.States = trust.TagStates(rows, trust.RegistryState{Known: known, Tags: registryTags(st.Tags), Absent: st.Absent})
	t.Counts = trust.CountTagStates(t.States)
	return t, nil
}

// Untracked is the tags of a repository when trustdeck reads no registry:
// the signed rows, each of state trust.TagUnknown.
func Untracked(gun string, repo *trust.Repo, err error) ([]trust.TagState, error) {
	rows, err := rowsOf(gun, repo, err)
	if err != nil {
		return nil, err
	}
	return trust.TagStates(rows, trust.RegistryState{}), nil
}

// ensure the catalog service satisfies Catalog.
var _ Catalog = (*catalog.Service)(nil)

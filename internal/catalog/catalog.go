// Package catalog is the service for the repository catalog: which
// repositories exist, their names and their Notary GUNs.
package catalog

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/lru"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/store"
)

// PageSize is the number of repositories per page.
const PageSize = 25

// Repository is a catalog entry with its GUN.
type Repository struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	GUN       string    `json:"gun"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	// Foreign marks a GUN outside <registry host>/<namespace>/<name>, found
	// on an external Notary server: its Namespace is names.Foreign and its
	// Name is the whole GUN.
	Foreign bool `json:"foreign,omitempty"`
	// Trust is the repository's trust summary (lists only; nil until the
	// first summary was computed).
	Trust *TrustState `json:"trust,omitempty"`
	// Registry is the repository's tags in the registry, counted by state
	// (lists only; nil without --registry-url or until the registry was
	// first read for it).
	Registry *RegistryCounts `json:"registry,omitempty"`
}

// RegistryCounts are a repository's registry tags counted by state (see
// trust.TagStates), as of the last read of the registry.
type RegistryCounts struct {
	Tags     int `json:"tags"`
	Signed   int `json:"signed"`
	Unsigned int `json:"unsigned"`
	Drifted  int `json:"drifted"`
	Missing  int `json:"missing"`
	// CheckedAt is the last successful read (nil: none yet).
	CheckedAt *time.Time `json:"checked_at"`
	// UnknownSince is set while the registry cannot be read: the first
	// failure since the last success, with Error its cause; the counts are
	// then the last known.
	UnknownSince *time.Time `json:"unknown_since,omitempty"`
	Error        string     `json:"error,omitempty"`
}

// TrustState is a repository's trust summary.
type TrustState struct {
	State             string     `json:"state"` // none, unsigned, signed, error
	SignedTags        int        `json:"signed_tags"`
	Signers           int        `json:"signers"`
	NearestExpiry     *time.Time `json:"nearest_expiry,omitempty"`
	NearestExpiryRole string     `json:"nearest_expiry_role,omitempty"`
	LastSigned        *time.Time `json:"last_signed,omitempty"`
	Error             string     `json:"error,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// FullName is "namespace/name", or the GUN of a foreign repository.
func (r Repository) FullName() string { return names.Display(r.Namespace, r.Name) }

// Path is the repository's page, /repositories/<namespace>/<name>.
func (r Repository) Path() string { return names.RepoPath(r.Namespace, r.Name) }

// Page is one page of a listing.
type Page struct {
	Repositories []Repository
	Total        int
	Page         int
	Pages        int
}

// Service implements the catalog on the store.
type Service struct {
	st           *store.Store
	registryHost string
	foreign      bool

	// guns caches LookupGUN; Create and Delete invalidate it. gen counts
	// those changes, so that a lookup that read the store before one of
	// them does not cache what it read.
	guns *lru.Cache[string, GUNEntry]
	gen  atomic.Uint64
}

// CachedGUNs bounds how many GUNs LookupGUN remembers.
const CachedGUNs = 16384

// New returns the catalog; registryHost is the host in image names.
func New(st *store.Store, registryHost string) *Service {
	return &Service{st: st, registryHost: registryHost, guns: lru.New[string, GUNEntry](CachedGUNs, nil)}
}

// ListForeign makes the catalog accept foreign repositories: GUNs that are
// docker repository names but not <registry host>/<namespace>/<name>. It is
// for an external Notary server, which holds whatever GUNs its clients
// pushed; the embedded server only serves the registry host's GUNs.
func (s *Service) ListForeign() { s.foreign = true }

// AcceptsForeign reports whether ListForeign was called.
func (s *Service) AcceptsForeign() bool { return s.foreign }

// ParseGUN returns the catalog namespace and name of a GUN someone typed,
// or an Invalid error saying which GUNs this catalog holds.
func (s *Service) ParseGUN(gun string) (namespace, name string, err error) {
	gun = strings.TrimSpace(gun)
	if namespace, name, ok := s.SplitGUN(gun); ok {
		return namespace, name, nil
	}
	if err := names.GUN(gun); err != nil {
		return "", "", err
	}
	return "", "", errs.Invalidf("invalid_gun", "%s is not a GUN of this trustdeck: they look like %s/<namespace>/<name>.", gun, s.registryHost)
}

// validName checks namespace/name is a name this catalog can hold.
func (s *Service) validName(namespace, name string) error {
	if namespace != names.Foreign {
		if err := names.Repository(namespace, name); err != nil {
			return err
		}
		// The whole GUN is a docker name too: its length counts the host.
		return names.GUN(s.GUN(namespace, name))
	}
	if !s.foreign {
		return errs.Invalidf("invalid_name", "Repositories outside %s are listed only in front of an external Notary server.", s.registryHost)
	}
	if err := names.GUN(name); err != nil {
		return err
	}
	if _, _, ok := s.splitRegular(name); ok {
		return errs.Invalidf("invalid_name", "%s is under %s: use its namespace and name.", name, s.registryHost)
	}
	return nil
}

// RegistryHost is the host that prefixes every GUN.
func (s *Service) RegistryHost() string { return s.registryHost }

// GUN returns the Notary GUN of namespace/name.
func (s *Service) GUN(namespace, name string) string {
	if namespace == names.Foreign {
		return name
	}
	return s.registryHost + "/" + namespace + "/" + name
}

// SplitGUN returns the catalog namespace and name of a GUN: those of
// <registry host>/<namespace>/<name>, or, when the catalog lists foreign
// repositories, names.Foreign and the GUN itself for any other docker name.
func (s *Service) SplitGUN(gun string) (namespace, name string, ok bool) {
	if namespace, name, ok = s.splitRegular(gun); ok || !s.foreign {
		return namespace, name, ok
	}
	if names.GUN(gun) != nil {
		return "", "", false
	}
	return names.Foreign, gun, true
}

func (s *Service) splitRegular(gun string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(gun, s.registryHost+"/")
	if !found {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, "/")
	if !ok || names.Repository(namespace, name) != nil || names.GUN(gun) != nil {
		return "", "", false
	}
	return namespace, name, true
}

func (s *Service) wrap(r *store.Repository) *Repository {
	out := &Repository{Namespace: r.Namespace, Name: r.Name, GUN: s.GUN(r.Namespace, r.Name),
		CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, Foreign: r.Namespace == names.Foreign}
	if t := r.Trust; t != nil {
		out.Trust = &TrustState{State: t.State, SignedTags: t.SignedTags, Signers: t.Signers,
			NearestExpiry: timePtr(t.NearestExpiry), NearestExpiryRole: t.NearestExpiryRole,
			LastSigned: timePtr(t.LastSigned), Error: t.Error}
	}
	if g := r.Registry; g != nil && (g.Counted || g.Error != "") {
		out.Registry = &RegistryCounts{Tags: g.Tags, Signed: g.Counts.Signed, Unsigned: g.Counts.Unsigned,
			Drifted: g.Counts.Drifted, Missing: g.Counts.Missing, CheckedAt: timePtr(g.CheckedAt),
			UnknownSince: timePtr(g.FailingSince), Error: g.Error}
	}
	return out
}

// GUNEntry is what the catalog holds for a GUN.
type GUNEntry struct {
	// Namespace and Name are the catalog name of the GUN; ok is false for
	// a GUN this catalog cannot hold (see SplitGUN).
	Namespace, Name string
	OK              bool
	// Exists reports whether the catalog holds the repository.
	Exists bool
}

// LookupGUN tells whether gun is a repository of the catalog. It answers
// from memory once it looked gun up: every Create and Delete drops what it
// remembered of the GUN. The embedded Notary server asks it on every
// request.
func (s *Service) LookupGUN(ctx context.Context, gun string) (GUNEntry, error) {
	if e, ok := s.guns.Get(gun); ok {
		return e, nil
	}
	gen := s.gen.Load()
	var e GUNEntry
	e.Namespace, e.Name, e.OK = s.SplitGUN(gun)
	if e.OK {
		_, err := s.Get(ctx, e.Namespace, e.Name)
		switch {
		case err == nil:
			e.Exists = true
		case errs.KindOf(err) != errs.NotFound:
			return GUNEntry{}, err
		}
	}
	s.guns.Update(gun, func(GUNEntry, bool) (GUNEntry, bool) { return e, s.gen.Load() == gen })
	return e, nil
}

// Forget forgets what LookupGUN remembers of namespace/name: another
// replica sharing the database created or deleted it.
func (s *Service) Forget(namespace, name string) { s.changed(namespace, name) }

// ForgetAll forgets everything LookupGUN remembers.
func (s *Service) ForgetAll() {
	s.gen.Add(1)
	s.guns.Clear()
}

// changed forgets what LookupGUN remembers of namespace/name. Create and
// Delete call it after writing, whatever the outcome.
func (s *Service) changed(namespace, name string) {
	s.gen.Add(1)
	s.guns.Remove(s.GUN(namespace, name))
}

// Create adds namespace/name to the catalog.
func (s *Service) Create(ctx context.Context, namespace, name, createdBy string) (*Repository, error) {
	if err := s.validName(namespace, name); err != nil {
		return nil, err
	}
	defer s.changed(namespace, name)
	r, err := s.st.CreateRepository(ctx, namespace, name, createdBy)
	if errors.Is(err, store.ErrConflict) {
		return nil, errs.Conflictf("repository_exists", "The repository %s already exists.", names.Display(namespace, name))
	}
	if err != nil {
		return nil, err
	}
	return s.wrap(r), nil
}

// Get returns one repository or a NotFound error.
func (s *Service) Get(ctx context.Context, namespace, name string) (*Repository, error) {
	if s.validName(namespace, name) != nil {
		return nil, notFound(namespace, name)
	}
	r, err := s.st.Repository(ctx, namespace, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(namespace, name)
	}
	if err != nil {
		return nil, err
	}
	return s.wrap(r), nil
}

func notFound(namespace, name string) error {
	return errs.NotFoundf("repository_not_found", "There is no repository %s.", names.Display(namespace, name))
}

// Delete removes namespace/name from the catalog; it refuses (Conflict)
// while the embedded Notary server holds trust data of its GUN, checked in
// the same statement, so a push that lands after the caller's own check
// cannot be orphaned.
func (s *Service) Delete(ctx context.Context, namespace, name string) error {
	if _, err := s.Get(ctx, namespace, name); err != nil {
		return err
	}
	gun := s.GUN(namespace, name)
	defer s.changed(namespace, name)
	err := s.st.DeleteRepository(ctx, namespace, name, gun)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound(namespace, name)
	case errors.Is(err, store.ErrConflict):
		return errs.Conflictf("trust_data_exists", "%s has trust data (pushed just now?): back it up and delete the trust data first, then remove the repository.", gun)
	}
	return err
}

// Expiring counts the repositories (of namespaces; nil: all) whose trust
// data has expired, and those whose trust data expires within ExpiringWithin.
func (s *Service) Expiring(ctx context.Context, namespaces []string) (expired, expiring int, err error) {
	now := time.Now()
	return s.st.CountExpiring(ctx, namespaces, now, now.Add(ExpiringWithin))
}

// ListQuery selects a page; Namespaces nil means every namespace.
type ListQuery struct {
	Search     string
	Namespaces []string
	Page       int    // 1-based
	Sort       string // name (default), signed, expiry
	Filter     string // "", signed, unsigned, expiring, unsigned-or-drifted
}

// FilterUnsignedOrDrifted lists the repositories with unsigned or drifted
// tags in the registry (as last counted).
const FilterUnsignedOrDrifted = "unsigned-or-drifted"

// ExpiringWithin is how close an expiry must be for the "expiring" filter.
const ExpiringWithin = 30 * 24 * time.Hour

// List returns a page of repositories sorted by name.
func (s *Service) List(ctx context.Context, q ListQuery) (*Page, error) {
	if q.Page < 1 {
		q.Page = 1
	}
	if len(q.Search) > 300 {
		return nil, errs.Invalidf("invalid_query", "The search text is too long.")
	}
	switch q.Sort {
	case "", "name", "signed", "expiry":
	default:
		return nil, errs.Invalidf("invalid_query", "Sort by name, signed or expiry.")
	}
	switch q.Filter {
	case "", "signed", "unsigned", "expiring", FilterUnsignedOrDrifted:
	default:
		return nil, errs.Invalidf("invalid_query", "Filter by signed, unsigned, expiring or unsigned-or-drifted.")
	}
	rows, total, err := s.st.ListRepositories(ctx, store.RepositoryQuery{
		Search: strings.ToLower(strings.TrimSpace(q.Search)), Namespaces: q.Namespaces,
		Sort: q.Sort, Filter: q.Filter, ExpiringBy: time.Now().Add(ExpiringWithin),
		Limit: PageSize, Offset: (q.Page - 1) * PageSize,
	})
	if err != nil {
		return nil, err
	}
	p := &Page{Total: total, Page: q.Page, Pages: (total + PageSize - 1) / PageSize, Repositories: []Repository{}}
	for i := range rows {
		p.Repositories = append(p.Repositories, *s.wrap(&rows[i]))
	}
	return p, nil
}

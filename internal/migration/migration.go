// Package migration is the way off Docker Content Trust: it plans, for
// every signed tag, whether the trust data verifies and the registry still
// serves the signed digest; it runs the plan, signing those tags anew as
// cosign and Notation signatures in the registry (internal/resign's
// formats, with the namespace's keys from internal/vault); and it reads the
// registry back to show which tags carry which signatures.
//
// It only orchestrates. The plan is a pure function (Plan) of the tag states
// (internal/registry, internal/trust) and of what verified; the formats
// sign and find; the store keeps each run's progress, item by item, so a
// page reload or a restart loses nothing; the audit log records every
// signature (migration.sign). DCT data is never touched: the signatures
// coexist during the transition. No HTTP here: handlers call the methods.
package migration

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/registry"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/vault"
)

// Defaults of Config.
const (
	DefaultConcurrency = 8
	DefaultStatusTTL   = 30 * time.Second
	// MaxRepositories bounds the repositories of one run.
	MaxRepositories = 1000
)

// Store keeps the runs (*store.Store).
type Store interface {
	CreateMigrationRun(ctx context.Context, run store.MigrationRun, items []store.MigrationItem) error
	MigrationRun(ctx context.Context, id string) (*store.MigrationRun, error)
	MigrationRuns(ctx context.Context, state string, limit int) ([]store.MigrationRun, error)
	MigrationItems(ctx context.Context, runID, status string) ([]store.MigrationItem, error)
	MarkMigrationItemSigning(ctx context.Context, runID string, seq int, keyID string) error
	FinishMigrationItem(ctx context.Context, runID string, seq int, status, reason, message, keyID string) error
	FinishMigrationRun(ctx context.Context, id, state, cause string) error
	InterruptMigrationRuns(ctx context.Context, id string) (int, error)
	ResumeMigrationRun(ctx context.Context, id, actor string) error
}

// Trust reads trust data (*trust.Reader).
type Trust interface {
	Load(ctx context.Context, gun string) (*trust.Repo, error)
}

// Tags are a repository's tag states (*registry.Service).
type Tags interface {
	Tags(ctx context.Context, namespace, name string) (*registry.Tags, error)
}

// Keys are the namespaces' signing keys (*vault.SigningKeys).
type Keys interface {
	UnlockCosign(ctx context.Context, namespace, passphrase string) (crypto.Signer, error)
	UnlockNotation(ctx context.Context, namespace, passphrase string) (crypto.Signer, []*x509.Certificate, error)
	Verification(ctx context.Context, namespace string) (*vault.Verification, error)
	List(ctx context.Context, namespace string) ([]vault.SigningKeyInfo, error)
}

// Catalog is the part of the catalog the service uses (*catalog.Service).
type Catalog interface {
	GUN(namespace, name string) string
	RegistryHost() string
	Get(ctx context.Context, namespace, name string) (*catalog.Repository, error)
	Visible(ctx context.Context, namespaces []string) ([]catalog.Repository, error)
}

// Auditor records events (*audit.Log).
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// Config is what a Service needs.
type Config struct {
	Store   Store
	Trust   Trust
	Tags    Tags
	Keys    Keys
	Catalog Catalog
	Audit   Auditor
	// Transport reaches the registry (internal/notaryclient's, which
	// answers its token challenges) at RegistryAddress, the host[:port] of
	// --registry-url. Signatures name images as people pull them, by the
	// catalog's registry host; requests for it go to RegistryAddress.
	Transport       http.RoundTripper
	RegistryAddress string
	// Concurrency bounds the signatures a run has in flight (default 8).
	Concurrency int
	// StatusTTL is how long Signatures keeps what it read of a digest
	// (default 30 s).
	StatusTTL time.Duration
	// Now is the clock (default time.Now): certificates are checked
	// against it.
	Now func() time.Time
	Log *slog.Logger
}

// Service plans and runs migrations. Call Recover once at start.
type Service struct {
	cfg    Config
	ctx    context.Context // ends at Close: the runs in flight stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	active map[string][]string // running run ID → its repositories

	status  *statusCache
	refresh refresher
	// reader is the registry client the signature status reads through
	// (verifyingFormats): it only reads, so one serves every page and
	// background read.
	reader func() (*resign.Registry, error)
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.StatusTTL <= 0 {
		cfg.StatusTTL = DefaultStatusTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Catalog != nil && cfg.RegistryAddress != "" && cfg.RegistryAddress != cfg.Catalog.RegistryHost() {
		rt := cfg.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		cfg.Transport = hostRewrite{from: cfg.Catalog.RegistryHost(), to: cfg.RegistryAddress, rt: rt}
	}
	s := &Service{cfg: cfg, active: map[string][]string{}, status: newStatusCache(cfg.StatusTTL, cfg.Now),
		reader: sync.OnceValues(func() (*resign.Registry, error) { return resign.NewRegistry(cfg.Transport) })}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Recover marks the runs a previous process left running as interrupted:
// they continue when started again (passphrases are never stored). Runs of
// other live replicas sharing the database are left alone
// (store.InterruptMigrationRuns).
func (s *Service) Recover(ctx context.Context) error {
	n, err := s.cfg.Store.InterruptMigrationRuns(ctx, "")
	if n > 0 {
		s.cfg.Log.Warn("migration: runs interrupted by a restart; start them again to continue", "runs", n)
	}
	return err
}

// Close stops the runs in flight (they are left interrupted, to continue
// when started again) and waits for them.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// Enabled reports whether a registry is configured: without one there is
// nothing to plan or sign.
func (s *Service) Enabled() bool { return s != nil && s.cfg.Tags != nil }

// PlanRepository plans one repository (see Plan). A repository whose
// trust data or registry cannot be read gets a plan with Error set; errors
// are the catalog's (NotFound) and the store's.
func (s *Service) PlanRepository(ctx context.Context, namespace, name string) (*RepositoryPlan, error) {
	if _, err := s.cfg.Catalog.Get(ctx, namespace, name); err != nil {
		return nil, err
	}
	if namespace == names.Foreign {
		return nil, errs.Invalidf("foreign_repository",
			"%s is not an image of the registry: only repositories <registry host>/<namespace>/<name> can be migrated.", name)
	}
	keys, err := s.planKeys(ctx, namespace)
	if err != nil {
		return nil, err
	}
	p, err := s.plan(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	p.Keys = keys
	return p, nil
}

// PlanNamespaces plans every repository of namespaces (nil: every
// namespace), in catalog order: what the caller administers.
func (s *Service) PlanNamespaces(ctx context.Context, namespaces []string) ([]RepositoryPlan, error) {
	repos, err := s.cfg.Catalog.Visible(ctx, namespaces)
	if err != nil {
		return nil, err
	}
	keys := map[string][]PlanKey{}
	out := []RepositoryPlan{}
	for _, r := range repos {
		if r.Namespace == names.Foreign {
			continue
		}
		k, ok := keys[r.Namespace]
		if !ok {
			if k, err = s.planKeys(ctx, r.Namespace); err != nil {
				return nil, err
			}
			keys[r.Namespace] = k
		}
		p, err := s.plan(ctx, r.Namespace, r.Name)
		if err != nil {
			return nil, err
		}
		p.Keys = k
		out = append(out, *p)
	}
	return out, nil
}

// plan reads a repository's tag states and trust data and plans it.
func (s *Service) plan(ctx context.Context, namespace, name string) (*RepositoryPlan, error) {
	if !s.Enabled() {
		return nil, errs.Conflictf("no_registry",
			"trustdeck reads no registry (--registry-url): without one there are no tags to carry over.")
	}
	tags, err := s.cfg.Tags.Tags(ctx, namespace, name)
	if err != nil {
		if isKind(err, errs.NotFound) || errors.Is(err, store.ErrNotFound) {
			return nil, err // the repository is gone
		}
		return &RepositoryPlan{Namespace: namespace, Name: name, Tags: []PlannedTag{}, Unsigned: []UnsignedTag{},
			Error: "The trust data could not be read: " + message(err)}, nil
	}
	in := Input{Namespace: namespace, Name: name, States: tags.States, RegistryKnown: tags.Known,
		RegistryError: tags.Error, Verified: map[string][]VerifiedRow{}}
	gun := s.cfg.Catalog.GUN(namespace, name)
	repo, err := s.cfg.Trust.Load(ctx, gun)
	switch {
	case err == nil:
		for _, row := range repo.Inspect(gun, "").SignedTags {
			if row.Digest == "" {
				continue
			}
			in.Verified[row.SignedTag] = append(in.Verified[row.SignedTag],
				VerifiedRow{Digest: trust.DigestPrefix + row.Digest, Version: releaseVersion(repo, row)})
		}
	case errors.Is(err, trust.ErrNoTrustData):
	case errors.Is(err, trust.ErrExpired):
		in.TrustReason, in.TrustMessage = ReasonExpired, message(err)
	case errors.Is(err, trust.ErrVerification):
		in.TrustReason, in.TrustMessage = ReasonNotVerifiable, message(err)
	default: // unreachable: nothing can be said of the tags now
		return &RepositoryPlan{Namespace: namespace, Name: name, Tags: []PlannedTag{}, Unsigned: []UnsignedTag{},
			Error: "The trust data could not be read: " + message(err)}, nil
	}
	p := Plan(in)
	return &p, nil
}

// releaseVersion is the version of the targets role that releases row:
// targets/releases when it holds the row, else targets, else the first
// delegation that does.
func releaseVersion(repo *trust.Repo, row trust.InspectTag) int {
	role := ""
	for _, t := range repo.Targets {
		if t.Name != row.SignedTag || t.SHA256 != row.Digest {
			continue
		}
		if t.Role == trust.RoleReleases {
			role = t.Role
			break
		}
		if role == "" || t.Role == trust.RoleTargets {
			role = t.Role
		}
	}
	for _, m := range repo.Roles {
		if m.Role == role {
			return m.Version
		}
	}
	return 0
}

// planKeys names the keys that sign a namespace's tags.
func (s *Service) planKeys(ctx context.Context, namespace string) ([]PlanKey, error) {
	infos, err := s.cfg.Keys.List(ctx, namespace)
	if err != nil {
		return nil, err
	}
	out := []PlanKey{}
	for _, k := range infos {
		if k.Role != vault.RoleSigner {
			continue
		}
		pk := PlanKey{Format: k.Format, KeyID: k.KeyID, Algorithm: k.Algorithm, VaultKeyID: k.VaultKeyID, Identity: k.Subject}
		if k.Format == resign.FormatNotation {
			pk.KeyID = notationKeyID(k)
		}
		out = append(out, pk)
	}
	return out, nil
}

// notationKeyID names a Notation signing key as resign does: the SHA-256
// thumbprint of its certificate.
func notationKeyID(k vault.SigningKeyInfo) string {
	if c, err := parseCertPEM([]byte(k.PEM)); err == nil {
		return resign.KeyID(c.Raw)
	}
	return k.KeyID
}

// message is the words of an error for people (an errs message, or the
// error's text).
func message(err error) string {
	if e, ok := errs.As(err); ok && e.Message != "" {
		return e.Message
	}
	return err.Error()
}

func isKind(err error, k errs.Kind) bool {
	e, ok := errs.As(err)
	return ok && e.Kind == k
}

// ParseRepository splits "namespace/name" and validates it.
func ParseRepository(s string) (namespace, name string, err error) {
	namespace, name, ok := strings.Cut(s, "/")
	if !ok {
		return "", "", errs.Invalidf("invalid_repository", "Name repositories as namespace/name, not %q.", s)
	}
	if err := names.Repository(namespace, name); err != nil {
		return "", "", err
	}
	return namespace, name, nil
}

// sortedUnique sorts and removes duplicates.
func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// Package archives keeps archived repositories: the trust data of a GUN
// captured from any Notary server, or imported from a backup archive,
// verified as of the time it was read (trust.Verify, the verification of
// `trustdeck verify`) and stored file by file, so that what was signed, by
// whom and when can still be shown, inspected as docker printed it and
// downloaded again once the server is gone. Captures of a GUN accumulate; a
// later one says whether its root chains to the one before (trust.RootChain).
package archives

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/notary"
	notarystorage "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/evidence"
	"github.com/trustdeck/trustdeck/internal/lru"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/notaryclient"
	"github.com/trustdeck/trustdeck/internal/removal"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// Where an archive came from.
const (
	SourceCapture = "capture"
	SourceImport  = "import"
)

// Audited actions.
const (
	ActionCapture = "archive.capture"
	ActionImport  = "archive.import"
	ActionDelete  = "archive.delete"
)

// Limits of what is accepted.
const (
	// MaxImportBytes bounds what an imported archive unpacks to.
	MaxImportBytes = 256 << 20
	// MaxGUNs bounds one bulk capture.
	MaxGUNs = 100
	// maxCAPEM and maxCredential bound a capture's inline CA and
	// credentials.
	maxCAPEM      = 256 << 10
	maxCredential = 1024
)

// Flags name a capture's settings in the messages of the outbound client.
var Flags = notaryclient.Flags{Server: "notary server being captured", URL: "notary_url", CA: "ca_pem"}

// Store is the part of the store archives use.
type Store interface {
	InsertArchive(ctx context.Context, a store.Archive, files map[string][]byte) (int64, error)
	GetArchive(ctx context.Context, id int64) (*store.Archive, error)
	ArchiveFiles(ctx context.Context, id int64) (map[string][]byte, error)
	ListArchives(ctx context.Context, gun string) ([]store.Archive, error)
	LatestArchive(ctx context.Context, gun string, at time.Time) (*store.Archive, error)
	DeleteArchive(ctx context.Context, id int64) error
	PutArchiveJob(ctx context.Context, id, actor string, started time.Time, done bool, state []byte) error
	ArchiveJob(ctx context.Context, id string) (actor string, state []byte, err error)
	CountArchiveJobs(ctx context.Context, before time.Time) (int, error)
}

// Journal records audited actions.
type Journal interface {
	Record(ctx context.Context, e audit.Event)
}

// Config wires a Service.
type Config struct {
	Store Store
	Audit Journal
	// Split names the catalog namespace and name of a GUN, for the audit
	// (ok false for a GUN outside the registry host).
	Split func(gun string) (namespace, name string, ok bool)
	// OwnCAFile is trustdeck's own CA, trusted for captures in addition to
	// the system's and a capture's ca_pem: trustdeck can be the server
	// captured from, or its token realm.
	OwnCAFile string
	// Timeout bounds each request to a server captured from (default 30s).
	Timeout time.Duration
	// Base, if set, replaces the TLS transport of captures (tests).
	Base http.RoundTripper
	Log  *slog.Logger
}

// Service captures, imports, lists, inspects, downloads and deletes
// archived repositories. It is safe for concurrent use.
type Service struct {
	cfg      Config
	now      func() time.Time
	verified *lru.Cache[int64, *trust.Verification]
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Service{cfg: cfg, now: time.Now, verified: lru.New[int64, *trust.Verification](64, nil)}
}

// Archive is an archived repository as pages and the API show it.
type Archive struct {
	ID         int64     `json:"id"`
	GUN        string    `json:"gun"`
	Source     string    `json:"source"`     // capture or import
	NotaryURL  string    `json:"notary_url"` // the server read ("" when an imported archive does not say)
	CapturedAt time.Time `json:"captured_at"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by"`
	// Verification is the result of verifying the files as of CapturedAt.
	Verification Verification `json:"verification"`
	// RootChain says how its root follows the archive of the same GUN
	// captured before it.
	RootChain  RootChain `json:"root_chain"`
	SignedTags int       `json:"signed_tags"`
	Signers    int       `json:"signers"`
}

// Verification is an archive's verification result.
type Verification struct {
	Valid bool      `json:"valid"`
	At    time.Time `json:"at"`
	// TrustAnchor is what the root was checked against, in words.
	TrustAnchor      string          `json:"trust_anchor"`
	RootKeyIDs       []string        `json:"root_key_ids"`
	RootCanonicalIDs []string        `json:"root_canonical_key_ids"`
	Errors           []trust.Problem `json:"errors"`
}

// RootChain is how an archive's root follows the one before.
type RootChain struct {
	// Status is trust.ChainFirst, ChainSame, ChainRotated or ChainBroken.
	Status string `json:"status"`
	// PreviousID is the archive checked against (nil: none, or deleted).
	PreviousID *int64 `json:"previous_id"`
	Detail     string `json:"detail"`
}

// Broken reports whether the root does not chain to the one before: a loud
// warning, since clients that trusted the earlier root refuse this one.
func (c RootChain) Broken() bool { return c.Status == trust.ChainBroken }

func fromStore(a *store.Archive) *Archive {
	out := &Archive{ID: a.ID, GUN: a.GUN, Source: a.Source, NotaryURL: a.NotaryURL, CapturedAt: a.CapturedAt.UTC(),
		CreatedAt: a.CreatedAt.UTC(), CreatedBy: a.CreatedBy, SignedTags: a.SignedTags, Signers: a.Signers,
		Verification: Verification{Valid: a.Valid, At: a.CapturedAt.UTC(), TrustAnchor: a.TrustAnchor,
			RootKeyIDs: nonNil(a.RootKeyIDs), RootCanonicalIDs: nonNil(a.RootCanonicalIDs), Errors: []trust.Problem{}},
		RootChain: RootChain{Status: a.RootChain, Detail: a.RootChainDetail}}
	if a.PreviousID != 0 {
		id := a.PreviousID
		out.RootChain.PreviousID = &id
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Source is a Notary server to capture from: its https:// URL, a PEM CA
// bundle trusted in addition to the system's (and trustdeck's own), and
// credentials for its token service (none: anonymous). The password is used
// for the capture only, never stored or logged.
type Source struct {
	NotaryURL string
	CAPEM     string
	Username  string
	Password  string
}

// check validates the source and returns its URL without a trailing slash.
func (src Source) check() (string, error) {
	raw := strings.TrimSpace(src.NotaryURL)
	u, err := url.Parse(raw)
	if raw == "" || err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errs.Invalidf("invalid_notary_url", "Give the Notary server's address as https://host[:port] (notary_url), as docker's DOCKER_CONTENT_TRUST_SERVER.")
	}
	switch {
	case len(src.CAPEM) > maxCAPEM:
		return "", errs.Invalidf("invalid_ca_pem", "The CA bundle (ca_pem) is larger than %d KiB.", maxCAPEM>>10)
	case len(src.Username) > maxCredential || len(src.Password) > maxCredential:
		return "", errs.Invalidf("invalid_credentials", "The username or password is longer than %d bytes.", maxCredential)
	case src.Password != "" && src.Username == "":
		return "", errs.Invalidf("invalid_credentials", "A password was given without a username.")
	case strings.ContainsAny(src.Username, ":\r\n"):
		return "", errs.Invalidf("invalid_credentials", "The username must not contain ':' or a line break.")
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// client checks src and returns its URL (without a trailing slash) and the
// one outbound client, configured for it.
func (s *Service) client(src Source) (string, http.RoundTripper, error) {
	base, err := src.check()
	if err != nil {
		return "", nil, err
	}
	rt, err := notaryclient.New(notaryclient.Options{CAPEM: []byte(src.CAPEM), OwnCAFile: s.cfg.OwnCAFile,
		Username: src.Username, Password: src.Password, Timeout: s.cfg.Timeout, Log: s.cfg.Log, Base: s.cfg.Base, Flags: Flags})
	if err != nil {
		return "", nil, errs.Invalidf("invalid_ca_pem", "The CA bundle cannot be used: %v.", err)
	}
	return base, rt, nil
}

// Allow says whether the caller may create an archive of gun (nil) or why
// not (an errs.Forbidden or errs.NotFound).
type Allow func(ctx context.Context, gun string) error

// Capture reads gun's complete trust data from src, verifies it as of now
// and stores it as an archived repository by actor. It refuses (errs
// Unprocessable, with the problems) trust data that fails verification;
// a root that does not chain to the previous capture's is stored, with the
// broken chain in RootChain.
func (s *Service) Capture(ctx context.Context, src Source, gun, actor string, allow Allow) (*Archive, error) {
	base, rt, err := s.client(src)
	if err != nil {
		return nil, err
	}
	return s.capture(ctx, base, rt, strings.TrimSpace(gun), actor, allow)
}

func (s *Service) capture(ctx context.Context, base string, rt http.RoundTripper, gun, actor string, allow Allow) (*Archive, error) {
	if err := names.GUN(gun); err != nil {
		return nil, err
	}
	if err := allow(ctx, gun); err != nil {
		return nil, err
	}
	remote, err := notarystorage.NewNotaryServerStore(base, data.GUN(gun), rt)
	if err != nil {
		return nil, errs.Invalidf("invalid_notary_url", "The Notary server's address cannot be used: %v.", err)
	}
	at := s.now().UTC()
	files, err := trust.Fetch(ctx, gun, remote)
	if err != nil {
		return nil, captureError(base, gun, err)
	}
	version := func(v int) ([]byte, error) {
		return remote.GetSized(strconv.Itoa(v)+"."+trust.RoleRoot, notary.MaxDownloadSize)
	}
	return s.save(ctx, record{gun: gun, files: files, source: SourceCapture, notaryURL: base, at: at, actor: actor,
		version: version})
}

// captureError says why a capture could not read the server.
func captureError(base, gun string, err error) error {
	switch {
	case errors.Is(err, trust.ErrNoTrustData):
		return &errs.Error{Kind: errs.NotFound, Code: "no_trust_data", Err: err,
			Message: fmt.Sprintf("The Notary server at %s has no trust data for %s.", base, gun)}
	case errors.Is(err, trust.ErrUnauthorized):
		return &errs.Error{Kind: errs.Invalid, Code: "notary_refused", Err: err,
			Message: fmt.Sprintf("The Notary server at %s refused to serve the trust data of %s (HTTP 401 or 403): "+
				"give a username and password its token service accepts, with pull access to the repository.", base, gun)}
	case errors.Is(err, trust.ErrVerification):
		if e, ok := errs.As(err); ok {
			return &errs.Error{Kind: errs.Unprocessable, Code: "verification_failed", Err: err, Message: e.Message}
		}
	case errors.Is(err, trust.ErrUnreachable):
		why := Flags.Explain(err)
		if why == "" {
			why = "it did not give the trust data (a network error, or an answer that is no Notary server's)"
		}
		return &errs.Error{Kind: errs.Unavailable, Code: "notary_unavailable", Err: err,
			Message: fmt.Sprintf("The Notary server at %s could not be read for %s: %s.", base, gun, why)}
	}
	return err
}

// Import reads a backup archive of one repository (as trustdeck's backups
// are made), verifies it as of the time it was made and stores it as an
// archived repository by actor. An archive that cannot be read is an errs
// Invalid, one that fails verification errs Unprocessable (with the
// problems); the trust data of a repository still live here is accepted.
func (s *Service) Import(ctx context.Context, r io.Reader, actor string, allow Allow) (*Archive, error) {
	a, err := evidence.Read(r, MaxImportBytes)
	if err != nil {
		return nil, err
	}
	if a.All || len(a.Repositories) != 1 {
		return nil, errs.Invalidf("archive_of_many", "This archive holds the backups of %d repositories: import each repository's own backup "+
			"(GET /api/v1/repositories/<namespace>/<name>/trust/backup).", len(a.Repositories))
	}
	repo := a.Repositories[0]
	if a.CreatedAt.IsZero() {
		return nil, errs.Invalidf("unreadable_archive", "Unreadable archive: its manifest.json does not say when it was made (created_at), so its expiry cannot be judged.")
	}
	if err := names.GUN(repo.GUN); err != nil {
		return nil, err
	}
	if err := allow(ctx, repo.GUN); err != nil {
		return nil, err
	}
	return s.save(ctx, record{gun: repo.GUN, files: repo.Files, source: SourceImport, notaryURL: a.NotaryURL,
		at: a.CreatedAt.UTC(), actor: actor, skipped: repo.Manifest.Skipped})
}

// record is trust data to verify and store.
type record struct {
	gun       string
	files     map[string][]byte
	source    string
	notaryURL string
	at        time.Time
	actor     string
	skipped   []string
	// version returns root.json of a version from the server (captures).
	version func(v int) ([]byte, error)
}

// VerificationError is trust data that failed verification: Problems names
// each failed check (role, check, message).
type VerificationError struct {
	GUN      string
	At       time.Time
	Failures []trust.Problem
}

func (e *VerificationError) Error() string {
	p := e.Failures[0]
	role := p.Role
	if role == "" {
		role = "(archive)"
	}
	more := ""
	if n := len(e.Failures) - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more)", n)
	}
	return fmt.Sprintf("The trust data of %s fails verification as of %s: %s: %s: %s%s", e.GUN,
		e.At.UTC().Format(time.RFC3339), role, p.Check, p.Message, more)
}

// Problems is the list the API's error body carries.
func (e *VerificationError) Problems() any { return e.Failures }

// save verifies rec as of rec.at, checks its root against the GUN's archive
// before it and stores it.
func (s *Service) save(ctx context.Context, rec record) (*Archive, error) {
	v := trust.Verify(rec.gun, rec.files, trust.VerifyOptions{At: rec.at, Skipped: rec.skipped})
	if !v.Valid() {
		ve := &VerificationError{GUN: rec.gun, At: rec.at, Failures: v.Problems}
		return nil, &errs.Error{Kind: errs.Unprocessable, Code: "verification_failed", Message: ve.Error(), Err: ve}
	}
	res := v.Inspect()
	a := store.Archive{GUN: rec.gun, Source: rec.source, NotaryURL: rec.notaryURL, CapturedAt: rec.at, CreatedBy: rec.actor,
		Valid: true, TrustAnchor: v.Anchor, RootChain: trust.ChainFirst, RootChainDetail: "no earlier archive of " + rec.gun + " to check its root against",
		SignedTags: len(res.SignedTags), Signers: len(res.Signers)}
	for _, k := range v.RootKeys {
		a.RootKeyIDs, a.RootCanonicalIDs = append(a.RootKeyIDs, k.TUFID), append(a.RootCanonicalIDs, k.ID)
	}
	prev, err := s.cfg.Store.LatestArchive(ctx, rec.gun, rec.at)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		prevFiles, err := s.cfg.Store.ArchiveFiles(ctx, prev.ID)
		if err != nil {
			return nil, err
		}
		a.PreviousID = prev.ID
		a.RootChain, a.RootChainDetail = trust.RootChain(prevFiles[trust.RoleRoot], rec.files[trust.RoleRoot], rec.version)
		a.TrustAnchor = fmt.Sprintf("the root of archive #%d (captured %s), and its own root: %s", prev.ID,
			prev.CapturedAt.UTC().Format(time.RFC3339), a.RootChainDetail)
	}
	id, err := s.cfg.Store.InsertArchive(ctx, a, rec.files)
	if err != nil {
		return nil, err
	}
	s.verified.Put(id, v)
	stored, err := s.cfg.Store.GetArchive(ctx, id)
	if err != nil {
		return nil, err
	}
	out := fromStore(stored)
	action, detail := ActionCapture, fmt.Sprintf("archive #%d captured from %s", id, rec.notaryURL)
	if rec.source == SourceImport {
		action, detail = ActionImport, fmt.Sprintf("archive #%d imported (made %s)", id, rec.at.Format(time.RFC3339))
	}
	if out.RootChain.Broken() {
		detail += "; WARNING: its root does not chain to archive #" + strconv.FormatInt(prev.ID, 10) + "'s"
	}
	s.audit(ctx, rec.actor, action, rec.gun, detail)
	return out, nil
}

func (s *Service) audit(ctx context.Context, actor, action, gun, detail string) {
	if s.cfg.Audit == nil {
		return
	}
	e := audit.Event{Actor: actor, Action: action, GUN: gun, Detail: detail}
	if s.cfg.Split != nil {
		if ns, name, ok := s.cfg.Split(gun); ok {
			e.Namespace, e.Name = ns, name
		}
	}
	s.cfg.Audit.Record(ctx, e)
}

// Get returns an archive, or errs.NotFound.
func (s *Service) Get(ctx context.Context, id int64) (*Archive, error) {
	a, err := s.cfg.Store.GetArchive(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, err
	}
	return fromStore(a), nil
}

func notFound(id int64) error {
	return errs.NotFoundf("archive_not_found", "There is no archived repository #%d you can see.", id)
}

// List returns every archive (gun "" ) or gun's, newest capture first.
func (s *Service) List(ctx context.Context, gun string) ([]*Archive, error) {
	rows, err := s.cfg.Store.ListArchives(ctx, gun)
	if err != nil {
		return nil, err
	}
	out := make([]*Archive, 0, len(rows))
	for i := range rows {
		out = append(out, fromStore(&rows[i]))
	}
	return out, nil
}

// Opened is an archive with its verified trust data as of its capture.
type Opened struct {
	*Archive
	// Verification holds the trust data as docker's client read it then
	// (Repo) and what `docker trust inspect` printed (Inspect()).
	Verification *trust.Verification
}

// Open returns an archive with its trust data verified again from the
// stored files (kept for the archives opened last: they never change).
func (s *Service) Open(ctx context.Context, id int64) (*Opened, error) {
	a, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	v, ok := s.verified.Get(id)
	if !ok {
		files, err := s.cfg.Store.ArchiveFiles(ctx, id)
		if err != nil {
			return nil, err
		}
		v = trust.Verify(a.GUN, files, trust.VerifyOptions{At: a.CapturedAt})
		s.verified.Put(id, v)
	}
	if v.Repo == nil {
		return nil, fmt.Errorf("archives: archive #%d no longer verifies: %v", id, v.Problems)
	}
	return &Opened{Archive: a, Verification: v}, nil
}

// Download is the archive as a backup archive (removal.Archive): made at
// its capture time by whoever captured it, from its Notary server; what
// `trustdeck verify` checks offline.
func (s *Service) Download(ctx context.Context, id int64) (filename string, archive []byte, err error) {
	o, err := s.Open(ctx, id)
	if err != nil {
		return "", nil, err
	}
	return removal.Archive(o.GUN, o.Verification.Repo, o.CapturedAt, o.CreatedBy, o.NotaryURL)
}

// Delete removes an archive, audited as actor's.
func (s *Service) Delete(ctx context.Context, id int64, actor string) error {
	a, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteArchive(ctx, id); errors.Is(err, store.ErrNotFound) {
		return notFound(id)
	} else if err != nil {
		return err
	}
	s.verified.Remove(id)
	s.audit(ctx, actor, ActionDelete, a.GUN, fmt.Sprintf("archive #%d (captured %s from %s) deleted", id,
		a.CapturedAt.Format(time.RFC3339), orUnknown(a.NotaryURL)))
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown server"
	}
	return s
}

// ParseID reads an archive ID from a path.
func ParseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 || strconv.FormatInt(id, 10) != s {
		return 0, errs.NotFoundf("archive_not_found", "There is no archived repository %q.", s)
	}
	return id, nil
}

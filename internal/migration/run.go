package migration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/vault"
)

// Run states, as the API shows them.
const (
	StateRunning     = store.MigrationRunning
	StateInterrupted = store.MigrationInterrupted // stopped by a restart: start it again to continue
	StateDone        = store.MigrationDone        // every item done, none failed
	StateFailed      = store.MigrationFailed      // every item done, some failed (or the run could not go on)
)

// Item statuses.
const (
	StatusPending = store.ItemPending
	StatusSigned  = store.ItemSigned
	StatusSkipped = store.ItemSkipped
	StatusFailed  = store.ItemFailed
)

// StartRequest asks for a run: the repositories ("namespace/name") and
// formats to sign, with the passphrase of the namespaces' signing keys
// (used in memory for this run only; never stored).
type StartRequest struct {
	Actor        string
	Repositories []string
	Formats      []string
	Passphrase   string
	// Passphrases are the passphrases of keys that have their own (a
	// signer's vault key signing cosign, say), by key ID: the signing
	// key's ID as the plan shows it, or the vault key ID of a cosign key
	// that is a signer's key. Keys not named take Passphrase.
	Passphrases map[string]string
}

// Run is a run and its progress.
type Run struct {
	ID           string    `json:"id"`
	State        string    `json:"state"`
	Formats      []string  `json:"formats"`
	Repositories []string  `json:"repositories"`
	Namespaces   []string  `json:"-"`
	CreatedBy    string    `json:"created_by"`
	CreatedAt    time.Time `json:"created_at"`
	StartedBy    string    `json:"started_by"`
	StartedAt    time.Time `json:"started_at"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
	// Error says why the run stopped, when it was not for one item.
	Error   string `json:"error,omitempty"`
	Total   int    `json:"total"`
	Pending int    `json:"pending"`
	Signed  int    `json:"signed"`
	Skipped int    `json:"skipped"`
	Failed  int    `json:"failed"`
	// Progress is the share of items done, 0 to 100.
	Progress int `json:"progress"`
	// Items are set by Get with items.
	Items []Item `json:"items,omitzero"`
}

// Item is one item of a run: a tag in one format (or, Format "", a tag the
// plan skips).
type Item struct {
	Repository string   `json:"repository"`
	Tag        string   `json:"tag"`
	Digest     string   `json:"digest"`
	Format     string   `json:"format"`
	Status     string   `json:"status"`
	Reason     string   `json:"reason"`
	Message    string   `json:"message"`
	Key        string   `json:"key"`
	Signers    []string `json:"signers"`
}

// signer is a namespace's key in one format, opened for a run.
type signer struct {
	format resign.Format
	keyID  string
	// broken says why the key cannot sign in this format (a key type or
	// certificate the format refuses): its items fail with it.
	broken string
}

type signerKey struct{ namespace, format string }

// Start starts a run, or continues the interrupted run of exactly these
// repositories and formats: the callers authorise (namespace admins) first.
// Before anything starts it refuses what cannot work: bad input (Invalid),
// a wrong passphrase for any namespace's key (Invalid "wrong_passphrase"),
// a namespace without a key for a format (Conflict "no_signing_key"), a
// repository another run is signing (Conflict "migration_running"). A key
// the format refuses fails its items instead, and the run goes on. It
// returns the run and whether it was resumed; the signing goes on in the
// background (Get shows its progress).
func (s *Service) Start(ctx context.Context, req StartRequest) (*Run, bool, error) {
	if !s.Enabled() {
		return nil, false, errs.Conflictf("no_registry",
			"trustdeck reads no registry (--registry-url): there is nothing to sign into.")
	}
	repos, namespaces, formats, err := s.checkRequest(ctx, req)
	if err != nil {
		return nil, false, err
	}
	reg, err := resign.NewRegistry(s.cfg.Transport)
	if err != nil {
		return nil, false, err
	}
	signers, err := s.openKeys(ctx, reg, namespaces, formats, req)
	if err != nil {
		return nil, false, err
	}
	id := newID()
	if err := s.reserve(id, repos); err != nil {
		return nil, false, err
	}
	if err := s.runningElsewhere(ctx, repos); err != nil {
		s.release(id)
		return nil, false, err
	}
	run, resumed, err := s.resumeOrCreate(ctx, id, req.Actor, repos, namespaces, formats, signers)
	if err != nil {
		s.release(id)
		return nil, false, err
	}
	if resumed {
		s.rename(id, run.ID)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.release(run.ID)
		s.execute(run.ID, req.Actor, reg, signers)
	}()
	out := toRun(*run)
	return &out, resumed, nil
}

// checkRequest validates and normalises a request.
func (s *Service) checkRequest(ctx context.Context, req StartRequest) (repos, namespaces, formats []string, err error) {
	if len(req.Formats) == 0 {
		return nil, nil, nil, errs.Invalidf("no_formats", "Choose the formats to sign in: cosign, notation or both.")
	}
	for _, f := range req.Formats {
		if f != resign.FormatCosign && f != resign.FormatNotation {
			return nil, nil, nil, errs.Invalidf("invalid_format", "Unknown format %q: choose cosign, notation or both.", f)
		}
	}
	if len(req.Repositories) == 0 {
		return nil, nil, nil, errs.Invalidf("no_repositories", "Choose the repositories to migrate.")
	}
	if len(req.Repositories) > MaxRepositories {
		return nil, nil, nil, errs.Invalidf("too_many_repositories",
			"A run migrates at most %d repositories; start several runs.", MaxRepositories)
	}
	if req.Passphrase == "" && len(req.Passphrases) == 0 {
		return nil, nil, nil, errs.Invalidf("passphrase_required", "Enter the passphrase of the namespaces' signing keys.")
	}
	for _, r := range req.Repositories {
		ns, name, err := ParseRepository(r)
		if err != nil {
			return nil, nil, nil, err
		}
		if _, err := s.cfg.Catalog.Get(ctx, ns, name); err != nil {
			return nil, nil, nil, err
		}
		namespaces = append(namespaces, ns)
	}
	return sortedUnique(req.Repositories), sortedUnique(namespaces), sortedUnique(req.Formats), nil
}

// openKeys opens every namespace's key of every format, each with its own
// passphrase (req.Passphrases) or the common one. A passphrase for a key
// the run does not sign with is refused (a mistyped key ID would otherwise
// go unnoticed).
func (s *Service) openKeys(ctx context.Context, reg *resign.Registry, namespaces, formats []string, req StartRequest) (map[signerKey]*signer, error) {
	out := map[signerKey]*signer{}
	used := map[string]bool{}
	for _, ns := range namespaces {
		infos, err := s.cfg.Keys.List(ctx, ns)
		if err != nil {
			return nil, err
		}
		for _, f := range formats {
			passphrase := req.Passphrase
			for _, id := range signerKeyIDs(infos, f) {
				if p, ok := req.Passphrases[id]; ok {
					passphrase, used[id] = p, true
				}
			}
			sg, err := s.openKey(ctx, reg, ns, f, passphrase)
			if err != nil {
				return nil, err
			}
			out[signerKey{ns, f}] = sg
		}
	}
	for id := range req.Passphrases {
		if !used[id] {
			return nil, errs.Invalidf("unknown_key",
				"A passphrase is given for key %s, which signs none of the run's formats in its namespaces: name keys by the IDs the plan shows.", id)
		}
	}
	return out, nil
}

// signerKeyIDs are the IDs a namespace's signing key of format goes by:
// its own, the vault key it is (cosign), its certificate's thumbprint
// (Notation, as the plan shows it).
func signerKeyIDs(infos []vault.SigningKeyInfo, format string) []string {
	var ids []string
	for _, k := range infos {
		if k.Format != format || k.Role != vault.RoleSigner {
			continue
		}
		ids = append(ids, k.KeyID)
		if k.VaultKeyID != "" {
			ids = append(ids, k.VaultKeyID)
		}
		if format == resign.FormatNotation {
			ids = append(ids, notationKeyID(k))
		}
	}
	return ids
}

func (s *Service) openKey(ctx context.Context, reg *resign.Registry, namespace, format, passphrase string) (*signer, error) {
	var (
		f     resign.Format
		keyID string
		err   error
	)
	switch format {
	case resign.FormatCosign:
		key, uerr := s.cfg.Keys.UnlockCosign(ctx, namespace, passphrase)
		if err = uerr; err == nil {
			if keyID, err = resign.PublicKeyID(key.Public()); err == nil {
				f, err = resign.NewCosign(reg, key)
			}
		}
	default:
		key, chain, uerr := s.cfg.Keys.UnlockNotation(ctx, namespace, passphrase)
		if err = uerr; err == nil {
			keyID = resign.KeyID(chain[0].Raw)
			f, err = resign.NewNotation(reg, resign.NotationOptions{Key: key, Chain: chain, Now: s.cfg.Now})
		}
	}
	e, typed := errs.As(err)
	switch {
	case err == nil:
		return &signer{format: f, keyID: keyID}, nil
	case typed && e.Kind == errs.NotFound:
		return nil, errs.Conflictf("no_signing_key",
			"Namespace %s has no %s key: generate one (POST /api/v1/namespaces/%s/signing-keys) or leave %s out.",
			namespace, format, namespace, format)
	case typed && e.Kind == errs.Invalid && e.Code != "wrong_passphrase" && e.Code != "passphrase_required":
		// The key opened, but the format refuses it: its items say so.
		return &signer{keyID: keyID, broken: fmt.Sprintf("The %s key of %s cannot sign: %s", format, namespace, e.Message)}, nil
	}
	return nil, err
}

// reserve claims repos for run id: a repository is signed by one run at
// a time (two runs could otherwise write the same signature twice).
func (s *Service) reserve(id string, repos []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for other, theirs := range s.active {
		for _, r := range repos {
			if slices.Contains(theirs, r) {
				return errs.Conflictf("migration_running",
					"Run %s is migrating %s now: wait for it to end (GET /api/v1/migrations/%s).", other, r, other)
			}
		}
	}
	s.active[id] = repos
	return nil
}

// runningElsewhere refuses repos that a run in the store is migrating: one
// that another replica sharing the database runs (reserve knows this
// process's only). A run of a replica that died counts until it is marked
// interrupted (within cluster.LeaseTTL and a renewal).
func (s *Service) runningElsewhere(ctx context.Context, repos []string) error {
	running, err := s.cfg.Store.MigrationRuns(ctx, store.MigrationRunning, MaxRunning)
	if err != nil {
		return err
	}
	for _, other := range running {
		for _, r := range repos {
			if slices.Contains(other.Repositories, r) {
				return errs.Conflictf("migration_running",
					"Run %s is migrating %s now: wait for it to end (GET /api/v1/migrations/%s).", other.ID, r, other.ID)
			}
		}
	}
	return nil
}

// MaxRunning bounds the running runs runningElsewhere reads.
const MaxRunning = 1000

func (s *Service) release(id string) {
	s.mu.Lock()
	delete(s.active, id)
	s.mu.Unlock()
}

func (s *Service) rename(from, to string) {
	s.mu.Lock()
	s.active[to] = s.active[from]
	delete(s.active, from)
	s.mu.Unlock()
}

// resumeOrCreate continues the interrupted run of exactly these
// repositories and formats, or plans and stores a new one as id.
func (s *Service) resumeOrCreate(ctx context.Context, id, actor string, repos, namespaces, formats []string,
	signers map[signerKey]*signer) (*store.MigrationRun, bool, error) {
	interrupted, err := s.cfg.Store.MigrationRuns(ctx, store.MigrationInterrupted, 100)
	if err != nil {
		return nil, false, err
	}
	for _, r := range interrupted {
		if !slices.Equal(r.Repositories, repos) || !slices.Equal(r.Formats, formats) {
			continue
		}
		err := s.cfg.Store.ResumeMigrationRun(ctx, r.ID, actor)
		if errors.Is(err, store.ErrConflict) {
			continue // another request resumed it just now
		}
		if err != nil {
			return nil, false, err
		}
		s.cfg.Log.Info("migration: run resumed", "run", r.ID, "by", actor, "pending", r.Counts.Pending)
		run, err := s.cfg.Store.MigrationRun(ctx, r.ID)
		return run, true, err
	}
	var items []store.MigrationItem
	for _, repo := range repos {
		ns, name, _ := strings.Cut(repo, "/")
		p, err := s.plan(ctx, ns, name)
		if err != nil {
			return nil, false, err
		}
		items = append(items, planItems(*p, formats, signers)...)
	}
	run := store.MigrationRun{ID: id, Formats: formats, Repositories: repos, Namespaces: namespaces, CreatedBy: actor}
	if err := s.cfg.Store.CreateMigrationRun(ctx, run, items); err != nil {
		return nil, false, err
	}
	s.cfg.Log.Info("migration: run started", "run", id, "by", actor, "repositories", len(repos), "items", len(items))
	created, err := s.cfg.Store.MigrationRun(ctx, id)
	return created, false, err
}

// planItems are the items of a repository's plan: each tag to sign once
// per format, each skipped tag once.
func planItems(p RepositoryPlan, formats []string, signers map[signerKey]*signer) []store.MigrationItem {
	if p.Error != "" {
		return []store.MigrationItem{{Namespace: p.Namespace, Name: p.Name, Status: store.ItemFailed,
			Reason: ReasonNotVerifiable, Message: p.Error}}
	}
	var out []store.MigrationItem
	for _, t := range p.Tags {
		base := store.MigrationItem{Namespace: p.Namespace, Name: p.Name, Tag: t.Name, Digest: t.Digest,
			Signers: t.Signers, TrustVersion: t.TrustVersion}
		if t.Action != ActionSign {
			base.Status, base.Reason, base.Message = store.ItemSkipped, t.Reason, t.Message
			out = append(out, base)
			continue
		}
		for _, f := range formats {
			it := base
			it.Format, it.Status, it.KeyID = f, store.ItemPending, signers[signerKey{p.Namespace, f}].keyID
			out = append(out, it)
		}
	}
	return out
}

// execute signs the pending items of run id, Concurrency at a time,
// recording each outcome as it comes. When the service closes meanwhile
// the run is left interrupted, its unfinished items pending.
func (s *Service) execute(id, actor string, reg *resign.Registry, signers map[signerKey]*signer) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	items, err := s.cfg.Store.MigrationItems(ctx, id, store.ItemPending)
	if err != nil {
		s.stop(id, err)
		return
	}
	var (
		once     sync.Once
		storeErr error
		wg       sync.WaitGroup
		work     = make(chan store.MigrationItem)
	)
	for range min(s.cfg.Concurrency, max(len(items), 1)) {
		wg.Go(func() {
			for it := range work {
				sg := signers[signerKey{it.Namespace, it.Format}]
				status, reason, msg := s.sign(ctx, id, actor, reg, sg, it)
				if ctx.Err() != nil {
					continue // stopping: the item stays pending
				}
				key := it.KeyID
				if sg != nil && sg.keyID != "" {
					key = sg.keyID // the key opened now (a resumed run's may be new)
				}
				if err := s.cfg.Store.FinishMigrationItem(context.WithoutCancel(ctx), id, it.Seq, status, reason, msg,
					key); err != nil && !errors.Is(err, store.ErrNotFound) {
					once.Do(func() { storeErr = err; cancel() })
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	switch {
	case storeErr != nil:
		s.stop(id, storeErr)
	case s.ctx.Err() != nil:
		if _, err := s.cfg.Store.InterruptMigrationRuns(context.Background(), id); err != nil {
			s.cfg.Log.Error("migration: mark the run interrupted", "run", id, "err", err)
		}
		s.cfg.Log.Info("migration: run interrupted by shutdown; start it again to continue", "run", id)
	default:
		s.finish(id)
	}
}

// sign does one item: it reads the image's descriptor from the registry
// (the digest must still be there), and signs it unless the same key's
// verified signature for the tag is there already.
func (s *Service) sign(ctx context.Context, runID, actor string, reg *resign.Registry, sg *signer, it store.MigrationItem) (status, reason, msg string) {
	repo := it.Namespace + "/" + it.Name
	if sg == nil {
		return store.ItemFailed, "", "The run has no " + it.Format + " key for namespace " + it.Namespace + "."
	}
	if sg.broken != "" {
		return store.ItemFailed, "", sg.broken
	}
	img, found, err := reg.Describe(ctx, s.imageHost(), repo, it.Digest)
	if err != nil {
		return store.ItemFailed, "", failure(err, repo)
	}
	if !found {
		return store.ItemSkipped, ReasonMissing, "The registry no longer serves " + it.Digest + "."
	}
	// A process killed between the push and the audit below leaves the
	// item pending and marked signing: resumed, it finds the signature
	// and audits it then, so each signature is audited exactly once.
	resumed := it.Reason == store.ItemSigning && it.KeyID == sg.keyID
	if !resumed {
		if err := s.cfg.Store.MarkMigrationItemSigning(ctx, runID, it.Seq, sg.keyID); err != nil {
			return store.ItemFailed, "", "The run's progress could not be recorded: " + err.Error()
		}
	}
	out, err := sg.format.Sign(ctx, img, resign.Provenance{Tag: it.Tag, Signers: it.Signers, TrustVersion: it.TrustVersion})
	if err != nil {
		return store.ItemFailed, "", failure(err, repo)
	}
	note := ""
	switch {
	case !out.Added && !resumed:
		return store.ItemSkipped, ReasonAlreadySigned,
			"A verified " + it.Format + " signature by this key for the tag is in the registry already."
	case !out.Added:
		note = ", found after restart"
	}
	// What the pages show of the digest is old now: read it again.
	s.status.stale(statusKey{repo, it.Digest})
	s.refresh.enqueue(s, statusKey{repo, it.Digest}, true)
	gun := s.cfg.Catalog.GUN(it.Namespace, it.Name)
	s.cfg.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.MigrationSign, GUN: gun, Namespace: it.Namespace,
		Name: it.Name, Detail: fmt.Sprintf("%s signature of tag %s (%s) with key %s, run %s%s",
			it.Format, it.Tag, it.Digest, sg.keyID, runID, note)})
	if note != "" {
		return store.ItemSigned, "", "Signed (the signature pushed before a restart was found and audited): " + out.Signature.Ref + "."
	}
	return store.ItemSigned, "", "Signed: " + out.Signature.Ref + "."
}

// failure is an item's failure in words.
func failure(err error, repo string) string {
	var re *resign.RegistryError
	if errors.As(err, &re) {
		msg := fmt.Sprintf("The registry refused to %s (HTTP %d %s).", re.Op, re.Status, http.StatusText(re.Status))
		if re.Status == http.StatusUnauthorized || re.Status == http.StatusForbidden {
			msg += " trustdeck's registry account (--registry-username) needs pull and push on " + repo + "."
		}
		return msg + " The registry said: " + re.Err.Error()
	}
	return message(err)
}

// finish ends a run whose items are all done.
func (s *Service) finish(id string) {
	ctx := context.Background()
	run, err := s.cfg.Store.MigrationRun(ctx, id)
	if err != nil {
		s.stop(id, err)
		return
	}
	state := store.MigrationDone
	if run.Counts.Failed > 0 {
		state = store.MigrationFailed
	}
	if err := s.cfg.Store.FinishMigrationRun(ctx, id, state, ""); err != nil {
		s.cfg.Log.Error("migration: finish the run", "run", id, "err", err)
	}
	s.cfg.Log.Info("migration: run ended", "run", id, "state", state, "signed", run.Counts.Signed,
		"skipped", run.Counts.Skipped, "failed", run.Counts.Failed)
}

// stop ends a run that cannot go on (its progress cannot be recorded).
func (s *Service) stop(id string, err error) {
	s.cfg.Log.Error("migration: the run cannot go on", "run", id, "err", err)
	if ferr := s.cfg.Store.FinishMigrationRun(context.Background(), id, store.MigrationFailed,
		"The run's progress could not be recorded; start it again."); ferr != nil {
		s.cfg.Log.Error("migration: finish the run", "run", id, "err", ferr)
	}
}

// Get returns run id with its progress, and its items when items is set;
// errs.NotFound when there is none.
func (s *Service) Get(ctx context.Context, id string, items bool) (*Run, error) {
	r, err := s.cfg.Store.MigrationRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.NotFoundf("migration_not_found", "There is no migration run %s.", id)
	}
	if err != nil {
		return nil, err
	}
	run := toRun(*r)
	if items {
		rows, err := s.cfg.Store.MigrationItems(ctx, id, "")
		if err != nil {
			return nil, err
		}
		run.Items = make([]Item, len(rows)) // [] rather than null when there are none
		for i, it := range rows {
			signers := it.Signers
			if signers == nil {
				signers = []string{}
			}
			run.Items[i] = Item{Repository: it.Namespace + "/" + it.Name, Tag: it.Tag, Digest: it.Digest,
				Format: it.Format, Status: it.Status, Reason: it.Reason, Message: it.Message, Key: it.KeyID, Signers: signers}
		}
	}
	return &run, nil
}

// List returns the newest runs first (at most limit), without items.
func (s *Service) List(ctx context.Context, limit int) ([]Run, error) {
	rows, err := s.cfg.Store.MigrationRuns(ctx, "", limit)
	if err != nil {
		return nil, err
	}
	out := make([]Run, len(rows))
	for i, r := range rows {
		out[i] = toRun(r)
	}
	return out, nil
}

func toRun(r store.MigrationRun) Run {
	c := r.Counts
	run := Run{ID: r.ID, State: r.State, Formats: r.Formats, Repositories: r.Repositories, Namespaces: r.Namespaces,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, StartedBy: r.StartedBy, StartedAt: r.StartedAt,
		FinishedAt: r.FinishedAt, Error: r.Error, Total: c.Total, Pending: c.Pending, Signed: c.Signed,
		Skipped: c.Skipped, Failed: c.Failed, Progress: 100}
	if c.Total > 0 {
		run.Progress = (c.Total - c.Pending) * 100 / c.Total
	}
	return run
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

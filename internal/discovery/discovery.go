// Package discovery follows an external Notary server's global changefeed
// (`GET /v2/_trust/changefeed`, which needs `*` access): it enters every GUN
// under the registry host into the catalog, refreshes the repositories'
// trust summaries, and audits changes made directly against the server as
// "made outside trustdeck" (source notary-changefeed). Where it stopped is
// kept in the store, so a restart resumes from the last change ID.
//
// Changes trustdeck made itself are recorded before they are sent
// (audit.Attempt) and audited with their actor; the poller matches each
// change to them (Config.Own, see ours) and only refreshes the summary. A
// match also audits a change whose reply was lost (it then took effect), so
// a change trustdeck made is never audited as made outside it. Attempts are
// kept in the store: a restart loses none.
//
// GUNs outside --registry-host, or not shaped
// <registry host>/<namespace>/<name>, are entered under their full name when
// the catalog lists foreign repositories (catalog.ListForeign); a GUN that is
// not a docker repository name at all is skipped with one log line.
//
// A change ID below the stored position means the server's changefeed
// started again (notary-server's memory backend after a restart, or another
// database): the poller then reads it again from the start.
package discovery

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/notaryclient"
	"github.com/trustdeck/trustdeck/internal/store"
)

// Records is how many changes one changefeed request asks for.
const Records = 100

// Source and actors recorded in the audit log.
const (
	Source       = "notary-changefeed"
	ActorOutside = "outside trustdeck"
	CreatedBy    = "changefeed"
)

// Store keeps the cursor and the per-GUN last change.
type Store interface {
	ChangefeedCursor(ctx context.Context, server string) (string, error)
	SaveChangefeed(ctx context.Context, server, cursor string, changes []store.GUNChange) error
}

// Catalog is the part of the catalog discovery uses.
type Catalog interface {
	SplitGUN(gun string) (namespace, name string, ok bool)
	Get(ctx context.Context, namespace, name string) (*catalog.Repository, error)
	Create(ctx context.Context, namespace, name, createdBy string) (*catalog.Repository, error)
}

// Auditor records audit events.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// Summaries queues trust summary refreshes.
type Summaries interface {
	Enqueue(namespace, name string)
}

// Invalidator drops a reader's cache of a GUN.
type Invalidator interface {
	Invalidate(gun string)
}

// Attempts are the changes trustdeck sent itself (*audit.Log).
type Attempts interface {
	// Open lists gun's attempts of one kind that no change was matched to
	// yet, oldest first.
	Open(ctx context.Context, gun string, deletion bool) ([]audit.Attempt, error)
	// Matched records that a change is attempt id's (and audits it, once).
	Matched(ctx context.Context, id int64)
}

// Config is what a Poller needs.
type Config struct {
	URL       string            // the Notary server's base URL, no trailing slash
	Transport http.RoundTripper // TLS, auth, timeouts (notaryclient)
	Interval  time.Duration
	Store     Store
	Catalog   Catalog
	Audit     Auditor
	Summaries Summaries   // optional
	Reader    Invalidator // optional
	Own       Attempts    // optional: without it, every change is audited as made outside
	// OnRestart, optional, runs when the server's changefeed is found
	// started again: its trust data may have changed wholesale (a memory
	// backend forgets everything), so every summary is worth refreshing.
	OnRestart func(ctx context.Context)
	Log       *slog.Logger
}

// Poller reads the changefeed.
type Poller struct {
	cfg Config

	mu         sync.Mutex
	lastErr    string
	lastRead   time.Time
	restarts   int
	skipped    map[string]bool
	discovered int
}

// Status is what the pages say about discovery.
type Status struct {
	URL        string
	Interval   time.Duration
	Error      string    // the last poll's error; "" after a good poll
	LastRead   time.Time // the last good poll; zero before the first
	Discovered int       // repositories entered since trustdeck started
	Restarts   int       // times the server's changefeed was found started again
}

// Status reports the poller's state.
func (p *Poller) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Status{URL: p.cfg.URL, Interval: p.cfg.Interval, Error: p.lastErr, LastRead: p.lastRead,
		Discovered: p.discovered, Restarts: p.restarts}
}

// Discovered counts the repositories the poller entered into the catalog.
func (p *Poller) Discovered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.discovered
}

// New returns a Poller; call Run.
func New(cfg Config) *Poller {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Poller{cfg: cfg, skipped: map[string]bool{}}
}

// Run polls at the configured interval until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		err := p.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		p.report(err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// report logs a failure once, and the recovery.
func (p *Poller) report(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := ""
	if err != nil {
		msg = err.Error()
	} else {
		p.lastRead = time.Now()
	}
	switch {
	case msg == p.lastErr:
	case msg == "":
		p.cfg.Log.Info("notary changefeed: reading again", "server", p.cfg.URL)
	default:
		p.cfg.Log.Warn("notary changefeed: cannot read; repositories can still be added by hand", "server", p.cfg.URL, "err", msg)
	}
	p.lastErr = msg
}

// LastError is the last poll's error ("" after a good poll).
func (p *Poller) LastError() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// change is one changefeed record as notary-server serializes it.
type change struct {
	ID        string    `json:"ID"`
	CreatedAt time.Time `json:"CreatedAt"`
	GUN       string    `json:"GUN"`
	Version   int       `json:"Version"`
	SHA256    string    `json:"SHA256"`
	Category  string    `json:"Category"`
}

type feed struct {
	Count   int      `json:"count"`
	Records []change `json:"records"`
}

// Poll reads every change after the stored cursor and applies it. It first
// asks for the latest change alone (see anythingNew), so an idle poll is one
// small request.
func (p *Poller) Poll(ctx context.Context) error {
	if fresh, err := p.anythingNew(ctx); err != nil || !fresh {
		return err
	}
	for {
		cursor, err := p.cfg.Store.ChangefeedCursor(ctx, p.cfg.URL)
		if err != nil {
			return err
		}
		f, err := p.fetch(ctx, cursor, Records)
		if err != nil {
			return err
		}
		if len(f.Records) == 0 {
			return nil
		}
		latest := map[string]store.GUNChange{}
		var order []string
		applied, failed := 0, error(nil)
		for _, c := range f.Records {
			if failed = p.apply(ctx, c); failed != nil {
				break // keep what was applied: its events are recorded
			}
			applied++
			if _, seen := latest[c.GUN]; !seen {
				order = append(order, c.GUN)
			}
			latest[c.GUN] = store.GUNChange{GUN: c.GUN, ChangeID: c.ID, ChangedAt: c.CreatedAt, Category: c.Category}
		}
		if applied == 0 {
			return failed
		}
		batch := make([]store.GUNChange, 0, len(order))
		for _, g := range order {
			batch = append(batch, latest[g])
		}
		if err := p.cfg.Store.SaveChangefeed(ctx, p.cfg.URL, f.Records[applied-1].ID, batch); err != nil {
			return err
		}
		// Summaries read the stored last change: queue them once it is saved.
		for _, g := range order {
			if ns, name, ok := p.cfg.Catalog.SplitGUN(g); ok && p.cfg.Summaries != nil {
				p.cfg.Summaries.Enqueue(ns, name)
			}
		}
		if failed != nil || len(f.Records) < Records {
			return failed
		}
	}
}

// anythingNew compares the server's latest change ID with the stored
// position: equal, nothing changed; above it, there is something to read;
// below it, the server's changefeed started again (a restarted memory
// backend, another database), so the position goes back to the start and
// every summary is refreshed (OnRestart). IDs that are not numbers are read
// as before, from the stored position.
func (p *Poller) anythingNew(ctx context.Context) (bool, error) {
	cursor, err := p.cfg.Store.ChangefeedCursor(ctx, p.cfg.URL)
	if err != nil {
		return false, err
	}
	f, err := p.fetch(ctx, "-1", -1) // the most recent change
	if err != nil {
		return false, err
	}
	latest, pos := int64(0), int64(0)
	if len(f.Records) > 0 {
		if latest, err = strconv.ParseInt(f.Records[len(f.Records)-1].ID, 10, 64); err != nil {
			return true, nil
		}
	}
	if cursor != "" {
		if pos, err = strconv.ParseInt(cursor, 10, 64); err != nil {
			return true, nil
		}
	}
	if latest >= pos {
		return latest > pos, nil
	}
	p.cfg.Log.Warn("notary changefeed: the server's change IDs started again (a restarted memory backend or another database); reading it from the start",
		"server", p.cfg.URL, "stored", cursor, "latest", latest)
	if err := p.cfg.Store.SaveChangefeed(ctx, p.cfg.URL, "0", nil); err != nil {
		return false, err
	}
	p.mu.Lock()
	p.restarts++
	p.mu.Unlock()
	if p.cfg.OnRestart != nil {
		p.cfg.OnRestart(ctx)
	}
	return latest > 0, nil
}

func (p *Poller) fetch(ctx context.Context, cursor string, records int) (*feed, error) {
	if cursor == "" {
		cursor = "0"
	}
	q := url.Values{"change_id": {cursor}, "records": {strconv.Itoa(records)}}
	resp, body, err := p.get(ctx, "/v2/_trust/changefeed?"+q.Encode())
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("the Notary server refuses the global changefeed (HTTP 401): it did not accept trustdeck's credentials; check --notary-username and --notary-password, and that the account has * on registry:catalog:*")
	case resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("the Notary server refuses the global changefeed (HTTP 403): trustdeck's account needs * access on registry:catalog:*")
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("the Notary server answered the changefeed with HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body[:min(len(body), 300)])))
	}
	var f feed
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("the changefeed reply is not JSON: %w", err)
	}
	return &f, nil
}

// get sends GET path to the server and reads the answer.
func (p *Poller) get(ctx context.Context, path string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.URL+path, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := p.cfg.Transport.RoundTrip(req)
	if err != nil {
		if why := notaryclient.Explain(err); why != "" {
			return nil, nil, fmt.Errorf("the Notary server is unreachable: %s: %w", why, err)
		}
		return nil, nil, fmt.Errorf("the Notary server is unreachable: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", req.URL.Path, err)
	}
	return resp, body, nil
}

// apply enters, audits and invalidates for one change.
func (p *Poller) apply(ctx context.Context, c change) error {
	ns, name, ok := p.cfg.Catalog.SplitGUN(c.GUN)
	if !ok {
		p.mu.Lock()
		first := !p.skipped[c.GUN]
		p.skipped[c.GUN] = true
		p.mu.Unlock()
		if first {
			p.cfg.Log.Info("notary changefeed: skipping a GUN that is not a docker repository name (not shown in trustdeck)",
				"gun", c.GUN)
		}
		return nil
	}
	deletion := c.Category == "deletion"
	if p.cfg.Reader != nil && deletion {
		p.cfg.Reader.Invalidate(c.GUN)
	}
	_, err := p.cfg.Catalog.Get(ctx, ns, name)
	switch {
	case err == nil:
	case errs.KindOf(err) == errs.NotFound && deletion:
		return nil // nothing to show for a repository trustdeck does not list
	case errs.KindOf(err) == errs.NotFound:
		created, err := Enter(ctx, p.cfg.Catalog, p.cfg.Audit, Entry{GUN: c.GUN, Namespace: ns, Name: name,
			CreatedBy: CreatedBy, Source: Source, At: c.CreatedAt,
			Detail: "discovered from the Notary server's changefeed (" + p.cfg.URL + ")"})
		if err != nil {
			return err
		}
		if created {
			p.mu.Lock()
			p.discovered++
			p.mu.Unlock()
			p.cfg.Log.Info("notary changefeed: repository discovered", "repository", names.Display(ns, name))
		}
	default:
		return err
	}
	if mine, err := p.ours(ctx, c); err != nil || mine {
		return err // trustdeck made it: audited with its actor
	}
	e := audit.Event{At: c.CreatedAt, Actor: ActorOutside, GUN: c.GUN, Namespace: ns, Name: name, Source: Source}
	if deletion {
		e.Action, e.Detail = audit.TrustDelete, "made outside trustdeck: all trust data deleted (change "+c.ID+")"
	} else {
		e.Action = audit.TrustUpdate
		e.Detail = fmt.Sprintf("made outside trustdeck: timestamp v%d (change %s)", c.Version, c.ID)
	}
	p.cfg.Audit.Record(ctx, e)
	return nil
}

// Entry is a repository found outside trustdeck, to enter into the catalog.
type Entry struct {
	GUN, Namespace, Name string
	// CreatedBy is the catalog entry's creator and the audit event's actor
	// ("changefeed", "registry").
	CreatedBy string
	// Source and Detail are the audit event's.
	Source, Detail string
	// At is when it was found (zero: now).
	At time.Time
}

// EntryCatalog is what Enter needs of the catalog.
type EntryCatalog interface {
	Get(ctx context.Context, namespace, name string) (*catalog.Repository, error)
	Create(ctx context.Context, namespace, name, createdBy string) (*catalog.Repository, error)
}

// Enter adds a repository found outside trustdeck (a Notary server's
// changefeed, a registry's catalog or notifications) to the catalog unless
// it is there, and audits its creation (repo.create) exactly once: only the
// call that created the entry records the event, so finders racing each
// other for one repository record one. It reports whether it created it.
func Enter(ctx context.Context, cat EntryCatalog, aud Auditor, e Entry) (bool, error) {
	if _, err := cat.Get(ctx, e.Namespace, e.Name); err == nil || errs.KindOf(err) != errs.NotFound {
		return false, err
	}
	if _, err := cat.Create(ctx, e.Namespace, e.Name, e.CreatedBy); err != nil {
		if errs.KindOf(err) == errs.Conflict {
			return false, nil // another finder, or someone, created it meanwhile
		}
		return false, err
	}
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	aud.Record(ctx, audit.Event{At: at, Actor: e.CreatedBy, Action: audit.RepoCreate, GUN: e.GUN,
		Namespace: e.Namespace, Name: e.Name, Source: e.Source, Detail: e.Detail})
	return true, nil
}

// clockSkew is how much later than a change trustdeck may have recorded
// sending it (the server's clock against trustdeck's).
const clockSkew = time.Minute

// ours reports whether change c is one trustdeck sent, and if so marks its
// attempt matched (which audits it, with its actor, if its reply was lost).
// A deletion is the oldest open deletion attempt of the GUN sent before it.
// An update is the oldest open update attempt whose uploaded files the
// snapshot of c's timestamp lists, with the same checksums; if that
// snapshot cannot be read any more (the GUN's trust data was deleted
// since), the oldest open update sent before it that the server said it
// applied.
func (p *Poller) ours(ctx context.Context, c change) (bool, error) {
	if p.cfg.Own == nil {
		return false, nil
	}
	open, err := p.cfg.Own.Open(ctx, c.GUN, c.Category == "deletion")
	if err != nil || len(open) == 0 {
		return false, err
	}
	var listed map[string]string
	if c.Category != "deletion" {
		if listed, err = p.snapshotOf(ctx, c); err != nil {
			return false, err
		}
	}
	for _, a := range open {
		if a.CreatedAt.After(c.CreatedAt.Add(clockSkew)) {
			continue
		}
		if c.Category != "deletion" && (listed == nil && a.Outcome != audit.Applied || listed != nil && !lists(listed, a.Files)) {
			continue
		}
		p.cfg.Own.Matched(ctx, a.ID)
		return true, nil
	}
	return false, nil
}

// lists reports whether every file is listed with its checksum.
func lists(listed map[string]string, files []audit.File) bool {
	for _, f := range files {
		if listed[f.Role] != f.SHA256 {
			return false
		}
	}
	return len(files) > 0
}

// snapshotOf is the snapshot of update c's timestamp: the hex sha256 of every
// role's metadata, by role. nil when the server no longer holds that
// timestamp or snapshot (or c names no timestamp).
func (p *Poller) snapshotOf(ctx context.Context, c change) (map[string]string, error) {
	var ts, snap struct {
		Signed struct {
			Meta map[string]struct {
				Hashes map[string][]byte `json:"hashes"`
			} `json:"meta"`
		} `json:"signed"`
	}
	if c.SHA256 == "" {
		return nil, nil
	}
	if found, err := p.metadata(ctx, c.GUN, "timestamp."+c.SHA256, &ts); !found || err != nil {
		return nil, err
	}
	sum := ts.Signed.Meta["snapshot"].Hashes["sha256"]
	if len(sum) == 0 {
		return nil, nil
	}
	if found, err := p.metadata(ctx, c.GUN, "snapshot."+hex.EncodeToString(sum), &snap); !found || err != nil {
		return nil, err
	}
	out := make(map[string]string, len(snap.Signed.Meta))
	for role, m := range snap.Signed.Meta {
		out[role] = hex.EncodeToString(m.Hashes["sha256"])
	}
	return out, nil
}

// metadata reads gun's metadata file name (without .json) into v. It
// reports false when it cannot be read (the server does not hold it, or
// refuses it), and an error when the server cannot be reached (the change
// is read again at the next poll).
func (p *Poller) metadata(ctx context.Context, gun, name string, v any) (bool, error) {
	resp, body, err := p.get(ctx, "/v2/"+gun+"/_trust/tuf/"+name+".json")
	switch {
	case err != nil:
		return false, err
	case resp.StatusCode == http.StatusNotFound:
		return false, nil
	case resp.StatusCode != http.StatusOK:
		p.cfg.Log.Warn("notary changefeed: cannot read the metadata of a change trustdeck may have made",
			"gun", gun, "file", name, "status", resp.StatusCode)
		return false, nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		p.cfg.Log.Warn("notary changefeed: the metadata of a change is not JSON", "gun", gun, "file", name, "err", err)
		return false, nil
	}
	return true, nil
}

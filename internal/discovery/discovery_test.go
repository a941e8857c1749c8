package discovery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testpg"
)

// fakeNotary serves a changefeed and metadata by checksum, as notary-server
// does.
type fakeNotary struct {
	mu      sync.Mutex
	changes []change
	files   map[string][]byte // "<gun>/<role>.<sha256>" → file
}

func (f *fakeNotary) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/v2/_trust/changefeed" {
		from, _ := strconv.Atoi(r.URL.Query().Get("change_id"))
		out := []change{}
		for _, c := range f.changes {
			if id, _ := strconv.Atoi(c.ID); from < 0 || id > from {
				out = append(out, c)
			}
		}
		if from < 0 && len(out) > 0 {
			out = out[len(out)-1:]
		}
		json.NewEncoder(w).Encode(feed{Count: len(out), Records: out})
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	gun, name, ok2 := strings.Cut(rest, "/_trust/tuf/")
	b, found := f.files[gun+"/"+strings.TrimSuffix(name, ".json")]
	if !ok || !ok2 || !found {
		http.NotFound(w, r)
		return
	}
	w.Write(b)
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func meta(files map[string][]byte) map[string]any {
	m := map[string]any{}
	for role, b := range files {
		s := sha256.Sum256(b)
		m[role] = map[string]any{"length": len(b), "hashes": map[string][]byte{"sha256": s[:]}}
	}
	return m
}

// publish stores an update of gun writing files (role → metadata) and a
// snapshot and timestamp over them, and records its change.
func (f *fakeNotary) publish(gun string, files map[string][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	snap, _ := json.Marshal(map[string]any{"signed": map[string]any{"meta": meta(files)}})
	ts, _ := json.Marshal(map[string]any{"signed": map[string]any{"meta": meta(map[string][]byte{"snapshot": snap})}})
	for role, b := range map[string][]byte{"snapshot": snap, "timestamp": ts} {
		f.files[gun+"/"+role+"."+hexSum(b)] = b
	}
	f.changes = append(f.changes, change{ID: strconv.Itoa(len(f.changes) + 1), GUN: gun, Version: len(f.changes) + 1,
		SHA256: hexSum(ts), Category: "update", CreatedAt: time.Now()})
}

func (f *fakeNotary) delete(gun string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, change{ID: strconv.Itoa(len(f.changes) + 1), GUN: gun, Category: "deletion", CreatedAt: time.Now()})
}

// The poller audits a change trustdeck sent with the attempt's actor, once,
// even when the reply was lost, and never as made outside trustdeck; other
// changes are audited as made outside.
func TestChangesMatchedToAttempts(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, testpg.Location(t, filepath.Join(t.TempDir(), "trustdeck.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	cat := catalog.New(st, "reg.test")
	journal := audit.New(st, log)
	journal.SplitGUNsWith(cat.SplitGUN)
	fake := &fakeNotary{files: map[string][]byte{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	p := New(Config{URL: srv.URL, Transport: http.DefaultTransport, Interval: time.Hour, Store: st, Catalog: cat,
		Audit: journal, Own: journal, Log: log})
	const gun = "reg.test/prod/app"
	file := func(role string, v int) (map[string][]byte, []audit.File) {
		b := fmt.Appendf(nil, `{"signed":{"_type":"Targets","version":%d}}`, v)
		return map[string][]byte{role: b}, []audit.File{{Role: role, Version: v, SHA256: hexSum(b)}}
	}
	begin := func(a audit.Attempt) int64 {
		id, err := journal.Begin(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	// dave is added; the reply is lost after the server stored it.
	up, files := file("targets/dave", 1)
	lost := begin(audit.Attempt{Actor: "alice", Action: audit.SignerAdd, GUN: gun, Subject: "dave", Detail: "signer dave", Files: files})
	fake.publish(gun, up)
	journal.Resolve(ctx, lost, audit.Unknown)
	// Someone signs directly against the server.
	up, _ = file("targets", 7)
	fake.publish(gun, up)
	// carol is revoked; the server's reply arrives.
	up, files = file("targets/releases", 3)
	answered := begin(audit.Attempt{Actor: "bob", Action: audit.SignerRevoke, GUN: gun, Subject: "carol", Detail: "signer carol revoked", Files: files})
	fake.publish(gun, up)
	journal.Resolve(ctx, answered, audit.Applied)
	// An update trustdeck sent but the server refused never matches.
	_, files = file("targets/erin", 1)
	refused := begin(audit.Attempt{Actor: "bob", Action: audit.SignerAdd, GUN: gun, Subject: "erin", Files: files})
	journal.Resolve(ctx, refused, audit.Refused)
	// The trust data is deleted by trustdeck; the reply is lost.
	deletion := begin(audit.Attempt{Actor: "alice", Action: audit.TrustDelete, GUN: gun, Deletion: true, Detail: "all trust data deleted"})
	fake.delete(gun)
	journal.Resolve(ctx, deletion, audit.Unknown)

	for range 2 { // a second poll finds nothing new
		if err := p.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	events, err := journal.List(ctx, audit.Query{Namespace: "prod", Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(events) - 1; i >= 0; i-- {
		got = append(got, events[i].Actor+" "+events[i].Action)
	}
	want := []string{"bob signer.revoke", "changefeed repository.create", "alice signer.add",
		"outside trustdeck trust.update", "alice trust.delete"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("audit:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// A retry finds the deletion settled already: no second event.
	if journal.Settle(ctx, gun, audit.TrustDelete, ""); len(must(journal.List(ctx, audit.Query{Namespace: "prod"}))) != len(events) {
		t.Errorf("settling a matched deletion recorded another event")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Finders racing each other for one repository create it once and audit
// its creation once.
func TestEnterAuditsOnce(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, testpg.Location(t, filepath.Join(t.TempDir(), "trustdeck.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cat := catalog.New(st, "reg.test")
	journal := audit.New(st, slog.New(slog.DiscardHandler))
	journal.SplitGUNsWith(cat.SplitGUN)
	var wg sync.WaitGroup
	created := make(chan bool, 8)
	for range 8 {
		wg.Go(func() {
			ok, err := Enter(ctx, cat, journal, Entry{GUN: "reg.test/prod/app", Namespace: "prod", Name: "app",
				CreatedBy: "registry", Source: "registry-catalog", Detail: "found"})
			if err != nil {
				t.Error(err)
			}
			created <- ok
		})
	}
	wg.Wait()
	close(created)
	n := 0
	for ok := range created {
		if ok {
			n++
		}
	}
	events := must(journal.List(ctx, audit.Query{Namespace: "prod", Name: "app"}))
	if n != 1 || len(events) != 1 || events[0].Actor != "registry" || events[0].Action != audit.RepoCreate {
		t.Errorf("%d creations reported, events %+v; want one of each", n, events)
	}
	r := must(cat.Get(ctx, "prod", "app"))
	if r.CreatedBy != "registry" {
		t.Errorf("created by %q", r.CreatedBy)
	}
}

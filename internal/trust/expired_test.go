package trust

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testnotary"
)

// storeFixture writes trust data signed offline straight into the embedded
// server's store, as if it had been published long ago and had expired
// since (the server refuses expired uploads).
func (e *env) storeFixture(f testnotary.Fixture) testnotary.Built {
	e.t.Helper()
	b, err := f.Build()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.UpdateMany(data.GUN(f.GUN), b.Updates()); err != nil {
		e.t.Fatal(err)
	}
	return b
}

// served is the current file of role as the Notary API serves it.
func (e *env) served(gun, role string) []byte {
	e.t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + "/v2/" + gun + "/_trust/tuf/" + role + ".json")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s of %s: %d %s", role, gun, resp.StatusCode, b)
	}
	return b
}

func roleNames(ms []RoleMeta) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Role)
	}
	return out
}

func TestLoadAllowingExpiryReadsExpiredTargets(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/old/app"
	targetsExpired := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	releasesExpired := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	b := e.storeFixture(testnotary.Fixture{
		GUN:         gun,
		Expires:     map[string]time.Time{"targets": targetsExpired, RoleReleases: releasesExpired},
		Delegations: []string{RoleReleases, "targets/jeff"},
		Targets: map[string]map[string]string{
			"targets":    {"latest": "c-latest"},
			RoleReleases: {"1": "c-1"},
			"targets/jeff": {
				"1": "c-1",
			},
		},
	})
	r := NewReader(e.remote())
	ctx := context.Background()

	// Load refuses it, saying why.
	_, err := r.Load(ctx, gun)
	if !errors.Is(err, ErrExpired) || !errors.Is(err, ErrVerification) {
		t.Fatalf("Load of expired targets: %v, want ErrExpired and ErrVerification", err)
	}
	if e, ok := errs.As(err); !ok || e.Code != "trust_data_expired" || e.Kind != errs.Unavailable ||
		!strings.Contains(e.Message, "has expired: its targets metadata expired on") || !strings.Contains(e.Message, "signed again") {
		t.Fatalf("Load's error: %#v", err)
	}

	repo, err := r.LoadAllowingExpiry(ctx, gun)
	if err != nil {
		t.Fatal(err)
	}
	wantRoles := []string{"root", "targets", "snapshot", "timestamp", RoleReleases, "targets/jeff"}
	if got := roleNames(repo.Roles); !slices.Equal(got, wantRoles) {
		t.Fatalf("roles %q, want %q", got, wantRoles)
	}
	for _, m := range repo.Roles {
		if !bytes.Equal(m.Raw, b.Files[m.Role]) || !bytes.Equal(m.Raw, e.served(gun, m.Role)) {
			t.Errorf("%s: Raw differs from what was stored and is served", m.Role)
		}
	}
	expired := repo.ExpiredRoles()
	if got := roleNames(expired); !slices.Equal(got, []string{"targets", RoleReleases}) {
		t.Fatalf("expired roles %q", got)
	}
	if !expired[0].Expires.Equal(targetsExpired) || !expired[1].Expires.Equal(releasesExpired) {
		t.Errorf("expiries %v %v, want %v %v", expired[0].Expires, expired[1].Expires, targetsExpired, releasesExpired)
	}
	if len(repo.SkippedRoles) != 0 {
		t.Errorf("skipped %q", repo.SkippedRoles)
	}
	if got := tagsOf(repo); !slices.Equal(got, []string{"1", "latest"}) {
		t.Errorf("tags %q", got)
	}
	if r.Cached() != 1 {
		// Load's failed attempt created the entry; LoadAllowingExpiry adds none.
		t.Errorf("cached %d", r.Cached())
	}
}

func TestLoadAllowingExpiryReadsExpiredRoot(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/old/root"
	rootExpired := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	e.storeFixture(testnotary.Fixture{GUN: gun, Expires: map[string]time.Time{"root": rootExpired},
		Targets: map[string]map[string]string{"targets": {"v1": "c-1"}}})
	r := NewReader(e.remote())
	if _, err := r.Load(context.Background(), gun); !errors.Is(err, ErrExpired) {
		t.Fatalf("Load of an expired root: %v, want ErrExpired", err)
	}
	repo, err := r.LoadAllowingExpiry(context.Background(), gun)
	if err != nil {
		t.Fatal(err)
	}
	if got := repo.ExpiredRoles(); len(got) != 1 || got[0].Role != "root" || !got[0].Expires.Equal(rootExpired) {
		t.Fatalf("expired roles %+v", got)
	}
}

// Expiry is the one thing LoadAllowingExpiry lets pass.
func TestLoadAllowingExpiryStillVerifies(t *testing.T) {
	past := time.Now().Add(-time.Hour)

	t.Run("bad targets signature", func(t *testing.T) {
		e := newEnv(t)
		gun := "reg.test/bad/targets"
		e.storeFixture(testnotary.Fixture{GUN: gun, Expires: map[string]time.Time{"root": past},
			Targets: map[string]map[string]string{"targets": {"v1": "c-1"}}, Tamper: "targets"})
		_, err := NewReader(e.remote()).LoadAllowingExpiry(context.Background(), gun)
		if !errors.Is(err, ErrVerification) || errors.Is(err, ErrExpired) {
			t.Fatalf("tampered targets: %v, want a verification error", err)
		}
	})

	t.Run("bad delegation signature is skipped", func(t *testing.T) {
		e := newEnv(t)
		gun := "reg.test/bad/delegation"
		e.storeFixture(testnotary.Fixture{GUN: gun, Expires: map[string]time.Time{"targets": past},
			Delegations: []string{RoleReleases, "targets/jeff"},
			Targets:     map[string]map[string]string{RoleReleases: {"1": "c-1"}, "targets/jeff": {"1": "c-1"}},
			Tamper:      "targets/jeff"})
		repo, err := NewReader(e.remote()).LoadAllowingExpiry(context.Background(), gun)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(repo.SkippedRoles, []string{"targets/jeff"}) || repo.Role("targets/jeff") != nil {
			t.Fatalf("skipped %q, roles %q", repo.SkippedRoles, roleNames(repo.Roles))
		}
	})

	// The server's files altered on the way: each must be refused.
	alter := map[string]func([]byte) []byte{
		"timestamp signature": func(b []byte) []byte { return flipSignature(t, b) },
		"root signature":      func(b []byte) []byte { return flipSignature(t, b) },
		"snapshot bytes":      func(b []byte) []byte { return append(b, ' ') },
		"targets bytes":       func(b []byte) []byte { return append(b, ' ') },
		"releases bytes":      func(b []byte) []byte { return append(b, ' ') },
	}
	file := map[string]string{"timestamp signature": "timestamp", "root signature": "root",
		"snapshot bytes": "snapshot", "targets bytes": "targets", "releases bytes": "releases"}
	for name, fn := range alter {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			gun := "reg.test/bad/served"
			e.storeFixture(testnotary.Fixture{GUN: gun, Expires: map[string]time.Time{"targets": past},
				Delegations: []string{RoleReleases}, Targets: map[string]map[string]string{RoleReleases: {"1": "c-1"}}})
			r := NewReader(e.remote())
			if _, err := r.LoadAllowingExpiry(context.Background(), gun); err != nil {
				t.Fatalf("before altering: %v", err)
			}
			e.rt.tamper = func(path string, body []byte) []byte {
				base := path[strings.LastIndex(path, "/")+1:]
				if strings.HasPrefix(base, file[name]+".") {
					return fn(body)
				}
				return body
			}
			repo, err := r.LoadAllowingExpiry(context.Background(), gun)
			if name == "releases bytes" {
				// A delegation whose bytes do not match the snapshot fails the
				// whole read, as in notary's client.
				if err == nil {
					t.Fatalf("altered %s accepted: roles %q skipped %q", file[name], roleNames(repo.Roles), repo.SkippedRoles)
				}
			}
			if !errors.Is(err, ErrVerification) || errors.Is(err, ErrExpired) {
				t.Fatalf("altered %s: %v, want a verification error", file[name], err)
			}
		})
	}

	t.Run("expired root certificate", func(t *testing.T) {
		// notary's root validation refuses expired root certificates even
		// when metadata expiry is allowed: such data cannot be verified.
		e := newEnv(t)
		gun := "reg.test/bad/cert"
		e.storeFixture(testnotary.Fixture{GUN: gun, Expires: map[string]time.Time{"root": past}, RootCertNotAfter: past})
		_, err := NewReader(e.remote()).LoadAllowingExpiry(context.Background(), gun)
		if !errors.Is(err, ErrVerification) {
			t.Fatalf("expired root certificate: %v, want a verification error", err)
		}
	})

	t.Run("no trust data", func(t *testing.T) {
		e := newEnv(t)
		_, err := NewReader(e.remote()).LoadAllowingExpiry(context.Background(), "reg.test/none/app")
		if !errors.Is(err, ErrNoTrustData) {
			t.Fatalf("no trust data: %v", err)
		}
	})
}

// flipSignature changes one character of the first signature of a signed
// JSON file.
func flipSignature(t *testing.T, b []byte) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(`"sig":"`))
	if i < 0 {
		t.Fatalf("no signature in %s", b)
	}
	out := bytes.Clone(b)
	j := i + len(`"sig":"`) + 5
	if out[j] == 'A' {
		out[j] = 'B'
	} else {
		out[j] = 'A'
	}
	return out
}

// summaryStore keeps the summaries a Summarizer writes.
type summaryStore struct{ got map[string]store.TrustSummary }

func (m *summaryStore) PutTrustSummary(_ context.Context, ns, name string, t store.TrustSummary) error {
	m.got[ns+"/"+name] = t
	return nil
}
func (m *summaryStore) LastTargetsChange(context.Context, string) (time.Time, error) {
	return time.Time{}, nil
}
func (m *summaryStore) ReposWithoutSummary(context.Context) ([]store.Repository, error) {
	return nil, nil
}
func (m *summaryStore) RepositoryNames(context.Context) ([][2]string, error) { return nil, nil }

// The list shows an expired repository with what it holds and the expired
// role as its nearest expiry, not as unreadable; tampered data stays an error.
func TestSummaryOfExpiredRepository(t *testing.T) {
	e := newEnv(t)
	expired := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	e.storeFixture(testnotary.Fixture{
		GUN:         "reg.test/old/app",
		Expires:     map[string]time.Time{"targets": expired},
		Delegations: []string{RoleReleases},
		Targets:     map[string]map[string]string{RoleReleases: {"1": "c-1", "2": "c-2"}},
	})
	e.storeFixture(testnotary.Fixture{
		GUN:     "reg.test/old/tampered",
		Expires: map[string]time.Time{"targets": expired},
		Targets: map[string]map[string]string{"targets": {"1": "c-1"}},
		Tamper:  "targets",
	})
	st := &summaryStore{got: map[string]store.TrustSummary{}}
	sum := NewSummarizer(NewReader(e.remote()), st, func(ns, name string) string { return "reg.test/" + ns + "/" + name },
		slog.New(slog.DiscardHandler))
	ctx := context.Background()
	for _, name := range []string{"app", "tampered"} {
		if err := sum.Refresh(ctx, "old", name); err != nil {
			t.Fatal(err)
		}
	}
	got := st.got["old/app"]
	if got.State != "signed" || got.SignedTags != 2 || got.NearestExpiryRole != "targets" || !got.NearestExpiry.Equal(expired) {
		t.Errorf("summary of the expired repository %+v, want signed, 2 tags, nearest expiry targets at %s", got, expired)
	}
	if got := st.got["old/tampered"]; got.State != "error" || !strings.Contains(got.Error, "verification") && !strings.Contains(got.Error, "failed") {
		t.Errorf("summary of the tampered repository %+v, want an error", got)
	}
}

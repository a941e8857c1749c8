package interop

// Backups of expired repositories: trust data whose root, targets or signer
// metadata expired while nobody looked is exactly what administrators remove,
// so it must be backed up first. Expired metadata is signed offline with
// notary's tuf package (the server refuses expired uploads) and written into
// the embedded server's store; then the backup (UI and API routes), the
// wizard and the repository page are checked, and tampered data is still
// refused.
//
// Helpers of this file are prefixed with ex.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"

	"github.com/trustdeck/trustdeck/internal/testnotary"
	"github.com/trustdeck/trustdeck/internal/views"
)

// exStore signs f and writes it into the embedded server's TUF store.
func exStore(t *testing.T, w *world, f testnotary.Fixture) testnotary.Built {
	t.Helper()
	b, err := f.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.s.App.Store.TUF().UpdateMany(data.GUN(f.GUN), b.Updates()); err != nil {
		t.Fatal(err)
	}
	return b
}

// exManifest is the part of manifest.json about expiry.
type exManifest struct {
	Files []struct {
		Role    string    `json:"role"`
		Expires time.Time `json:"expires"`
		Expired bool      `json:"expired"`
	} `json:"files"`
	Expired []struct {
		Role    string    `json:"role"`
		Expires time.Time `json:"expires"`
	} `json:"expired_roles"`
	Skipped []string `json:"skipped_roles"`
}

func TestExpiredRepositoryBackup(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	past := func(d time.Duration) time.Time { return time.Now().Add(-d).UTC().Truncate(time.Second) }

	type fixture struct {
		name    string
		fixture testnotary.Fixture
		expired map[string]time.Time // role → expiry, as the manifest must list them
		dels    []string
		// readable is set when docker still reads the repository (only a
		// signer's role expired: docker ignores that role).
		readable bool
	}
	targetsExpiry, releasesExpiry, rootExpiry := past(40*24*time.Hour), past(3*24*time.Hour), past(2*time.Hour)
	fixtures := []fixture{
		{
			// Signed years ago: targets and the releases role expired, jeff's
			// role is still valid.
			name: "abandoned",
			fixture: testnotary.Fixture{
				Expires:     map[string]time.Time{"targets": targetsExpiry, "targets/releases": releasesExpiry},
				Delegations: []string{"targets/releases", "targets/jeff"},
				Targets: map[string]map[string]string{
					"targets/releases": {"1": "content 1", "2": "content 2"},
					"targets/jeff":     {"1": "content 1"},
				},
			},
			expired: map[string]time.Time{"targets": targetsExpiry, "targets/releases": releasesExpiry},
			dels:    []string{"targets/releases", "targets/jeff"},
		},
		{
			name: "oldroot",
			fixture: testnotary.Fixture{
				Expires: map[string]time.Time{"root": rootExpiry},
				Targets: map[string]map[string]string{"targets": {"v1": "content v1"}},
			},
			expired: map[string]time.Time{"root": rootExpiry},
		},
		{
			// Only a signer's role expired: docker reads the rest and ignores
			// it, but the backup keeps it.
			name: "oldsigner",
			fixture: testnotary.Fixture{
				Expires:     map[string]time.Time{"targets/jeff": releasesExpiry},
				Delegations: []string{"targets/releases", "targets/jeff"},
				Targets: map[string]map[string]string{
					"targets/releases": {"1": "content 1"},
					"targets/jeff":     {"1": "content 1"},
				},
			},
			expired:  map[string]time.Time{"targets/jeff": releasesExpiry},
			dels:     []string{"targets/releases", "targets/jeff"},
			readable: true,
		},
	}

	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			full := "prod/" + fx.name
			gun := w.gun("prod", fx.name)
			w.s.MustCreateRepo(t, "prod", fx.name)
			fx.fixture.GUN = gun
			built := exStore(t, w, fx.fixture)
			roles := append([]string{"root", "targets", "snapshot", "timestamp"}, fx.dels...)

			// docker's verification refuses it: that is the problem.
			status, body := rmCall(t, w, admin, http.MethodGet, "/api/v1/trust/inspect?ref="+gun, nil)
			if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[fx.readable]; status != want {
				t.Errorf("inspect of expired trust data: %d %s, want %d as docker", status, body, want)
			}

			// The API backup.
			b := rmBackup(t, w, admin, full)
			rmCheckBackupNames(t, b, fx.dels...)
			rmCheckManifest(t, b, gun, admin.name)
			exCheckExpired(t, b, fx.expired, roles)

			// Byte for byte what the Notary API serves (and what was stored).
			tok := w.token(admin, "repository:"+gun+":pull").token
			for _, role := range roles {
				status, served := w.notaryAPI(http.MethodGet, "/v2/"+gun+"/_trust/tuf/"+role+".json", tok, nil, "")
				if status != http.StatusOK {
					t.Fatalf("GET %s.json: %d %s", role, status, served)
				}
				if !bytes.Equal(b.files[role+".json"], []byte(served)) || !bytes.Equal(b.files[role+".json"], built.Files[role]) {
					t.Errorf("%s.json of the backup differs from what the Notary API serves", role)
				}
			}

			// The files verify, expiry aside; with expiry they do not.
			if err := exLoadTUF(gun, b, true); err != nil {
				t.Errorf("the backup does not verify (expiry allowed): %v", err)
			}
			var exp signed.ErrExpired
			if err := exLoadTUF(gun, b, false); !errors.As(err, &exp) {
				t.Errorf("the backup should be expired for notary's client: %v", err)
			}

			// The UI route gives the same archive, to readers too.
			admBrowser := w.s.NewBrowser(t)
			admBrowser.Login(admin.name, admin.pass)
			resp, archive := admBrowser.Get("/repositories/" + full + "/trust/backup")
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/gzip" {
				t.Fatalf("UI backup: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			_, ui := testnotary.Untar(t, []byte(archive))
			for _, role := range roles {
				if !bytes.Equal(ui[role+".json"], b.files[role+".json"]) {
					t.Errorf("%s.json of the UI backup differs from the API backup's", role)
				}
			}
			if status, body := rmCall(t, w, reader, http.MethodGet, "/api/v1/repositories/"+full+"/trust/backup", nil); status != http.StatusOK {
				t.Errorf("backup as a reader: %d %s", status, body)
			}

			// The wizard says it has expired, offers the backup, and still
			// guards the deletion.
			resp, page := admBrowser.Get("/repositories/" + full + "/delete")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("wizard: %d\n%s", resp.StatusCode, page)
			}
			block := exBetween(page, `id="expired"`, "</div>")
			if block == "" || !strings.Contains(block, "has expired") {
				t.Errorf("the wizard should say the trust data has expired:\n%s", page)
			}
			for role, at := range fx.expired {
				if !strings.Contains(block, "<code>"+role+"</code> since "+views.FormatTime(at)) {
					t.Errorf("the wizard's expiry notice should name %s, expired %s:\n%s", role, views.FormatTime(at), block)
				}
			}
			for _, want := range []string{`id="step-backup"`, `href="/repositories/` + full + `/trust/backup"`,
				`action="/repositories/` + full + `/trust/delete"`, "Possible once no trust data remains."} {
				if !strings.Contains(page, want) {
					t.Errorf("the wizard of expired trust data lacks %q:\n%s", want, page)
				}
			}
			if strings.Contains(page, "could not be read") || strings.Contains(page, `id="confirm-repo"`) {
				t.Errorf("the wizard of expired trust data should neither report it unreadable nor offer step 4:\n%s", page)
			}
			status, body = rmCall(t, w, admin, http.MethodDelete, "/api/v1/repositories/"+full, nil)
			rmExpectError(t, "DELETE of a repository with expired trust data", status, body, http.StatusConflict, "trust_data_exists")

			// The repository page explains, and offers the backup.
			resp, page = admBrowser.Get("/repositories/" + full)
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, `href="/repositories/`+full+`/trust/backup"`) ||
				!fx.readable && (!strings.Contains(page, "has expired") || !strings.Contains(page, `id="expired-backup"`)) {
				t.Errorf("repository page of expired trust data: %d, want 200 with the expiry and the backup link:\n%s", resp.StatusCode, page)
			}
		})
	}

	// Expired and tampered: refused, as before.
	t.Run("tampered", func(t *testing.T) {
		const name, full = "tampered", "prod/tampered"
		gun := w.gun("prod", name)
		w.s.MustCreateRepo(t, "prod", name)
		exStore(t, w, testnotary.Fixture{GUN: gun, Expires: map[string]time.Time{"root": rootExpiry},
			Targets: map[string]map[string]string{"targets": {"v1": "content v1"}}, Tamper: "targets"})
		status, body := rmCall(t, w, admin, http.MethodGet, "/api/v1/repositories/"+full+"/trust/backup", nil)
		rmExpectError(t, "backup of tampered trust data", status, body, http.StatusServiceUnavailable, "trust_data_invalid", "failed verification")
		b := w.s.NewBrowser(t)
		b.Login(admin.name, admin.pass)
		if resp, page := b.Get("/repositories/" + full + "/trust/backup"); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("UI backup of tampered trust data: %d, want 503:\n%s", resp.StatusCode, page)
		}
		resp, page := b.Get("/repositories/" + full + "/delete")
		if resp.StatusCode != http.StatusOK || strings.Contains(page, `id="step-backup"`) || strings.Contains(page, `id="expired"`) ||
			!strings.Contains(page, "could not be read") || !strings.Contains(page, `action="/repositories/`+full+`/trust/delete"`) {
			t.Errorf("the wizard of tampered trust data should report it unreadable, offer no backup, keep step 3: %d\n%s", resp.StatusCode, page)
		}
		resp, page = b.Get("/repositories/" + full)
		if resp.StatusCode != http.StatusOK || strings.Contains(page, "/trust/backup") || !strings.Contains(page, "failed verification") {
			t.Errorf("repository page of tampered trust data: %d, want 200 without a backup link:\n%s", resp.StatusCode, page)
		}
	})

	// The expired repository is then removed as any other.
	t.Run("removal", func(t *testing.T) {
		full := "prod/abandoned"
		status, body := rmCall(t, w, admin, http.MethodDelete, "/api/v1/repositories/"+full+"/trust",
			map[string]any{"confirm": full, "delete_keys": false})
		if status != http.StatusNoContent {
			t.Fatalf("DELETE trust of the expired repository: %d %s", status, body)
		}
		if status, body = rmCall(t, w, admin, http.MethodDelete, "/api/v1/repositories/"+full, nil); status != http.StatusNoContent {
			t.Fatalf("DELETE of the expired repository after its trust data: %d %s", status, body)
		}
	})
}

// exCheckExpired checks what manifest.json and README.txt say about expiry.
func exCheckExpired(t *testing.T, b rmArchive, want map[string]time.Time, roles []string) {
	t.Helper()
	var m exManifest
	if err := json.Unmarshal(b.files["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, e := range m.Expired {
		got[e.Role] = e.Expires
	}
	if len(got) != len(want) || len(m.Expired) != len(want) {
		t.Errorf("manifest expired_roles %+v, want %v", m.Expired, want)
	}
	for role, at := range want {
		if !got[role].Equal(at) {
			t.Errorf("manifest expired_roles: %s expires %v, want %v", role, got[role], at)
		}
	}
	var files []string
	for _, f := range m.Files {
		files = append(files, f.Role)
		_, expired := want[f.Role]
		if f.Expired != expired {
			t.Errorf("manifest file %s: expired %v, want %v", f.Role, f.Expired, expired)
		}
	}
	if !slices.Equal(files, roles) {
		t.Errorf("manifest files %q, want %q", files, roles)
	}
	if len(m.Skipped) != 0 {
		t.Errorf("manifest skipped_roles %q, want none", m.Skipped)
	}
	readme := string(b.files["README.txt"])
	if !strings.Contains(readme, "EXPIRED") || strings.Contains(readme, "INCOMPLETE") {
		t.Errorf("README.txt should say which roles had expired:\n%s", readme)
	}
	for role, at := range want {
		if !strings.Contains(readme, role) || !strings.Contains(readme, at.Format(time.RFC3339)) {
			t.Errorf("README.txt should name %s, expired %s:\n%s", role, at.Format(time.RFC3339), readme)
		}
	}
}

// exLoadTUF loads the backup's files into notary's TUF builder in notary's
// client order, allowing expired metadata or not.
func exLoadTUF(gun string, b rmArchive, allowExpired bool) error {
	builder := tuf.NewRepoBuilder(data.GUN(gun), cryptoservice.NewCryptoService(), trustpinning.TrustPinConfig{})
	order := []string{"root", "timestamp", "snapshot", "targets"}
	for _, f := range b.manifest.Files {
		if data.IsDelegation(data.RoleName(f.Role)) {
			order = append(order, f.Role)
		}
	}
	for _, role := range order {
		if err := builder.Load(data.RoleName(role), b.files[role+".json"], 1, allowExpired); err != nil {
			return fmt.Errorf("load %s: %w", role, err)
		}
	}
	_, _, err := builder.Finish()
	return err
}

// exBetween is the text of s from the first start to the next end after it,
// or "".
func exBetween(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], end)
	if j < 0 {
		return s[i:]
	}
	return s[i : i+j]
}

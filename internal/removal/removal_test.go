package removal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/theupdateframework/notary/server/storage"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/notaryserver"
	"github.com/trustdeck/trustdeck/internal/testnotary"
	"github.com/trustdeck/trustdeck/internal/trust"
)

func TestMain(m *testing.M) {
	logrus.SetLevel(logrus.PanicLevel) // notary logs every expired role at error level
	os.Exit(m.Run())
}

// TestBackupOfExpiredTrustData backs up trust data signed offline and
// written into an embedded Notary server's store, read through a real
// trust.Reader over HTTP.
func TestBackupOfExpiredTrustData(t *testing.T) {
	past := func(d time.Duration) time.Time { return time.Now().Add(-d).UTC().Truncate(time.Second) }
	targetsExpiry, jeffExpiry := past(30*24*time.Hour), past(time.Hour)
	tests := []struct {
		name    string
		fixture testnotary.Fixture
		files   []string             // roles in the archive, in the manifest's order
		expired map[string]time.Time // the manifest's expired_roles
		skipped []string
	}{
		{
			name: "targets expired",
			fixture: testnotary.Fixture{Expires: map[string]time.Time{"targets": targetsExpiry},
				Delegations: []string{trust.RoleReleases}, Targets: map[string]map[string]string{trust.RoleReleases: {"1": "c1"}}},
			files:   []string{"root", "targets", "snapshot", "timestamp", trust.RoleReleases},
			expired: map[string]time.Time{"targets": targetsExpiry},
		},
		{
			// docker reads this one (it ignores both signers' roles); the
			// backup keeps the expired role and leaves out the bad one.
			name: "one signer expired, one badly signed",
			fixture: testnotary.Fixture{Expires: map[string]time.Time{"targets/jeff": jeffExpiry},
				Delegations: []string{trust.RoleReleases, "targets/jeff", "targets/ian"},
				Targets:     map[string]map[string]string{"targets/jeff": {"1": "c1"}, "targets/ian": {"1": "c1"}},
				Tamper:      "targets/ian"},
			files:   []string{"root", "targets", "snapshot", "timestamp", trust.RoleReleases, "targets/jeff"},
			expired: map[string]time.Time{"targets/jeff": jeffExpiry},
			skipped: []string{"targets/ian"},
		},
		{
			name:    "nothing expired",
			fixture: testnotary.Fixture{Targets: map[string]map[string]string{"targets": {"1": "c1"}}},
			files:   []string{"root", "targets", "snapshot", "timestamp"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			gun := "reg.test/prod/app"
			tc.fixture.GUN = gun
			e.put(tc.fixture)
			name, archive, err := e.svc.Backup(context.Background(), gun, "alice")
			if err != nil {
				t.Fatal(err)
			}
			files := unpack(t, name, archive)
			var m Manifest
			if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
				t.Fatal(err)
			}
			var roles []string
			for _, f := range m.Files {
				roles = append(roles, f.Role)
				served := e.served(gun, f.Role)
				if !bytes.Equal(files[f.File], served) {
					t.Errorf("%s differs from what the server serves", f.File)
				}
				want, expired := tc.expired[f.Role]
				if f.Expired != expired || expired && !f.Expires.Equal(want) {
					t.Errorf("manifest entry %s: expired %v expires %v, want %v %v", f.Role, f.Expired, f.Expires, expired, want)
				}
			}
			if !slices.Equal(roles, tc.files) {
				t.Errorf("manifest files %q, want %q", roles, tc.files)
			}
			if len(m.Expired) != len(tc.expired) {
				t.Errorf("expired_roles %+v, want %v", m.Expired, tc.expired)
			}
			for _, x := range m.Expired {
				if want, ok := tc.expired[x.Role]; !ok || !x.Expires.Equal(want) {
					t.Errorf("expired_roles lists %s expiring %v, want %v", x.Role, x.Expires, tc.expired)
				}
			}
			if !slices.Equal(m.Skipped, tc.skipped) {
				t.Errorf("skipped_roles %q, want %q", m.Skipped, tc.skipped)
			}
			if got := bytes.Contains(files["manifest.json"], []byte(`"expired_roles"`)); got != (len(tc.expired) > 0) {
				t.Errorf("manifest.json mentions expired_roles: %v\n%s", got, files["manifest.json"])
			}
			readme := string(files["README.txt"])
			if strings.Contains(readme, "EXPIRED") != (len(tc.expired) > 0) ||
				strings.Contains(readme, "INCOMPLETE") != (len(tc.skipped) > 0) {
				t.Errorf("README.txt:\n%s", readme)
			}
			for role, at := range tc.expired {
				if !strings.Contains(readme, role) || !strings.Contains(readme, at.Format(time.RFC3339)) {
					t.Errorf("README.txt should name %s, expired %s:\n%s", role, at.Format(time.RFC3339), readme)
				}
			}
		})
	}
}

func TestBackupRefusesTamperedExpiredTrustData(t *testing.T) {
	for _, role := range []string{"targets", trust.RoleReleases} {
		t.Run(role, func(t *testing.T) {
			e := newEnv(t)
			gun := "reg.test/prod/bad"
			// The root expired, so only the expiry-tolerant read gets as far
			// as the tampered role.
			e.put(testnotary.Fixture{GUN: gun, Expires: map[string]time.Time{"root": time.Now().Add(-time.Hour)},
				Delegations: []string{trust.RoleReleases}, Targets: map[string]map[string]string{trust.RoleReleases: {"1": "c1"}},
				Tamper: role})
			name, archive, err := e.svc.Backup(context.Background(), gun, "alice")
			if role == "targets" {
				if !errors.Is(err, trust.ErrVerification) || errors.Is(err, trust.ErrExpired) {
					t.Fatalf("backup of a tampered targets role: %v, want a verification error", err)
				}
				return
			}
			// A badly signed delegation is skipped, as before, and said so.
			if err != nil {
				t.Fatal(err)
			}
			files := unpack(t, name, archive)
			var m Manifest
			if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
				t.Fatal(err)
			}
			if _, ok := files[role+".json"]; ok || !slices.Equal(m.Skipped, []string{role}) ||
				!strings.Contains(string(files["README.txt"]), "INCOMPLETE") {
				t.Fatalf("the badly signed %s should be left out and listed as skipped: %s", role, files["manifest.json"])
			}
		})
	}
}

type env struct {
	t     *testing.T
	srv   *httptest.Server
	store *storage.MemStorage
	svc   *Service
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, store: storage.NewMemStorage()}
	e.srv = httptest.NewServer(notaryserver.New(notaryserver.Config{
		Store: e.store, Crypto: testnotary.Locked(signed.NewEd25519()), KeyAlgorithm: data.ED25519Key,
		Logger: slog.New(slog.DiscardHandler),
	}))
	t.Cleanup(e.srv.Close)
	reader := trust.NewReader(func(gun string) (store.RemoteStore, error) {
		return store.NewNotaryServerStore(e.srv.URL, data.GUN(gun), e.srv.Client().Transport)
	})
	e.svc = New(reader, nil, nil, nil, nil)
	return e
}

// put writes trust data signed offline into the server's store: the server
// refuses expired metadata in uploads.
func (e *env) put(f testnotary.Fixture) {
	e.t.Helper()
	b, err := f.Build()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.UpdateMany(data.GUN(f.GUN), b.Updates()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) served(gun, role string) []byte {
	e.t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + "/v2/" + gun + "/_trust/tuf/" + role + ".json")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d %v", role, resp.StatusCode, err)
	}
	return b
}

// unpack returns the archive's files by path below its top folder, which
// must be the archive's name without .tar.gz.
func unpack(t *testing.T, name string, archive []byte) map[string][]byte {
	t.Helper()
	top, files := testnotary.Untar(t, archive)
	if top+".tar.gz" != name {
		t.Errorf("the archive's top folder is %s, want %s", top, strings.TrimSuffix(name, ".tar.gz"))
	}
	return files
}

// TestManifestNamesSourceAndRootKeys: what offline verification needs is in
// the manifests (the time was already): the server and the root key IDs in
// both forms, read from root.json here independently.
func TestManifestNamesSourceAndRootKeys(t *testing.T) {
	e := newEnv(t)
	e.svc.RecordSource("https://notary.example:4443")
	gun := "reg.test/prod/app"
	e.put(testnotary.Fixture{GUN: gun, Targets: map[string]map[string]string{"targets": {"1": "c1"}}})
	var root data.Signed
	if err := json.Unmarshal(e.served(gun, "root"), &root); err != nil {
		t.Fatal(err)
	}
	sr, err := data.RootFromSigned(&root)
	if err != nil {
		t.Fatal(err)
	}
	id := sr.Signed.Roles[data.CanonicalRootRole].KeyIDs[0]
	canonical, err := utils.CanonicalKeyID(sr.Signed.Keys[id])
	if err != nil || canonical == id {
		t.Fatalf("canonical ID %q of %q: %v", canonical, id, err)
	}
	want := []RootKey{{ID: id, CanonicalID: canonical}}

	name, archive, err := e.svc.Backup(context.Background(), gun, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(unpack(t, name, archive)["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	if m.NotaryURL != "https://notary.example:4443" || !slices.Equal(m.RootKeys, want) || m.CreatedAt.IsZero() {
		t.Errorf("manifest notary_url %q root_keys %+v created_at %v, want the server, %+v and a time", m.NotaryURL, m.RootKeys, m.CreatedAt, want)
	}

	cat := &fakeCatalog{repos: []catalog.Repository{repoOf("prod", "app")}}
	e.svc.catalog = cat
	x, err := e.svc.Export(context.Background(), nil, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	xm, err := x.Write(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	_, files := testnotary.Untar(t, buf.Bytes())
	var top ExportManifest
	if err := json.Unmarshal(files["manifest.json"], &top); err != nil {
		t.Fatal(err)
	}
	if top.NotaryURL != m.NotaryURL || xm.NotaryURL != m.NotaryURL {
		t.Errorf("export manifest notary_url %q, want %q", top.NotaryURL, m.NotaryURL)
	}
	if err := json.Unmarshal(files[folderName(gun)+"/manifest.json"], &m); err != nil || !slices.Equal(m.RootKeys, want) {
		t.Errorf("the export's folder manifest root_keys %+v (%v), want %+v", m.RootKeys, err, want)
	}
}

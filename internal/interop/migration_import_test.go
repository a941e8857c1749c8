package interop

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/migration"
	"github.com/trustdeck/trustdeck/internal/testpki"
)

// TestMigrationImportedIdentity: a namespace signs Notation with the
// admin's own certificate chain (RSA 3072 under an intermediate, the root
// given apart) and cosign with an existing signer's vault key that has a
// passphrase of its own. One passphrase is refused naming the signer's
// key; the run form with a passphrase per key signs; the real notation
// and cosign CLIs, set up from the exports, verify what it signed.
func TestMigrationImportedIdentity(t *testing.T) {
	w, r := registryWorldAs(t, false, admin)
	w.s.MustCreateRepo(t, "prod", "app")
	img := r.Client(admin.name, admin.pass).PushImage(t, "prod/app", "v1")
	laptop := w.newMachine("laptop")
	gun := r.Addr + "/prod/app"
	laptop.mustNotary(admin, "init", gun, "--publish")
	laptop.mustNotary(admin, "add", gun, "v1", w.writeFile("manifest-v1", img.Raw))
	laptop.mustNotary(admin, "publish", gun)
	if err := w.s.App.Registry.Sync(context.Background(), "prod", "app"); err != nil {
		t.Fatal(err)
	}
	waitTags(t, w, "prod/app", 10*time.Second, "tag states", sameStates(map[string]string{"v1": "signed"}))

	// alice's signer key, in the vault with her own passphrase, signs cosign.
	const signerPass = "alice-signer-passphrase-19"
	file := testpki.SignerKeyFile(t, "alice", signerPass)
	api := func(method, path string, body any) (int, string) {
		resp, b := w.s.API(t, admin.name, admin.pass, method, path, body)
		return resp.StatusCode, b
	}
	status, body := api(http.MethodPost, "/api/v1/keys", map[string]string{"pem": string(file), "passphrase": signerPass})
	if status != http.StatusCreated {
		t.Fatalf("import alice's key: %d %s", status, body)
	}
	var vk struct{ ID string }
	json.Unmarshal([]byte(body), &vk)
	status, body = api(http.MethodPost, "/api/v1/namespaces/prod/signing-keys",
		map[string]string{"format": "cosign", "vault_key_id": vk.ID, "passphrase": signerPass})
	if status != http.StatusCreated {
		t.Fatalf("cosign with alice's key: %d %s", status, body)
	}
	var cosignKey struct {
		Keys []struct {
			KeyID string `json:"key_id"`
		}
	}
	json.Unmarshal([]byte(body), &cosignKey)

	// The admin's own Notation identity.
	chain := testpki.New(t, testpki.Options{})
	status, body = api(http.MethodPost, "/api/v1/namespaces/prod/signing-keys", map[string]string{"format": "notation",
		"certificate_chain": string(chain.Leaf) + string(chain.Intermediate), "root": string(chain.Root),
		"private_key": string(chain.Key), "passphrase": mgPassphrase})
	if status != http.StatusCreated {
		t.Fatalf("import the Notation chain: %d %s", status, body)
	}

	// One passphrase for both keys: refused before anything starts, naming
	// alice's key.
	status, _, body = mgStart(t, w.s, mgPassphrase, "prod/app")
	if status != http.StatusBadRequest || !strings.Contains(body, `"wrong_passphrase"`) || !strings.Contains(body, vk.ID) {
		t.Fatalf("one passphrase for two keys: %d %s", status, body)
	}
	// The run form offers a passphrase per key; with alice's there it signs.
	b := w.s.NewBrowser(t)
	b.Login(admin.name, admin.pass)
	_, page := b.Get("/repositories/prod/app/migration")
	field := `name="passphrase.` + cosignKey.Keys[0].KeyID + `"`
	if !strings.Contains(page, field) {
		t.Fatalf("the run form has no %s", field)
	}
	resp, page := b.PostForm("/migrations", url.Values{"repository": {"prod/app"}, "format": {"cosign", "notation"},
		"passphrase": {mgPassphrase}, "passphrase." + cosignKey.Keys[0].KeyID: {signerPass}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/migrations/") {
		t.Fatalf("run form: %d %s", resp.StatusCode, page)
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(loc, "/migrations/"), "?")
	run := mgWait(t, w.s, id, time.Minute)
	if run.State != migration.StateDone || run.Signed != 2 {
		t.Fatalf("run: %+v", run)
	}
	// The API takes the same: a rerun finds both signatures.
	resp, body = w.s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/migrations", map[string]any{
		"repositories": []string{"prod/app"}, "formats": []string{"cosign", "notation"}, "passphrase": mgPassphrase,
		"passphrases": map[string]string{vk.ID: signerPass}})
	var rerun migration.Run
	if err := json.Unmarshal([]byte(body), &rerun); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("rerun with passphrases: %d %s", resp.StatusCode, body)
	}
	if rerun = mgWait(t, w.s, rerun.ID, time.Minute); rerun.Signed != 0 || rerun.Skipped != 2 {
		t.Fatalf("rerun: %+v", rerun)
	}
	for _, e := range w.audit("prod/app") {
		if strings.Contains(e.Detail, signerPass) || strings.Contains(e.Detail, mgPassphrase) {
			t.Errorf("a passphrase in the audit: %s", e)
		}
	}

	// The exports name the imported root and certificate; the real CLIs
	// verify both signatures.
	_, policy := api(http.MethodGet, "/api/v1/namespaces/prod/verification/trustpolicy.json", nil)
	if !strings.Contains(policy, "release signing") {
		t.Errorf("trustpolicy.json does not pin the imported certificate: %s", policy)
	}
	v := mgVerifiers(t, w, r, "prod")
	v.WantBoth(t, r.Addr+"/prod/app@"+img.Digest, true)
}

package interop

// Acceptance of "Manage signer delegations from the browser": trustdeck's
// signer and key vault API (initialise trust, add and revoke signers, import
// and export repository keys) against the docker and notary CLIs.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"maps"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// Passphrases of the keys trustdeck generates when it initialises trust.
const (
	rootPass = "root-passphrase-4d1e"
	repoPass = "repository-passphrase-77b0"
)

// nsAdmin administers namespace prod (and nothing else).
var nsAdmin = account{"nsadmin", "nsadmin-password-123"}

// TestSignerLifecycle initialises a repository through the API, adds signer
// jeff from his cert.pem, checks that docker trust inspect lists the key ID
// the repository page shows, lets jeff sign tag 1 with the notary CLI (his
// key loaded by docker trust key load), revokes jeff (refused without
// confirmation, since tag 1 depends on him) and checks that docker no
// longer lists him and that the API's inspection of the repository and of
// tag 1 is docker's, byte for byte, before and after. Without docker, the
// docker parts are skipped (loudly): jeff's key goes into the notary trust
// directory with notary key import, and the API's inspection is checked on
// its own.
func TestSignerLifecycle(t *testing.T) {
	t.Parallel()
	live := !dockerMissing(t, "the docker trust parts of the signer lifecycle (key load, inspect comparisons)",
		"initialising, adding, signing with the notary CLI and revoking are still checked")
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "nginx")
	gun := w.gun("prod", "nginx")
	jeffKey := w.newSignerKey("jeff")
	jeffID := canonicalCertID(t, jeffKey.certFile)
	target := w.writeFile("manifest.json", manifest)
	digest := sha256Hex(manifest)

	status, body := w.call(admin, http.MethodPost, "/api/v1/repositories/prod/nginx/trust",
		map[string]string{"root_passphrase": rootPass, "repository_passphrase": repoPass})
	if status != http.StatusCreated {
		t.Fatalf("initialise trust: %d %s", status, body)
	}
	var initGUN, rootID, repoID string
	decodeInit(t, body, &initGUN, &rootID, &repoID)
	if initGUN != gun {
		t.Errorf("initialise trust answered gun %q, want %q", initGUN, gun)
	}

	status, body = w.call(admin, http.MethodPost, "/api/v1/repositories/prod/nginx/signers", map[string]string{
		"name": "jeff", "public_key": readString(t, jeffKey.certFile), "repository_passphrase": repoPass})
	if status != http.StatusCreated {
		t.Fatalf("add signer jeff: %d %s", status, body)
	}
	var added struct {
		Name string   `json:"name"`
		Keys []string `json:"keys"`
		GUN  string   `json:"gun"`
	}
	if err := json.Unmarshal([]byte(body), &added); err != nil || added.Name != "jeff" || added.GUN != gun ||
		!slices.Equal(added.Keys, []string{jeffID}) {
		t.Errorf("add signer jeff answered %s (%v), want name jeff, gun %s, keys [%s]", body, err, gun, jeffID)
	}

	// The key ID the repository page shows for jeff is the one docker lists.
	ui := w.uiSignerKeys("prod/nginx")
	if !slices.Equal(ui["jeff"], []string{jeffID}) {
		t.Fatalf("the repository page shows signers %v, want jeff with key %s", ui, jeffID)
	}
	if got := w.apiSignerKeys(gun); !maps.EqualFunc(got, ui, slices.Equal) {
		t.Errorf("GET /api/v1/trust/inspect lists signers %v, the repository page %v", got, ui)
	}
	var box *machine
	if live {
		box = w.newMachine("reader-box")
		box.dockerLogin(reader)
		if got := dockerSignerKeys(t, box, gun); !maps.EqualFunc(got, ui, slices.Equal) {
			t.Fatalf("docker trust inspect lists signers %v, the repository page %v", got, ui)
		}
		r := box.mustDocker("trust", "inspect", "--pretty", gun)
		if row := tableRow(r.stdout, "jeff"); len(row) < 2 || row[1] != jeffID[:12] {
			t.Errorf("docker trust inspect --pretty should list jeff with key %s:\n%s", jeffID[:12], r)
		}
	}

	// jeff signs tag 1 on his laptop with his key, loaded by docker (or
	// imported by the notary CLI).
	laptop := w.newMachine("laptop")
	if live {
		laptop.dockerLogin(jeff)
		laptop.mustDocker("trust", "key", "load", "--name", "jeff", jeffKey.keyFile)
	} else {
		laptop.mustNotary(jeff, "key", "import", jeffKey.keyFile, "--role", "jeff")
	}
	if _, err := os.Stat(filepath.Join(laptop.trustDir(), "private", jeffID+".key")); err != nil {
		t.Errorf("jeff's key should be stored as %s.key: %v", jeffID, err)
	}
	laptop.mustNotary(jeff, "add", gun, "1", target, "--roles", "targets/releases", "--roles", "targets/jeff")
	laptop.mustNotary(jeff, "publish", gun)
	w.expectAPITag(gun, "1", digest, "jeff")
	p := &parity{w: w}
	refs := [][]string{{gun + ":1"}, {gun}}
	if live {
		expectSigners(t, box, gun+":1", digest, "jeff")
		compareInspect(t, p, box, "after jeff signed tag 1", refs)
	}

	// Revoking jeff leaves tag 1 without a valid signature: it needs the
	// signer's name as confirmation, and nothing changes without it.
	revoke := "/api/v1/repositories/prod/nginx/signers/jeff/revoke"
	before := w.trustMeta(gun)
	status, body = w.call(admin, http.MethodPost, revoke, map[string]string{"repository_passphrase": repoPass})
	expectAPIError(t, "revoke jeff without confirmation", status, body, http.StatusBadRequest, "confirm_required",
		"1 tag", "(1)", "(jeff)")
	status, body = w.call(admin, http.MethodPost, revoke, map[string]string{"repository_passphrase": repoPass, "confirm": "ian"})
	expectAPIError(t, "revoke jeff confirmed with another name", status, body, http.StatusBadRequest, "confirm_required")
	w.expectUnchanged(t, gun, before, "refused revocations")
	w.expectAPITag(gun, "1", digest, "jeff")
	if live {
		expectSigners(t, box, gun+":1", digest, "jeff")
	}

	status, body = w.call(admin, http.MethodPost, revoke, map[string]string{"repository_passphrase": repoPass, "confirm": "jeff"})
	if status != http.StatusOK {
		t.Fatalf("revoke jeff with confirmation: %d %s", status, body)
	}
	var revoked struct {
		Revoked    string   `json:"revoked"`
		Keys       []string `json:"keys"`
		Unpullable []string `json:"unpullable"`
	}
	if err := json.Unmarshal([]byte(body), &revoked); err != nil || revoked.Revoked != "jeff" ||
		!slices.Equal(revoked.Keys, []string{jeffID}) || !slices.Equal(revoked.Unpullable, []string{"1"}) {
		t.Errorf("revoke jeff answered %s (%v), want keys [%s] and unpullable [1]", body, err, jeffID)
	}
	after := w.trustMeta(gun)
	if after["root"] != before["root"] || after["targets"].version <= before["targets"].version {
		t.Errorf("revoking should publish targets (not root): versions %s → %s", before, after)
	}
	if d := w.delegations(gun); !slices.Equal(d, []string{"targets/releases"}) {
		t.Errorf("after the revocation targets.json should delegate targets/releases alone, not %v", d)
	}

	// Neither the repository page nor the API nor docker (on a machine that
	// cached the old trust data, and on a fresh one) lists jeff; the API
	// shows tag 1 exactly as docker computes it now.
	if ui := w.uiSignerKeys("prod/nginx"); len(ui) != 0 {
		t.Errorf("the repository page still lists signers after the revocation: %v", ui)
	}
	if got := w.apiSignerKeys(gun); len(got) != 0 {
		t.Errorf("GET /api/v1/trust/inspect still lists signers after the revocation: %v", got)
	}
	// As docker: tag 1 has no valid signature left, the repository still
	// has trust data (exit 0, no signed tags).
	if status, repos := w.apiInspect(gun + ":1"); status != http.StatusOK || len(repos) != 1 ||
		len(repos[0].SignedTags) != 0 || len(repos[0].Signers) != 0 {
		t.Errorf("after the revocation inspect %s:1 answered %d %+v, want no signed tags and no signers", gun, status, repos)
	}
	if live {
		fresh := w.newMachine("fresh-box")
		fresh.dockerLogin(reader)
		for _, c := range []*machine{box, fresh} {
			if got := dockerSignerKeys(t, c, gun); len(got) != 0 {
				t.Errorf("[%s] docker trust inspect still lists signers after jeff's revocation: %v", c.name, got)
			}
			r := c.mustDocker("trust", "inspect", "--pretty", gun)
			if tableRow(r.stdout, "jeff") != nil || tableRow(r.stdout, "1") != nil {
				t.Errorf("[%s] docker trust inspect --pretty still shows jeff or tag 1:\n%s", c.name, r)
			}
		}
		compareInspect(t, p, box, "after jeff's revocation (cached trust data)", refs[:1])
		compareInspect(t, p, fresh, "after jeff's revocation (fresh machine)", refs)
	}

	events := w.audit("prod/nginx")
	t.Logf("audit of prod/nginx:\n%s", eventList(events))
	expectEvent(t, events, "admin", "trust.initialise", rootID, repoID)
	expectEvent(t, events, "admin", "signer.add", "signer jeff", jeffID)
	expectEvent(t, events, "admin", "signer.revoke", "signer jeff", jeffID)
	if n := countEvents(events, "signer.revoke"); n != 1 {
		t.Errorf("%d signer.revoke events, want 1 (refusals are not audited as revocations):\n%s", n, eventList(events))
	}
	expectPublishedAs(t, events)
}

// TestSignersWithCLIHeldKeysDocker: a repository initialised on the command
// line by docker trust signer add, whose repository key file is then
// imported into the vault, is managed from trustdeck; the CLI still adds
// signers afterwards; trustdeck never needs the root key, which stays on the
// laptop, and root.json never changes.
func TestSignersWithCLIHeldKeysDocker(t *testing.T) {
	if dockerMissing(t, "the repository initialised by docker trust signer add and managed from trustdeck",
		"the signer lifecycle (with the notary CLI), refusal, access and one-off key tests still run") {
		t.SkipNow()
	}
	t.Parallel()
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "redis")
	gun := w.gun("prod", "redis")
	jeffKey, ianKey, kateKey := w.newSignerKey("jeff"), w.newSignerKey("ian"), w.newSignerKey("kate")
	target := w.writeFile("manifest.json", manifest)

	laptop := w.newMachine("laptop")
	laptop.dockerLogin(jeff)
	laptop.mustDocker("trust", "key", "load", "--name", "jeff", jeffKey.keyFile)
	laptop.mustDocker("trust", "signer", "add", "--key", jeffKey.certFile, "jeff", gun)

	// The laptop holds the root key and the repository key.
	files := privateKeyFiles(t, laptop)
	var rootFile, repoFile keyFileInfo
	for _, f := range files {
		switch {
		case f.role == "root":
			rootFile = f
		case f.role == "targets" && f.gun == gun:
			repoFile = f
		}
	}
	if rootFile.id == "" || repoFile.id == "" {
		t.Fatalf("docker trust signer add should leave a root key and a repository key for %s in %s: %+v",
			gun, filepath.Join(laptop.trustDir(), "private"), files)
	}
	if _, targetsIDs := adminKeyIDs(t, w, gun); !slices.Equal(targetsIDs, []string{repoFile.id}) {
		t.Fatalf("root.json lists repository keys %v, the laptop holds %s", targetsIDs, repoFile.id)
	}
	rootBefore := w.trustMeta(gun)["root"]

	// Without the repository key, trustdeck says which key to import.
	addIan := map[string]string{"name": "ian", "public_key": readString(t, ianKey.certFile), "repository_passphrase": trustPassphrase}
	status, body := w.call(admin, http.MethodPost, "/api/v1/repositories/prod/redis/signers", addIan)
	expectAPIError(t, "add signer before the repository key is imported", status, body, http.StatusConflict,
		"key_not_in_vault", repoFile.id)

	// The repository key file, imported with its passphrase.
	status, body = w.call(admin, http.MethodPost, "/api/v1/keys",
		map[string]string{"pem": string(repoFile.pem), "passphrase": trustPassphrase})
	if status != http.StatusCreated {
		t.Fatalf("import the CLI's repository key: %d %s", status, body)
	}
	var imported keyReply
	if err := json.Unmarshal([]byte(body), &imported); err != nil || imported.ID != repoFile.id ||
		imported.Role != "targets" || imported.GUN != gun {
		t.Fatalf("import answered %s (%v), want id %s, role targets, gun %s", body, err, repoFile.id, gun)
	}

	// trustdeck adds ian with the repository key alone.
	status, body = w.call(admin, http.MethodPost, "/api/v1/repositories/prod/redis/signers", addIan)
	if status != http.StatusCreated {
		t.Fatalf("add signer ian from trustdeck: %d %s", status, body)
	}

	// The CLI still adds a third signer to the same repository, and jeff
	// still signs.
	laptop.mustDocker("trust", "key", "load", "--name", "kate", kateKey.keyFile)
	r := laptop.mustDocker("trust", "signer", "add", "--key", kateKey.certFile, "kate", gun)
	if !strings.Contains(r.stdout, "Successfully added signer: kate to "+gun) {
		t.Errorf("docker trust signer add kate:\n%s", r)
	}
	laptop.mustNotary(jeff, "add", gun, "1", target, "--roles", "targets/releases", "--roles", "targets/jeff")
	laptop.mustNotary(jeff, "publish", gun)

	box := w.newMachine("reader-box")
	box.dockerLogin(reader)
	want := map[string][]string{
		"jeff": {canonicalCertID(t, jeffKey.certFile)},
		"ian":  {canonicalCertID(t, ianKey.certFile)},
		"kate": {canonicalCertID(t, kateKey.certFile)},
	}
	if got := dockerSignerKeys(t, box, gun); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("docker trust inspect lists signers %v, want %v", got, want)
	}
	if ui := w.uiSignerKeys("prod/redis"); !maps.EqualFunc(ui, want, slices.Equal) {
		t.Errorf("the repository page lists signers %v, want %v", ui, want)
	}
	expectTagSigners(t, box, gun+":1", sha256Hex(manifest), "jeff")

	// trustdeck revokes kate, whom the CLI added (she signed nothing: no
	// confirmation needed).
	status, body = w.call(admin, http.MethodPost, "/api/v1/repositories/prod/redis/signers/kate/revoke",
		map[string]string{"repository_passphrase": trustPassphrase})
	if status != http.StatusOK {
		t.Fatalf("revoke kate from trustdeck: %d %s", status, body)
	}
	delete(want, "kate")
	if got := dockerSignerKeys(t, box, gun); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("after kate's revocation docker trust inspect lists %v, want %v", got, want)
	}
	compareInspect(t, &parity{w: w}, box, "repository managed by the CLI and trustdeck", [][]string{{gun}, {gun + ":1"}})

	// The root key never left the laptop, and root.json never changed.
	if rootAfter := w.trustMeta(gun)["root"]; rootAfter != rootBefore || rootAfter.version != 1 {
		t.Errorf("root.json changed: %+v → %+v", rootBefore, rootAfter)
	}
	for _, k := range w.vaultKeys(admin) {
		if k.Role == "root" || k.ID == rootFile.id {
			t.Errorf("the vault holds a root key %+v; trustdeck should never have needed one", k)
		}
	}
	status, body = w.call(admin, http.MethodGet, "/api/v1/keys/"+rootFile.id, nil)
	expectAPIError(t, "the CLI's root key in the vault", status, body, http.StatusNotFound, "key_not_found")

	events := w.audit("prod/redis")
	t.Logf("audit of prod/redis:\n%s", eventList(events))
	expectEvent(t, events, "admin", "key.import", "targets key "+repoFile.id)
	expectEvent(t, events, "admin", "signer.add", "signer ian")
	expectEvent(t, events, "admin", "signer.revoke", "signer kate")
	// The CLI's signer add (jeff's trust.update of targets) came after
	// trustdeck's.
	added, _ := findEvent(events, "admin", "signer.add", "signer ian")
	if !slices.ContainsFunc(events, func(e auditEvent) bool {
		return e.ID > added.ID && e.Actor == "jeff" && e.Action == "trust.update" && strings.HasPrefix(e.Detail, "targets v")
	}) {
		t.Errorf("no trust.update of targets by jeff (docker trust signer add kate) after trustdeck added ian:\n%s", eventList(events))
	}
}

// TestSignerRefusals: every refusal of the signer API, and a wrong
// passphrase, answers a JSON error with the right 4xx and leaves the
// version (and bytes) of every role's metadata as they were.
func TestSignerRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "nginx")
	w.s.MustCreateRepo(t, "prod", "bare")
	gun := w.gun("prod", "nginx")
	jeffKey, ianKey, malloryKey := w.newSignerKey("jeff"), w.newSignerKey("ian"), w.newSignerKey("mallory")
	jeffID := canonicalCertID(t, jeffKey.certFile)

	status, body := w.call(admin, http.MethodPost, "/api/v1/repositories/prod/nginx/trust",
		map[string]string{"root_passphrase": rootPass, "repository_passphrase": repoPass})
	if status != http.StatusCreated {
		t.Fatalf("initialise trust: %d %s", status, body)
	}
	for _, k := range []signerKey{jeffKey, ianKey} {
		status, body = w.call(admin, http.MethodPost, "/api/v1/repositories/prod/nginx/signers", map[string]string{
			"name": k.name, "public_key": readString(t, k.certFile), "repository_passphrase": repoPass})
		if status != http.StatusCreated {
			t.Fatalf("add signer %s: %d %s", k.name, status, body)
		}
	}
	// jeff signs tag 1 with the notary CLI (his key in the notary trust
	// directory), so that revoking him needs confirmation.
	laptop := w.newMachine("laptop")
	laptop.mustNotary(jeff, "key", "import", jeffKey.keyFile, "--role", "jeff")
	laptop.mustNotary(jeff, "add", gun, "1", w.writeFile("manifest.json", manifest), "--roles", "targets/releases", "--roles", "targets/jeff")
	laptop.mustNotary(jeff, "publish", gun)
	// A passphrase-protected key file that is not the repository key.
	otherKeyFile := readString(t, filepath.Join(laptop.trustDir(), "private", jeffID+".key"))

	// Keys docker (or trustdeck) refuses.
	p256 := newECKey(t, elliptic.P256())
	rsa2048, rsa1024 := newRSAKey(t, 2048), newRSAKey(t, 1024)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	expired := certPEM(t, p256, "expired", now.AddDate(-2, 0, 0), now.Add(-time.Hour), 0)
	notYet := certPEM(t, p256, "future", now.Add(72*time.Hour), now.AddDate(1, 0, 0), 0)
	sha1Cert := certPEM(t, rsa2048, "sha1", now.Add(-time.Hour), now.AddDate(1, 0, 0), x509.SHA1WithRSA)
	rsaShort := certPEM(t, rsa1024, "short", now.Add(-time.Hour), now.AddDate(1, 0, 0), 0)

	signers := "/api/v1/repositories/prod/nginx/signers"
	add := func(name, publicKey, passphrase string) map[string]string {
		return map[string]string{"name": name, "public_key": publicKey, "repository_passphrase": passphrase}
	}
	mallory := readString(t, malloryKey.certFile)
	revoke := func(passphrase, confirm string) map[string]string {
		return map[string]string{"repository_passphrase": passphrase, "confirm": confirm}
	}
	cases := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
		msgHas []string
	}{
		{"private key as public key", signers, add("mallory", readString(t, malloryKey.keyFile), repoPass),
			http.StatusBadRequest, "private_key", []string{"private key"}},
		{"expired certificate", signers, add("mallory", expired, repoPass),
			http.StatusBadRequest, "certificate_expired", []string{`"expired" expired on`}},
		{"certificate not yet valid", signers, add("mallory", notYet, repoPass),
			http.StatusBadRequest, "certificate_not_yet_valid", []string{`"future" is not valid before`}},
		{"SHA1WithRSA certificate", signers, add("mallory", sha1Cert, repoPass),
			http.StatusBadRequest, "sha1_signature", []string{"SHA-1"}},
		{"Ed25519 public key", signers, add("mallory", pubKeyPEM(t, edPub), repoPass),
			http.StatusBadRequest, "unsupported_algorithm", []string{"Ed25519"}},
		{"P-224 public key", signers, add("mallory", pubKeyPEM(t, &newECKey(t, elliptic.P224()).PublicKey), repoPass),
			http.StatusBadRequest, "unsupported_algorithm", []string{"P-224"}},
		{"RSA 1024 certificate", signers, add("mallory", rsaShort, repoPass),
			http.StatusBadRequest, "rsa_too_short", []string{"1024 bits"}},
		{"RSA 1024 public key", signers, add("mallory", pubKeyPEM(t, &rsa1024.PublicKey), repoPass),
			http.StatusBadRequest, "rsa_too_short", []string{"1024 bits"}},
		{"no public key", signers, add("mallory", "", repoPass),
			http.StatusBadRequest, "missing_key", nil},
		{"key of another signer", signers, add("mallory", readString(t, jeffKey.certFile), repoPass),
			http.StatusConflict, "key_in_use", []string{jeffID, "signer jeff"}},
		{"repository without trust data", "/api/v1/repositories/prod/bare/signers", add("mallory", mallory, repoPass),
			http.StatusConflict, "no_trust_data", []string{w.gun("prod", "bare"), "Initialise"}},
		{"wrong passphrase on add", signers, add("mallory", mallory, "not-the-passphrase"),
			http.StatusBadRequest, "wrong_passphrase", []string{"Wrong passphrase"}},
		{"no passphrase on add", signers, add("mallory", mallory, ""),
			http.StatusBadRequest, "passphrase_required", []string{"passphrase"}},
		{"another key as one-off repository key", signers, map[string]string{"name": "mallory", "public_key": mallory,
			"repository_passphrase": trustPassphrase, "repository_key": otherKeyFile},
			http.StatusBadRequest, "not_repository_key", []string{jeffID}},
		{"upper-case signer name", signers, add("Mallory", mallory, repoPass),
			http.StatusBadRequest, "invalid_name", []string{`"Mallory"`}},
		{"signer name starting with a dash", signers, add("-mallory", mallory, repoPass),
			http.StatusBadRequest, "invalid_name", []string{`"-mallory"`}},
		{"nested signer name", signers, add("jeff/mallory", mallory, repoPass),
			http.StatusBadRequest, "invalid_name", nil},
		{"empty signer name", signers, add("", mallory, repoPass),
			http.StatusBadRequest, "invalid_name", nil},
		{"releases as signer name", signers, add("releases", mallory, repoPass),
			http.StatusBadRequest, "reserved_name", []string{"releases"}},
		{"revoke without confirmation", signers + "/jeff/revoke", revoke(repoPass, ""),
			http.StatusBadRequest, "confirm_required", []string{"(1)", "(jeff)"}},
		{"wrong passphrase on revoke", signers + "/jeff/revoke", revoke("not-the-passphrase", "jeff"),
			http.StatusBadRequest, "wrong_passphrase", []string{"Wrong passphrase"}},
		{"revoke releases", signers + "/releases/revoke", revoke(repoPass, "releases"),
			http.StatusBadRequest, "reserved_name", nil},
		{"revoke an unknown signer", signers + "/mallory/revoke", revoke(repoPass, "mallory"),
			http.StatusNotFound, "signer_not_found", []string{"mallory"}},
		{"revoke in a repository without trust data", "/api/v1/repositories/prod/bare/signers/jeff/revoke", revoke(repoPass, "jeff"),
			http.StatusConflict, "no_trust_data", []string{w.gun("prod", "bare")}},
		{"initialise twice", "/api/v1/repositories/prod/nginx/trust",
			map[string]string{"root_passphrase": rootPass, "repository_passphrase": repoPass},
			http.StatusConflict, "trust_data_exists", []string{gun}},
	}
	eventsBefore := len(w.audit("prod/nginx"))
	vaultBefore := len(w.vaultKeys(admin))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := w.trustMeta(gun)
			for _, role := range []string{"root", "targets", "snapshot", "timestamp", "targets/releases", "targets/jeff"} {
				if _, ok := before[role]; !ok {
					t.Fatalf("%s lacks %s metadata: %s", gun, role, before)
				}
			}
			status, body := w.call(admin, http.MethodPost, tc.path, tc.body)
			expectAPIError(t, tc.name, status, body, tc.status, tc.code, tc.msgHas...)
			w.expectUnchanged(t, gun, before, tc.name)
		})
	}
	if got := w.trustMeta(w.gun("prod", "bare")); len(got) != 0 {
		t.Errorf("trust data appeared for prod/bare: %s", got)
	}
	events := w.audit("prod/nginx")
	if len(events) != eventsBefore {
		t.Errorf("refusals were audited as changes:\n%s", eventList(events[eventsBefore:]))
	}
	if n := len(w.vaultKeys(admin)); n != vaultBefore {
		t.Errorf("refusals changed the vault: %d keys, then %d", vaultBefore, n)
	}

	// The same request with the right passphrase succeeds and changes
	// targets: the comparisons above would have seen it.
	before := w.trustMeta(gun)
	status, body = w.call(admin, http.MethodPost, signers, add("mallory", mallory, repoPass))
	if status != http.StatusCreated {
		t.Fatalf("add mallory: %d %s", status, body)
	}
	after := w.trustMeta(gun)
	if after["targets"].version != before["targets"].version+1 || after["root"] != before["root"] {
		t.Errorf("adding a signer should publish targets once, and never root: %s → %s", before, after)
	}
	// The same request again (a retry): mallory has the key already, which
	// is no refusal, and nothing is published.
	status, body = w.call(admin, http.MethodPost, signers, add("mallory", mallory, repoPass))
	if status != http.StatusOK || !strings.Contains(body, `"already":true`) || !strings.Contains(body, "mallory is already a signer") {
		t.Errorf("add mallory again: %d %s, want 200 saying mallory is already a signer", status, body)
	}
	w.expectUnchanged(t, gun, after, "adding mallory again")
}

// TestSignerAPIAccess: namespace administrators manage trust; read and
// write accounts are refused every signer and vault route (403), accounts
// without a role do not see the repository (404). A one-off repository key
// (the exported key file) works without the vault; the root key is never
// needed for signer changes; the audit names who did what.
func TestSignerAPIAccess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.s.MustCreateUser(t, nsAdmin.name, nsAdmin.pass, "prod", "admin")
	w.s.MustCreateRepo(t, "prod", "app")
	gun := w.gun("prod", "app")
	jeffKey, ianKey := w.newSignerKey("jeff"), w.newSignerKey("ian")
	jeffCert, ianCert := readString(t, jeffKey.certFile), readString(t, ianKey.certFile)
	base := "/api/v1/repositories/prod/app"

	// The namespace administrator initialises trust.
	status, body := w.call(nsAdmin, http.MethodPost, base+"/trust",
		map[string]string{"root_passphrase": rootPass, "repository_passphrase": repoPass})
	if status != http.StatusCreated {
		t.Fatalf("initialise trust as namespace admin: %d %s", status, body)
	}
	var gotGUN, rootID, repoID string
	decodeInit(t, body, &gotGUN, &rootID, &repoID)
	keys := w.vaultKeys(nsAdmin)
	if len(keys) != 2 || !slices.ContainsFunc(keys, func(k keyReply) bool { return k.ID == rootID && k.Role == "root" }) ||
		!slices.ContainsFunc(keys, func(k keyReply) bool { return k.ID == repoID && k.Role == "targets" && k.GUN == gun }) {
		t.Fatalf("the vault should hold the root key %s and repository key %s: %+v", rootID, repoID, keys)
	}

	// jeff registers his public key (his own; not anyone else's).
	status, body = w.call(jeff, http.MethodPost, "/api/v1/users/jeff/keys", map[string]string{"public_key": jeffCert})
	if status != http.StatusCreated || !strings.Contains(body, canonicalCertID(t, jeffKey.certFile)) {
		t.Fatalf("jeff registers his key: %d %s", status, body)
	}
	status, body = w.call(jeff, http.MethodGet, "/api/v1/users/jeff/keys", nil)
	if status != http.StatusOK || !strings.Contains(body, canonicalCertID(t, jeffKey.certFile)) {
		t.Errorf("jeff lists his keys: %d %s", status, body)
	}

	// The root key leaves the vault (kept offline): signer changes never
	// need it.
	exported := w.mustExportKey(nsAdmin, rootID)
	if !strings.Contains(exported, "ENCRYPTED PRIVATE KEY") || !strings.Contains(exported, "role: root") {
		t.Errorf("the exported root key is not docker's encrypted key file:\n%s", exported)
	}
	if status, body = w.call(nsAdmin, http.MethodDelete, "/api/v1/keys/"+rootID, nil); status != http.StatusNoContent {
		t.Fatalf("delete the root key from the vault: %d %s", status, body)
	}

	status, body = w.call(nsAdmin, http.MethodPost, base+"/signers",
		map[string]string{"name": "jeff", "public_key": jeffCert, "repository_passphrase": repoPass})
	if status != http.StatusCreated {
		t.Fatalf("add signer jeff as namespace admin: %d %s", status, body)
	}

	// Read and write accounts are refused every route; accounts without a
	// role do not see the repository. Nothing changes.
	before := w.trustMeta(gun)
	routes := []struct {
		method, path string
		body         any
		outsider     int // what an account without any role gets
	}{
		{http.MethodPost, base + "/trust", map[string]string{"root_passphrase": rootPass, "repository_passphrase": repoPass}, http.StatusNotFound},
		{http.MethodPost, base + "/signers", map[string]string{"name": "ian", "public_key": ianCert, "repository_passphrase": repoPass}, http.StatusNotFound},
		{http.MethodPost, base + "/signers/jeff/revoke", map[string]string{"repository_passphrase": repoPass, "confirm": "jeff"}, http.StatusNotFound},
		{http.MethodPost, "/api/v1/keys", map[string]string{"pem": exported, "passphrase": rootPass}, http.StatusForbidden},
		{http.MethodGet, "/api/v1/keys", nil, http.StatusForbidden},
		{http.MethodGet, "/api/v1/keys/" + repoID, nil, http.StatusForbidden},
		{http.MethodDelete, "/api/v1/keys/" + repoID, nil, http.StatusForbidden},
		{http.MethodGet, "/api/v1/keys/" + strings.Repeat("0", 64), nil, http.StatusForbidden},
		{http.MethodPost, "/api/v1/users/ian/keys", map[string]string{"public_key": ianCert}, http.StatusForbidden},
		{http.MethodGet, "/api/v1/users/ian/keys", nil, http.StatusForbidden},
	}
	for _, who := range []account{reader, jeff, outsider} {
		for _, rt := range routes {
			want := http.StatusForbidden
			if who == outsider {
				want = rt.outsider
			}
			status, body := w.call(who, rt.method, rt.path, rt.body)
			if status != want {
				t.Errorf("%s %s as %s: %d %s, want %d", rt.method, rt.path, who.name, status, body, want)
				continue
			}
			var e apiErrorReply
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Errorf("%s %s as %s: %d %s, want a JSON error", rt.method, rt.path, who.name, status, body)
			}
		}
	}
	w.expectUnchanged(t, gun, before, "refused accounts")
	if keys := w.vaultKeys(nsAdmin); len(keys) != 1 || keys[0].ID != repoID {
		t.Errorf("refused accounts changed the vault: %+v", keys)
	}
	status, body = w.call(ian, http.MethodGet, "/api/v1/users/ian/keys", nil)
	if status != http.StatusOK || strings.Contains(body, canonicalCertID(t, ianKey.certFile)) {
		t.Errorf("ian's keys after refused registrations: %d %s", status, body)
	}

	// A one-off repository key: the exported key file, used for one
	// operation without the vault.
	repoKeyFile := w.mustExportKey(nsAdmin, repoID)
	if status, body = w.call(nsAdmin, http.MethodDelete, "/api/v1/keys/"+repoID, nil); status != http.StatusNoContent {
		t.Fatalf("delete the repository key from the vault: %d %s", status, body)
	}
	addIan := map[string]string{"name": "ian", "public_key": ianCert, "repository_passphrase": repoPass}
	status, body = w.call(nsAdmin, http.MethodPost, base+"/signers", addIan)
	expectAPIError(t, "add signer without the repository key", status, body, http.StatusConflict, "key_not_in_vault", repoID)
	status, body = w.call(nsAdmin, http.MethodPost, base+"/signers/jeff/revoke", map[string]string{"repository_passphrase": repoPass})
	expectAPIError(t, "revoke signer without the repository key", status, body, http.StatusConflict, "key_not_in_vault", repoID)
	w.expectUnchanged(t, gun, before, "operations without the repository key")

	addIan["repository_key"] = repoKeyFile
	addIan["repository_passphrase"] = "not-the-passphrase"
	status, body = w.call(nsAdmin, http.MethodPost, base+"/signers", addIan)
	expectAPIError(t, "one-off repository key with a wrong passphrase", status, body, http.StatusBadRequest, "wrong_passphrase")
	w.expectUnchanged(t, gun, before, "one-off repository key with a wrong passphrase")
	addIan["repository_passphrase"] = repoPass
	status, body = w.call(nsAdmin, http.MethodPost, base+"/signers", addIan)
	if status != http.StatusCreated {
		t.Fatalf("add signer ian with a one-off repository key: %d %s", status, body)
	}
	status, body = w.call(nsAdmin, http.MethodPost, base+"/signers/ian/revoke",
		map[string]string{"repository_passphrase": repoPass, "repository_key": repoKeyFile})
	if status != http.StatusOK {
		t.Fatalf("revoke signer ian with a one-off repository key: %d %s", status, body)
	}
	if keys := w.vaultKeys(nsAdmin); len(keys) != 0 {
		t.Errorf("a one-off key was kept in the vault: %+v", keys)
	}

	// Imported again, the vault's key serves again.
	status, body = w.call(nsAdmin, http.MethodPost, "/api/v1/keys", map[string]string{"pem": repoKeyFile, "passphrase": repoPass})
	var imported keyReply
	if status != http.StatusCreated || json.Unmarshal([]byte(body), &imported) != nil ||
		imported.ID != repoID || imported.Role != "targets" || imported.GUN != gun {
		t.Fatalf("import the repository key as namespace admin: %d %s, want id %s, role targets, gun %s", status, body, repoID, gun)
	}
	status, body = w.call(nsAdmin, http.MethodPost, base+"/signers/jeff/revoke", map[string]string{"repository_passphrase": repoPass})
	if status != http.StatusOK {
		t.Fatalf("revoke signer jeff with the vault's key: %d %s", status, body)
	}
	after := w.trustMeta(gun)
	if after["root"] != before["root"] {
		t.Errorf("root.json changed through signer changes: %+v → %+v", before["root"], after["root"])
	}

	events := w.audit("prod/app")
	t.Logf("audit of prod/app:\n%s", eventList(events))
	expectEvent(t, events, nsAdmin.name, "trust.initialise", rootID, repoID)
	expectEvent(t, events, nsAdmin.name, "signer.add", "signer jeff")
	expectEvent(t, events, nsAdmin.name, "signer.add", "signer ian")
	expectEvent(t, events, nsAdmin.name, "signer.revoke", "signer ian")
	expectEvent(t, events, nsAdmin.name, "signer.revoke", "signer jeff")
	expectEvent(t, events, nsAdmin.name, "key.export", "targets key "+repoID)
	expectEvent(t, events, nsAdmin.name, "key.delete", "targets key "+repoID)
	expectEvent(t, events, nsAdmin.name, "key.import", "targets key "+repoID)
	expectNoEventBy(t, events, reader.name, jeff.name, outsider.name)
	expectPublishedAs(t, events)
	for action, n := range map[string]int{"signer.add": 2, "signer.revoke": 2, "key.import": 1, "trust.initialise": 1} {
		if got := countEvents(events, action); got != n {
			t.Errorf("%d %s events, want %d:\n%s", got, action, n, eventList(events))
		}
	}
}

// ---- helpers

// apiInspect asks GET /api/v1/trust/inspect (JSON) as reader for one ref.
func (w *world) apiInspect(ref string) (int, []dockerRepoJSON) {
	w.t.Helper()
	status, body := w.call(reader, http.MethodGet, "/api/v1/trust/inspect?ref="+ref, nil)
	var repos []dockerRepoJSON
	if err := json.Unmarshal([]byte(body), &repos); err != nil {
		w.t.Fatalf("GET /api/v1/trust/inspect?ref=%s: %d %s: %v", ref, status, body, err)
	}
	return status, repos
}

// apiSignerKeys reads the signers and their key IDs from the API's
// inspection of gun.
func (w *world) apiSignerKeys(gun string) map[string][]string {
	w.t.Helper()
	status, repos := w.apiInspect(gun)
	if status != http.StatusOK || len(repos) != 1 {
		w.t.Fatalf("GET /api/v1/trust/inspect?ref=%s: %d %+v", gun, status, repos)
	}
	out := map[string][]string{}
	for _, s := range repos[0].Signers {
		for _, k := range s.Keys {
			out[s.Name] = append(out[s.Name], k.ID)
		}
	}
	return out
}

// expectAPITag checks the API's inspection of gun:tag: one row, digest,
// signers.
func (w *world) expectAPITag(gun, tag, digest string, signers ...string) {
	w.t.Helper()
	status, repos := w.apiInspect(gun + ":" + tag)
	if status != http.StatusOK || len(repos) != 1 || len(repos[0].SignedTags) != 1 {
		w.t.Errorf("GET /api/v1/trust/inspect?ref=%s:%s: %d %+v, want one signed tag", gun, tag, status, repos)
		return
	}
	row := repos[0].SignedTags[0]
	if row.SignedTag != tag || row.Digest != digest || !slices.Equal(row.Signers, signers) {
		w.t.Errorf("GET /api/v1/trust/inspect?ref=%s:%s: %+v, want digest %s signed by %v", gun, tag, row, digest, signers)
	}
}

// expectTagSigners checks docker trust inspect's JSON row of one signed tag.
func expectTagSigners(t *testing.T, c *machine, ref, digest string, signers ...string) {
	t.Helper()
	r := c.mustDocker("trust", "inspect", ref)
	var repos []dockerRepoJSON
	if err := json.Unmarshal([]byte(r.stdout), &repos); err != nil || len(repos) != 1 || len(repos[0].SignedTags) != 1 {
		t.Fatalf("docker trust inspect %s: %v\n%s", ref, err, r)
	}
	row := repos[0].SignedTags[0]
	if row.Digest != digest || !slices.Equal(row.Signers, signers) {
		t.Errorf("docker trust inspect %s: digest %s signed by %v, want %s signed by %v", ref, row.Digest, row.Signers, digest, signers)
	}
}

// delegations lists the roles targets.json of gun delegates to, sorted.
func (w *world) delegations(gun string) []string {
	w.t.Helper()
	status, body := w.notaryAPI(http.MethodGet, "/v2/"+gun+"/_trust/tuf/targets.json", w.adminToken(gun), nil, "")
	if status != http.StatusOK {
		w.t.Fatalf("GET targets.json of %s: %d %s", gun, status, body)
	}
	var meta struct {
		Signed struct {
			Delegations struct {
				Roles []struct {
					Name string `json:"name"`
				} `json:"roles"`
			} `json:"delegations"`
		} `json:"signed"`
	}
	if err := json.Unmarshal([]byte(body), &meta); err != nil {
		w.t.Fatalf("targets.json of %s: %v", gun, err)
	}
	var out []string
	for _, r := range meta.Signed.Delegations.Roles {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

// call sends a request to the JSON API (or a page) as a, in a signed-in
// session (cookie and X-CSRF-Token): basic credentials would cost an
// argon2id hash per request, which the race detector makes slow. Without a
// name (anyone) the request has no credentials.
func (w *world) call(a account, method, path string, body any) (int, string) {
	w.t.Helper()
	if a.name == "" {
		resp, b := w.s.API(w.t, "", "", method, path, body)
		return resp.StatusCode, b
	}
	resp, b := w.session(a).JSON(method, path, body)
	return resp.StatusCode, b
}

type cacheKey struct {
	w    *world
	name string
}

var (
	cacheMu  sync.Mutex
	sessions = map[cacheKey]*testserver.Browser{}
	tokens   = map[cacheKey]cachedToken{}
)

type cachedToken struct {
	token string
	until time.Time
}

// session returns a's signed-in browser session on w, signing in once.
func (w *world) session(a account) *testserver.Browser {
	w.t.Helper()
	cacheMu.Lock()
	defer cacheMu.Unlock()
	k := cacheKey{w, a.name}
	if b, ok := sessions[k]; ok {
		return b
	}
	b := w.s.NewBrowser(w.t)
	b.Login(a.name, a.pass)
	sessions[k] = b
	w.t.Cleanup(func() {
		cacheMu.Lock()
		delete(sessions, k)
		cacheMu.Unlock()
	})
	return b
}

// adminToken is an admin token for pulling gun, reused for a minute (the
// server's tokens last five).
func (w *world) adminToken(gun string) string {
	w.t.Helper()
	cacheMu.Lock()
	k := cacheKey{w, gun}
	c, ok := tokens[k]
	cacheMu.Unlock()
	if ok && time.Now().Before(c.until) {
		return c.token
	}
	tok := w.token(admin, "repository:"+gun+":pull").token
	cacheMu.Lock()
	tokens[k] = cachedToken{tok, time.Now().Add(time.Minute)}
	cacheMu.Unlock()
	w.t.Cleanup(func() {
		cacheMu.Lock()
		delete(tokens, k)
		cacheMu.Unlock()
	})
	return tok
}

type apiErrorReply struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// expectAPIError checks a JSON API error: status, code, and a message
// holding each of msgHas.
func expectAPIError(t *testing.T, what string, status int, body string, wantStatus int, wantCode string, msgHas ...string) {
	t.Helper()
	var e apiErrorReply
	if err := json.Unmarshal([]byte(body), &e); err != nil || status != wantStatus || e.Error.Code != wantCode || e.Error.Message == "" {
		t.Errorf("%s: %d %s, want %d with a JSON error %s", what, status, body, wantStatus, wantCode)
		return
	}
	for _, s := range msgHas {
		if !strings.Contains(e.Error.Message, s) {
			t.Errorf("%s: the message %q should say %q", what, e.Error.Message, s)
		}
	}
}

// decodeInit reads the answer of POST .../trust.
func decodeInit(t *testing.T, body string, gun, rootID, repoID *string) {
	t.Helper()
	var r struct {
		GUN             string `json:"gun"`
		RootKeyID       string `json:"root_key_id"`
		RepositoryKeyID string `json:"repository_key_id"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.GUN == "" || len(r.RootKeyID) != 64 || len(r.RepositoryKeyID) != 64 {
		t.Fatalf("initialise trust answered %s (%v), want gun, root_key_id, repository_key_id", body, err)
	}
	*gun, *rootID, *repoID = r.GUN, r.RootKeyID, r.RepositoryKeyID
}

// keyReply is a vault key as the API lists it.
type keyReply struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	GUN  string `json:"gun"`
}

// vaultKeys lists the vault keys a administers.
func (w *world) vaultKeys(a account) []keyReply {
	w.t.Helper()
	status, body := w.call(a, http.MethodGet, "/api/v1/keys", nil)
	var reply struct {
		Keys []keyReply `json:"keys"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &reply) != nil {
		w.t.Fatalf("GET /api/v1/keys as %s: %d %s", a.name, status, body)
	}
	return reply.Keys
}

// mustExportKey downloads a vault key file (encrypted PEM).
func (w *world) mustExportKey(a account, id string) string {
	w.t.Helper()
	status, body := w.call(a, http.MethodGet, "/api/v1/keys/"+id, nil)
	if status != http.StatusOK || !strings.Contains(body, "-----BEGIN ENCRYPTED PRIVATE KEY-----") {
		w.t.Fatalf("export key %s as %s: %d %s", id, a.name, status, body)
	}
	return body
}

// expectPublishedAs checks that every publish trustdeck made for a user
// (trust initialisation, signer add and revoke, tag revoke) reached the
// embedded Notary server on that user's behalf: the trust.update the server
// recorded just before the operation's own event names the same actor, and
// no trust.update names trustdeck itself.
func expectPublishedAs(t *testing.T, events []auditEvent) {
	t.Helper()
	var last *auditEvent // the latest trust.update since the last operation
	n := 0
	for i, e := range events {
		switch e.Action {
		case "trust.update":
			if e.Actor == "trustdeck" {
				t.Errorf("trust.update %s names trustdeck instead of the user who acted:\n%s", e, eventList(events))
			}
			last = &events[i]
		case "trust.initialise", "signer.add", "signer.revoke", "tag.revoke":
			n++
			switch {
			case last == nil:
				t.Errorf("no trust.update before %s:\n%s", e, eventList(events))
			case last.Actor != e.Actor:
				t.Errorf("the publish of %s was recorded by the Notary server as %s:\n%s", e, last, eventList(events))
			}
			last = nil
		}
	}
	if n == 0 {
		t.Errorf("no trust operation in the audit:\n%s", eventList(events))
	}
}

func countEvents(events []auditEvent, action string) int {
	n := 0
	for _, e := range events {
		if e.Action == action {
			n++
		}
	}
	return n
}

// roleMeta is one role's current metadata on the Notary server.
type roleMeta struct {
	version int
	sha256  string
}

// trustState maps each role that has metadata to its version and digest.
type trustState map[string]roleMeta

func (s trustState) String() string {
	var b strings.Builder
	for _, role := range slices.Sorted(maps.Keys(s)) {
		fmt.Fprintf(&b, "%s=v%d ", role, s[role].version)
	}
	return "[" + strings.TrimSpace(b.String()) + "]"
}

// trustMeta reads every role's current metadata of gun through the Notary
// API with an admin token: root, targets, snapshot, timestamp, and every
// delegation that targets.json (or a delegation) delegates or snapshot.json
// lists. A repository without trust data gives an empty map.
func (w *world) trustMeta(gun string) trustState {
	w.t.Helper()
	tok := w.adminToken(gun)
	out := trustState{}
	var queue []string
	seen := map[string]bool{}
	push := func(roles ...string) {
		for _, r := range roles {
			if !seen[r] {
				seen[r] = true
				queue = append(queue, r)
			}
		}
	}
	push("root", "targets", "snapshot", "timestamp")
	for len(queue) > 0 {
		role := queue[0]
		queue = queue[1:]
		status, body := w.notaryAPI(http.MethodGet, "/v2/"+gun+"/_trust/tuf/"+role+".json", tok, nil, "")
		if status == http.StatusNotFound {
			if role == "root" {
				return out
			}
			continue
		}
		if status != http.StatusOK {
			w.t.Fatalf("GET %s.json of %s: %d %s", role, gun, status, body)
		}
		var meta struct {
			Signed struct {
				Version     int                        `json:"version"`
				Meta        map[string]json.RawMessage `json:"meta"`
				Delegations struct {
					Roles []struct {
						Name string `json:"name"`
					} `json:"roles"`
				} `json:"delegations"`
			} `json:"signed"`
		}
		if err := json.Unmarshal([]byte(body), &meta); err != nil {
			w.t.Fatalf("%s.json of %s: %v", role, gun, err)
		}
		sum := sha256.Sum256([]byte(body))
		out[role] = roleMeta{version: meta.Signed.Version, sha256: hex.EncodeToString(sum[:])}
		for _, d := range meta.Signed.Delegations.Roles {
			push(d.Name)
		}
		if role == "snapshot" {
			push(slices.Sorted(maps.Keys(meta.Signed.Meta))...)
		}
	}
	return out
}

// expectUnchanged fails unless gun's metadata is exactly as before.
func (w *world) expectUnchanged(t *testing.T, gun string, before trustState, why string) {
	t.Helper()
	after := w.trustMeta(gun)
	if !maps.Equal(before, after) {
		t.Errorf("%s changed the trust data of %s: %s → %s", why, gun, before, after)
		for role, m := range after {
			if b, ok := before[role]; ok && b.version == m.version && b != m {
				t.Errorf("  %s: same version %d, other content", role, m.version)
			}
		}
	}
}

// The repository page's "Signers and their keys" table: a row per key, the
// signer's name in the first cell of its first row, the full key ID in the
// title of the key cell's code element.
var (
	signersSectionRE = regexp.MustCompile(`(?s)<section id="signers">(.*?)</section>`)
	rowStartRE       = regexp.MustCompile(`<tr[\s>]`)
	firstCellRE      = regexp.MustCompile(`(?s)^[^>]*>\s*<td[^>]*>(.*?)</td>`)
	tagRE            = regexp.MustCompile(`(?s)<[^>]*>`)
	keyIDTitleRE     = regexp.MustCompile(`<code class="keyid" title="([0-9a-f]{64})">`)
)

// uiSignerKeys reads the signers and their key IDs from the repository page
// (as admin): the "Signers and their keys" table.
func (w *world) uiSignerKeys(repo string) map[string][]string {
	w.t.Helper()
	status, page := w.call(admin, http.MethodGet, "/repositories/"+repo, nil)
	if status != http.StatusOK {
		w.t.Fatalf("GET /repositories/%s: %d %s", repo, status, page)
	}
	m := signersSectionRE.FindStringSubmatch(page)
	if m == nil {
		w.t.Fatalf("the page of %s has no signers section:\n%s", repo, page)
	}
	out := map[string][]string{}
	var current string
	for _, row := range rowStartRE.Split(m[1], -1)[1:] {
		if strings.Contains(row, "<th") {
			continue
		}
		// The first cell holds the signer's name on its first row (and a
		// "changed" badge after an action).
		if c := firstCellRE.FindStringSubmatch(row); c != nil {
			if f := strings.Fields(tagRE.ReplaceAllString(c[1], " ")); len(f) > 0 {
				current = html.UnescapeString(f[0])
			}
		}
		for _, id := range keyIDTitleRE.FindAllStringSubmatch(row, -1) {
			out[current] = append(out[current], id[1])
		}
	}
	return out
}

// dockerSignerKeys reads the signers and their key IDs from docker trust
// inspect's JSON.
func dockerSignerKeys(t *testing.T, c *machine, gun string) map[string][]string {
	t.Helper()
	r := c.mustDocker("trust", "inspect", gun)
	var repos []dockerRepoJSON
	if err := json.Unmarshal([]byte(r.stdout), &repos); err != nil || len(repos) != 1 {
		t.Fatalf("docker trust inspect %s: %v\n%s", gun, err, r)
	}
	out := map[string][]string{}
	for _, s := range repos[0].Signers {
		for _, k := range s.Keys {
			out[s.Name] = append(out[s.Name], k.ID)
		}
	}
	return out
}

// compareInspect compares GET /api/v1/trust/inspect with docker trust
// inspect on box, JSON and pretty, byte for byte, for each list of refs.
func compareInspect(t *testing.T, p *parity, box *machine, when string, refList [][]string) {
	t.Helper()
	for _, refs := range refList {
		for _, pretty := range []bool{false, true} {
			mode := "json"
			if pretty {
				mode = "pretty"
			}
			what := fmt.Sprintf("%s: inspect %s %s: trustdeck vs docker", when, mode, strings.Join(refs, " "))
			compareOutput(t, what, p.api(t, refs, pretty), p.docker(t, box.docker, refs, pretty))
		}
	}
}

// keyFileInfo is one private key file of a docker trust directory.
type keyFileInfo struct {
	id, role, gun string
	pem           []byte
}

// privateKeyFiles reads $DOCKER_CONFIG/trust/private/*.key.
func privateKeyFiles(t *testing.T, c *machine) []keyFileInfo {
	t.Helper()
	dir := filepath.Join(c.trustDir(), "private")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []keyFileInfo
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".key")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(b)
		if block == nil {
			t.Fatalf("%s is not PEM", e.Name())
		}
		out = append(out, keyFileInfo{id: id, role: block.Headers["role"], gun: block.Headers["gun"], pem: b})
	}
	return out
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newECKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newRSAKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// certPEM makes a self-signed certificate (alg 0: Go's default for the key).
func certPEM(t *testing.T, key crypto.Signer, cn string, notBefore, notAfter time.Time, alg x509.SignatureAlgorithm) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(time.Now().UnixNano()),
		Subject:            pkix.Name{CommonName: cn},
		NotBefore:          notBefore,
		NotAfter:           notAfter,
		SignatureAlgorithm: alg,
		KeyUsage:           x509.KeyUsageDigitalSignature,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("certificate %s: %v", cn, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func pubKeyPEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

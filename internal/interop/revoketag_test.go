package interop

// Acceptance of "docker trust revoke-equivalent: after revoking tag 1 from
// the UI, docker trust inspect no longer lists it": a repository signed with
// the CLIs (docker trust signer add, notary add), jeff's delegation key
// imported into the vault, tag 1 revoked through the revoke form as admin
// and tag 2 through the API with a one-off key; docker trust inspect and the
// notary CLI, on machines without cached trust data, then show what remains,
// and the API's inspection is docker's, byte for byte.

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"html"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// revokeTagManifest2 is the manifest tag 2 points to (another digest than tag 1's).
var revokeTagManifest2 = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7024,"digest":"sha256:0f2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc70"},"layers":[]}`)

// TestRevokeTag: jeff initialises prod/nginx and signs tags 1 and 2 in
// targets/releases and targets/jeff with the CLIs; an admin imports jeff's
// key (the file docker trust key load wrote) into the vault, revokes tag 1
// with the revoke form (a wrong passphrase first changes nothing), and
// revokes tag 2 from targets/jeff through the API with the key file as a
// one-off key. Without docker the seed uses the notary CLI alone and the
// docker assertions are skipped, loudly; the notary CLI and the API checks
// still run.
func TestRevokeTag(t *testing.T) {
	t.Parallel()
	live := !dockerMissing(t, "the docker CLI seed and the docker trust inspect assertions of the tag revocation",
		"the seed is made with the notary CLI, and notary list and the inspect API check the revocation")
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "nginx")
	gun := w.gun("prod", "nginx")
	jeffKey := w.newSignerKey("jeff")
	digest1, digest2 := sha256Hex(manifest), sha256Hex(revokeTagManifest2)
	target1 := w.writeFile("manifest-1.json", manifest)
	target2 := w.writeFile("manifest-2.json", revokeTagManifest2)

	// jeff's laptop: jeff becomes a signer (which initialises the
	// repository) and signs tags 1 and 2 as a delegate.
	laptop := w.newMachine("laptop")
	if live {
		laptop.dockerLogin(jeff)
		laptop.mustDocker("trust", "key", "load", "--name", "jeff", jeffKey.keyFile)
		r := laptop.mustDocker("trust", "signer", "add", "--key", jeffKey.certFile, "jeff", gun)
		if !strings.Contains(r.stdout, "Successfully added signer: jeff to "+gun) {
			t.Errorf("docker trust signer add:\n%s", r)
		}
	} else {
		// docker trust signer add lets the server manage the snapshot key;
		// notary init keeps it on the client, and trustdeck can only publish
		// changes of repositories whose snapshot key the server holds. Only
		// an admin may have the server make a key.
		laptop.mustNotary(jeff, "init", gun, "--publish")
		laptop.mustNotary(admin, "key", "rotate", gun, "snapshot", "--server-managed")
		laptop.mustNotary(jeff, "key", "import", jeffKey.keyFile, "--role", "jeff")
		laptop.mustNotary(jeff, "delegation", "add", gun, "targets/releases", jeffKey.certFile, "--all-paths")
		laptop.mustNotary(jeff, "delegation", "add", gun, "targets/jeff", jeffKey.certFile, "--all-paths", "--publish")
	}
	for tag, file := range map[string]string{"1": target1, "2": target2} {
		laptop.mustNotary(jeff, "add", gun, tag, file, "--roles", "targets/releases", "--roles", "targets/jeff")
	}
	laptop.mustNotary(jeff, "publish", gun)
	signed := map[string]revokeTagWant{"1": {digest1, "jeff"}, "2": {digest2, "jeff"}}
	w.revokeTagExpect(t, live, gun, "after signing", signed)

	// The admin imports jeff's key file into the vault, with its passphrase.
	keyID, keyPEM := revokeTagKeyFile(t, laptop, "jeff")
	resp, body := w.s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/keys",
		map[string]string{"pem": keyPEM, "passphrase": trustPassphrase})
	var imported struct{ ID, Role, GUN string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &imported) != nil ||
		imported.ID != keyID || imported.Role != "jeff" || imported.GUN != "" {
		t.Fatalf("import jeff's key %s into the vault: %d %s", keyID, resp.StatusCode, body)
	}

	// The revoke page lists both roles holding tag 1, with the vault's key.
	b := w.s.NewBrowser(t)
	b.Login(admin.name, admin.pass)
	page := "/repositories/prod/nginx/tags/revoke"
	resp, body = b.Get(page + "?tag=1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s?tag=1: %d\n%s", page, resp.StatusCode, body)
	}
	roles := revokeTagFormRoles(t, body)
	if got := slices.Sorted(maps.Keys(roles)); !slices.Equal(got, []string{"targets/jeff", "targets/releases"}) {
		t.Fatalf("the revoke page of tag 1 lists roles %v, want targets/jeff and targets/releases:\n%s", got, body)
	}
	for role, f := range roles {
		if !f.vaultHolds || !strings.Contains(f.text, keyID[:12]) {
			t.Errorf("the revoke page should say the vault holds key %s for %s:\n%s", keyID[:12], role, f.text)
		}
		if !strings.Contains(f.text, digest1) {
			t.Errorf("the revoke page should show digest %s for %s:\n%s", digest1, role, f.text)
		}
	}

	// A wrong passphrase for one of the roles: refused on the page, and
	// nothing is published, not even for the role whose key was unlocked.
	before := w.versions(gun, allRoles...)
	resp, body = w.revokeTagPostForm(t, b, page, "1", roles, map[string]string{
		"targets/releases": trustPassphrase, "targets/jeff": "not-the-passphrase"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `role="alert"`) ||
		!strings.Contains(html.UnescapeString(body), "targets/jeff: Wrong passphrase") {
		t.Errorf("revoke with a wrong passphrase: %d, want 400 and an alert naming targets/jeff:\n%s", resp.StatusCode, body)
	}
	if got := w.versions(gun, allRoles...); !maps.Equal(got, before) {
		t.Fatalf("a refused revocation changed trust data: versions %v → %v", before, got)
	}
	w.revokeTagExpect(t, live, gun, "after the refused revocation", signed)

	// The right passphrase: tag 1 is removed from both roles.
	resp, body = w.revokeTagPostForm(t, b, page, "1", roles, map[string]string{
		"targets/releases": trustPassphrase, "targets/jeff": trustPassphrase})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/repositories/prod/nginx" {
		t.Fatalf("revoke tag 1: %d to %q, want 303 to /repositories/prod/nginx:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	after := w.versions(gun, allRoles...)
	for _, role := range []string{"targets/releases", "targets/jeff", "snapshot", "timestamp"} {
		if after[role] != before[role]+1 {
			t.Errorf("%s: version %d → %d, want one publish", role, before[role], after[role])
		}
	}
	if after["root"] != before["root"] || after["targets"] != before["targets"] {
		t.Errorf("revoking a tag of delegations re-signed root or targets: %v → %v", before, after)
	}
	w.revokeTagExpect(t, live, gun, "after revoking tag 1 in the UI", map[string]revokeTagWant{"2": {digest2, "jeff"}})
	if resp, body := b.Get(page + "?tag=1"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the revoke page of a revoked tag: %d, want 404:\n%s", resp.StatusCode, body)
	}

	// The API, with the key file as a one-off key for targets/jeff alone:
	// a wrong passphrase changes nothing; then tag 2 leaves targets/jeff
	// and stays in targets/releases, so docker still lists it.
	api := "/api/v1/repositories/prod/nginx/tags/revoke"
	before = w.versions(gun, allRoles...)
	resp, body = w.s.API(t, admin.name, admin.pass, http.MethodPost, api, map[string]any{"tag": "2",
		"keys": map[string]any{"targets/jeff": map[string]string{"key": keyPEM, "passphrase": "not-the-passphrase"}}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"wrong_passphrase"`) {
		t.Errorf("API revoke with a one-off key and a wrong passphrase: %d %s, want 400 wrong_passphrase", resp.StatusCode, body)
	}
	if got := w.versions(gun, allRoles...); !maps.Equal(got, before) {
		t.Fatalf("a refused API revocation changed trust data: versions %v → %v", before, got)
	}
	resp, body = w.s.API(t, admin.name, admin.pass, http.MethodPost, api, map[string]any{"tag": "2",
		"keys": map[string]any{"targets/jeff": map[string]string{"key": keyPEM, "passphrase": trustPassphrase}}})
	var reply struct {
		Tag         string   `json:"tag"`
		RemovedFrom []string `json:"removed_from"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &reply) != nil ||
		reply.Tag != "2" || !slices.Equal(reply.RemovedFrom, []string{"targets/jeff"}) {
		t.Fatalf("API revoke of tag 2 from targets/jeff with a one-off key: %d %s", resp.StatusCode, body)
	}
	// Only targets/releases holds it now: docker names no signer but "Repo
	// Admin" ("(Repo Admin)" in --pretty).
	w.revokeTagExpect(t, live, gun, "after revoking tag 2 from targets/jeff through the API", map[string]revokeTagWant{"2": {digest2, "Repo Admin"}})
	r := w.newMachine("jeff-role-box").mustNotary(reader, "list", gun, "--roles", "targets/jeff")
	if tableRow(r.stdout, "2") != nil || tableRow(r.stdout, "1") != nil {
		t.Errorf("targets/jeff still holds a revoked tag:\n%s", r)
	}
	expectListed(t, w.newMachine("releases-box").mustNotary(reader, "list", gun, "--roles", "targets/releases"), "2", digest2)

	events := w.audit("prod/nginx")
	t.Logf("audit of prod/nginx:\n%s", eventList(events))
	expectEvent(t, events, "admin", "tag.revoke", "tag 1", "targets/releases", "targets/jeff")
	expectEvent(t, events, "admin", "tag.revoke", "tag 2", "targets/jeff")
	n := 0
	for _, e := range events {
		if e.Action == "tag.revoke" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d tag.revoke events, want 2 (refusals are not audited as revocations):\n%s", n, eventList(events))
	}
	expectPublishedAs(t, events)
}

// revokeTagRole is one role's fieldset on the revoke form.
type revokeTagRole struct {
	index      string // the i of role_<i>, pass_<i>, key_<i>
	vaultHolds bool
	text       string // the fieldset, unescaped
}

var (
	revokeTagFieldsetRE = regexp.MustCompile(`(?s)<fieldset.*?</fieldset>`)
	revokeTagRoleRE     = regexp.MustCompile(`name="role_(\d+)" value="([^"]+)"`)
)

// revokeTagFormRoles reads the roles of the revoke form, checking that each
// offers a passphrase and a key file input.
func revokeTagFormRoles(t *testing.T, body string) map[string]revokeTagRole {
	t.Helper()
	roles := map[string]revokeTagRole{}
	for _, fs := range revokeTagFieldsetRE.FindAllString(body, -1) {
		m := revokeTagRoleRE.FindStringSubmatch(fs)
		if m == nil {
			t.Fatalf("a fieldset of the revoke form without role_<i>:\n%s", fs)
		}
		for _, input := range []string{`name="pass_` + m[1] + `"`, `name="key_` + m[1] + `"`} {
			if !strings.Contains(fs, input) {
				t.Errorf("the fieldset of %s has no %s input:\n%s", m[2], input, fs)
			}
		}
		text := html.UnescapeString(fs)
		roles[html.UnescapeString(m[2])] = revokeTagRole{index: m[1], text: text,
			vaultHolds: strings.Contains(text, "The vault holds this role's key")}
	}
	return roles
}

// revokeTagPostForm submits the revoke form as a browser does
// (multipart/form-data, every file input sent empty), with passphrases by
// role.
func (w *world) revokeTagPostForm(t *testing.T, b *testserver.Browser, path, tag string, roles map[string]revokeTagRole, pass map[string]string) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	field := func(name, value string) {
		if err := mw.WriteField(name, value); err != nil {
			t.Fatal(err)
		}
	}
	field("_csrf", b.CSRF)
	field("tag", tag)
	for _, role := range slices.Sorted(maps.Keys(roles)) {
		i := roles[role].index
		field("role_"+i, role)
		if _, err := mw.CreateFormFile("key_"+i, ""); err != nil {
			t.Fatal(err)
		}
		field("pass_"+i, pass[role])
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := b.C.Post(w.s.URL+path, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp, out.String()
}

// revokeTagKeyFile returns the canonical ID and the content of the
// private key file of role (the file docker trust key load or notary key
// import wrote to $DOCKER_CONFIG/trust/private/<id>.key).
func revokeTagKeyFile(t *testing.T, c *machine, role string) (string, string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(c.trustDir(), "private", "*.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if blk, _ := pem.Decode(b); blk != nil && blk.Headers["role"] == role {
			return strings.TrimSuffix(filepath.Base(f), ".key"), string(b)
		}
	}
	t.Fatalf("no key file with role %s among %v", role, files)
	return "", ""
}

// revokeTagWant is what inspect should show for a tag: its digest and its
// signers (sorted, ", "-separated).
type revokeTagWant struct{ digest, signers string }

// revokeTagExpect checks, on machines without cached trust data, that gun
// lists exactly the tags of want: with notary list and the
// inspect API, and, when docker is installed, with docker trust inspect
// (JSON and --pretty), whose output the inspect API must equal byte for
// byte.
func (w *world) revokeTagExpect(t *testing.T, live bool, gun, when string, want map[string]revokeTagWant) {
	t.Helper()
	wantTags := slices.Sorted(maps.Keys(want))

	// notary list walks targets and its delegations.
	box := w.newMachine("notary-" + revokeTagBoxName(when))
	r := box.mustNotary(reader, "list", gun)
	for _, tag := range []string{"1", "2"} {
		row := tableRow(r.stdout, tag)
		switch tw, ok := want[tag]; {
		case ok && (len(row) < 2 || row[1] != tw.digest):
			t.Errorf("%s: notary list should list %s with digest %s:\n%s", when, tag, tw.digest, r)
		case !ok && row != nil:
			t.Errorf("%s: notary list still lists %s:\n%s", when, tag, r)
		}
	}

	// The inspect API, as reader.
	q := url.Values{"ref": {gun}}
	resp, apiJSON := w.s.API(t, reader.name, reader.pass, http.MethodGet, "/api/v1/trust/inspect?"+q.Encode(), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET /api/v1/trust/inspect?%s: %d %s", when, q.Encode(), resp.StatusCode, apiJSON)
	}
	if got := revokeTagInspected(t, apiJSON, want); !slices.Equal(got, wantTags) {
		t.Errorf("%s: the inspect API lists tags %v, want %v:\n%s", when, got, wantTags, apiJSON)
	}
	q.Set("pretty", "1")
	resp, apiPretty := w.s.API(t, reader.name, reader.pass, http.MethodGet, "/api/v1/trust/inspect?"+q.Encode(), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET /api/v1/trust/inspect?%s: %d %s", when, q.Encode(), resp.StatusCode, apiPretty)
	}

	if !live {
		t.Logf("%s: docker trust inspect not run (docker is not installed)", when)
		return
	}
	dbox := w.newMachine("docker-" + revokeTagBoxName(when))
	dbox.dockerLogin(reader)
	dockerJSON := dbox.mustDocker("trust", "inspect", gun).stdout
	if got := revokeTagInspected(t, dockerJSON, want); !slices.Equal(got, wantTags) {
		t.Errorf("%s: docker trust inspect lists tags %v, want %v:\n%s", when, got, wantTags, dockerJSON)
	}
	dockerPretty := dbox.mustDocker("trust", "inspect", "--pretty", gun).stdout
	t.Logf("%s: docker trust inspect --pretty %s:\n%s", when, gun, dockerPretty)
	for _, tag := range []string{"1", "2"} {
		row := tableRow(dockerPretty, tag)
		switch tw, ok := want[tag]; {
		case ok && (len(row) < 2 || row[1] != tw.digest):
			t.Errorf("%s: docker trust inspect --pretty should list %s with digest %s:\n%s", when, tag, tw.digest, dockerPretty)
		case !ok && row != nil:
			t.Errorf("%s: docker trust inspect --pretty still lists %s:\n%s", when, tag, dockerPretty)
		}
	}
	if apiJSON != dockerJSON {
		t.Errorf("%s: the inspect API differs from docker trust inspect:\n%s", when, lineDiff(apiJSON, dockerJSON))
	}
	if apiPretty != dockerPretty {
		t.Errorf("%s: the pretty inspect API differs from docker trust inspect --pretty:\n%s", when, lineDiff(apiPretty, dockerPretty))
	}
}

// revokeTagInspected returns the sorted signed tags of docker trust
// inspect's JSON for one repository, checking their digests and signers
// against want.
func revokeTagInspected(t *testing.T, out string, want map[string]revokeTagWant) []string {
	t.Helper()
	var got []inspectJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		t.Fatalf("inspect JSON for one repository: %v\n%s", err, out)
	}
	tags := []string{}
	for _, st := range got[0].SignedTags {
		tags = append(tags, st.SignedTag)
		tw, ok := want[st.SignedTag]
		if !ok {
			continue
		}
		if st.Digest != tw.digest {
			t.Errorf("inspect: tag %s has digest %s, want %s", st.SignedTag, st.Digest, tw.digest)
		}
		if got := strings.Join(slices.Sorted(slices.Values(st.Signers)), ", "); got != tw.signers {
			t.Errorf("inspect: tag %s is signed by %q, want %q", st.SignedTag, got, tw.signers)
		}
	}
	slices.Sort(tags)
	return tags
}

// revokeTagBoxName turns a step's description into a machine name.
func revokeTagBoxName(when string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(when))
}

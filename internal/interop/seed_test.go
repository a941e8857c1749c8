package interop

import (
	"encoding/json"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// The roles whose versions the refusal checks compare.
var allRoles = []string{"root", "targets", "snapshot", "timestamp",
	"targets/releases", "targets/jeff", "targets/ian", "targets/mallory"}

// manifest stands in for the image manifest whose digest a tag points to
// (signing with the notary CLI needs no registry and no daemon).
var manifest = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},"layers":[]}`)

// TestSeedWorkflowDocker replays sign-an-image.md with the docker CLI:
// jeff initialises prod/nginx with docker trust signer add and signs tag 1,
// ian joins and signs too, a read-only account and an account without role
// are refused what they may not do, trustdeck restarts between the steps,
// and an admin deletes the trust data with notary delete --remote.
func TestSeedWorkflowDocker(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "nginx")
	gun := w.gun("prod", "nginx")
	jeffKey, ianKey, malloryKey := w.newSignerKey("jeff"), w.newSignerKey("ian"), w.newSignerKey("mallory")
	target := w.writeFile("manifest.json", manifest)
	digest := sha256Hex(manifest)

	// jeff's laptop: docker login with a write account, load the key of
	// the client bundle, add jeff as signer (initialises the repository).
	laptop := w.newMachine("laptop")
	laptop.dockerLogin(jeff)
	r := laptop.mustDocker("trust", "key", "load", "--name", "jeff", jeffKey.keyFile)
	if !strings.Contains(r.stdout, "Successfully imported key from "+jeffKey.keyFile) {
		t.Errorf("docker trust key load:\n%s", r)
	}
	r = laptop.mustDocker("trust", "signer", "add", "--key", jeffKey.certFile, "jeff", gun)
	for _, want := range []string{"Initializing signed repository for " + gun, "Successfully initialized \"" + gun + "\"",
		"Successfully added signer: jeff to " + gun} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("docker trust signer add: no %q in:\n%s", want, r)
		}
	}
	r = laptop.mustDocker("trust", "inspect", "--pretty", gun)
	if !strings.Contains(r.stdout, "No signatures for "+gun) || tableRow(r.stdout, "jeff") == nil {
		t.Errorf("after signer add, inspect should show no signatures and signer jeff:\n%s", r)
	}

	// A repository that is not in trustdeck's catalog cannot be initialised.
	ghost := w.gun("prod", "ghost")
	r = laptop.docker("trust", "signer", "add", "--key", jeffKey.certFile, "jeff", ghost)
	mustFail(t, r, "docker trust signer add for a repository not in the catalog")
	if got := w.versions(ghost, allRoles...); len(got) != 0 {
		t.Errorf("trust data stored for a repository not in the catalog: %v", got)
	}

	// jeff signs tag 1 with the notary CLI (docker trust sign needs a daemon).
	laptop.mustNotary(jeff, "add", gun, "1", target, "--roles", "targets/releases", "--roles", "targets/jeff")
	laptop.mustNotary(jeff, "publish", gun)
	expectSigners(t, laptop, gun+":1", digest, "jeff")

	// Restart: data and server keys survive.
	tsKey, snKey := w.serverKey(gun, "timestamp"), w.serverKey(gun, "snapshot")
	before := w.versions(gun, allRoles...)
	w.s.Restart()
	if got := w.versions(gun, allRoles...); !maps.Equal(got, before) {
		t.Fatalf("metadata versions changed across a restart: %v → %v", before, got)
	}
	if w.serverKey(gun, "timestamp") != tsKey || w.serverKey(gun, "snapshot") != snKey {
		t.Fatal("the server's timestamp or snapshot key changed across a restart")
	}

	// A read-only account reads from a clean machine (no cached trust data).
	readerBox := w.newMachine("reader-box")
	readerBox.dockerLogin(reader)
	expectSigners(t, readerBox, gun+":1", digest, "jeff")

	// The read-only account on a machine holding every key: signer add and
	// publish are refused by the server, and nothing changes.
	laptop.dockerLogin(reader)
	before = w.versions(gun, allRoles...)
	mustBeRefused(t, "docker trust signer add with a read-only account", func() result {
		return laptop.docker("trust", "signer", "add", "--key", malloryKey.certFile, "mallory", gun)
	})
	laptop.mustNotary(reader, "add", gun, "2", target, "--roles", "targets/releases", "--roles", "targets/jeff")
	mustBeRefused(t, "notary publish with a read-only account", func() result {
		return laptop.notary(reader, "publish", gun)
	})
	if got := w.versions(gun, allRoles...); !maps.Equal(got, before) {
		t.Fatalf("a read-only account changed trust data: versions %v → %v", before, got)
	}
	laptop.mustNotary(reader, "reset", gun, "--all") // drop the refused changes
	laptop.dockerLogin(jeff)

	// An account without any role cannot read.
	outsiderBox := w.newMachine("outsider-box")
	outsiderBox.dockerLogin(outsider)
	r = outsiderBox.docker("trust", "inspect", "--pretty", gun+":1")
	mustFail(t, r, "docker trust inspect with an account without role")
	if !strings.Contains(r.stderr, "no signatures or cannot access "+gun+":1") || strings.Contains(r.stdout, digest) {
		t.Errorf("docker trust inspect with an account without role:\n%s", r)
	}
	r = outsiderBox.docker("trust", "inspect", gun+":1")
	if r.err != nil || r.exit != 1 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("JSON docker trust inspect with an account without role should print [] and exit 1:\n%s", r)
	}

	// Restart again; ian is added and signs too.
	w.s.Restart()
	laptop.mustDocker("trust", "key", "load", "--name", "ian", ianKey.keyFile)
	r = laptop.mustDocker("trust", "signer", "add", "--key", ianKey.certFile, "ian", gun)
	if !strings.Contains(r.stdout, "Successfully added signer: ian to "+gun) {
		t.Errorf("docker trust signer add ian:\n%s", r)
	}
	laptop.mustNotary(ian, "add", gun, "1", target, "--roles", "targets/releases", "--roles", "targets/ian")
	laptop.mustNotary(ian, "publish", gun)
	expectSigners(t, laptop, gun+":1", digest, "ian, jeff")
	expectSigners(t, readerBox, gun+":1", digest, "ian, jeff")

	// An admin deletes the trust data.
	r = laptop.mustNotary(admin, "delete", gun, "--remote")
	if !strings.Contains(r.stdout, "Successfully deleted local and remote trust data for repository "+gun) {
		t.Errorf("notary delete --remote:\n%s", r)
	}
	if got := w.versions(gun, allRoles...); len(got) != 0 {
		t.Errorf("trust data left after delete: %v", got)
	}
	// The laptop's local copy went with notary delete; a machine that never
	// saw the repository asks the server. (A machine with a cached copy keeps
	// trusting it: that is TUF's client behaviour, not the server's.)
	freshBox := w.newMachine("fresh-box")
	freshBox.dockerLogin(reader)
	for _, c := range []*machine{laptop, freshBox} {
		r = c.docker("trust", "inspect", "--pretty", gun+":1")
		if r.err != nil || r.exit != 1 || strings.TrimSpace(r.stdout) != "" ||
			!strings.Contains(r.stderr, "no signatures or cannot access "+gun+":1") {
			t.Errorf("after delete, inspect --pretty should answer no signatures (exit 1):\n%s", r)
		}
		r = c.docker("trust", "inspect", gun)
		if r.err != nil || r.exit != 1 || strings.TrimSpace(r.stdout) != "[]" ||
			!strings.Contains(r.stderr, "no signatures or cannot access "+gun) {
			t.Errorf("after delete, JSON inspect should print [] and exit 1:\n%s", r)
		}
	}

	// The audit log names who changed what.
	events := w.audit("prod/nginx")
	t.Logf("audit of prod/nginx:\n%s", eventList(events))
	expectEvent(t, events, "jeff", "trust.update", "root") // initialisation by signer add
	expectEvent(t, events, "jeff", "trust.update", "targets/jeff")
	expectEvent(t, events, "ian", "trust.update", "targets/ian")
	if len(events) == 0 || events[len(events)-1].Actor != "admin" || events[len(events)-1].Action != "trust.delete" {
		t.Errorf("the last audit event should be admin's trust.delete:\n%s", eventList(events))
	}
	expectNoEventBy(t, events, "reader", "outsider")
}

// expectSigners checks both forms of docker trust inspect for one signed
// tag: the pretty table row and the JSON.
func expectSigners(t *testing.T, c *machine, ref, digest, signers string) {
	t.Helper()
	r := c.mustDocker("trust", "inspect", "--pretty", ref)
	tag := ref[strings.LastIndexByte(ref, ':')+1:]
	row := tableRow(r.stdout, tag)
	if !strings.Contains(r.stdout, "Signatures for "+ref) || len(row) < 3 || row[1] != digest ||
		strings.Join(row[2:], " ") != signers {
		t.Fatalf("docker trust inspect --pretty %s: want tag %s, digest %s, signers %q:\n%s", ref, tag, digest, signers, r)
	}
	for _, s := range strings.Split(signers, ", ") {
		if tableRow(r.stdout[strings.Index(r.stdout, "List of signers"):], s) == nil {
			t.Errorf("signer %s missing from the list of signers:\n%s", s, r)
		}
	}
	r = c.mustDocker("trust", "inspect", ref)
	var got []inspectJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 || len(got[0].SignedTags) != 1 {
		t.Fatalf("docker trust inspect %s: %v\n%s", ref, err, r)
	}
	st := got[0].SignedTags[0]
	names := slices.Sorted(slices.Values(st.Signers))
	if got[0].Name != ref || st.SignedTag != tag || st.Digest != digest || strings.Join(names, ", ") != signers {
		t.Errorf("docker trust inspect %s JSON: %+v, want tag %s, digest %s, signers %s", ref, got[0], tag, digest, signers)
	}
	var listed []string
	for _, s := range got[0].Signers {
		listed = append(listed, s.Name)
	}
	if slices.Sort(listed); strings.Join(listed, ", ") != signers {
		t.Errorf("docker trust inspect %s JSON: signers %v, want %s", ref, listed, signers)
	}
}

func expectEvent(t *testing.T, events []auditEvent, actor, action string, detailHas ...string) {
	t.Helper()
	if _, ok := findEvent(events, actor, action, detailHas...); !ok {
		t.Errorf("no audit event %s by %s with %q in:\n%s", action, actor, detailHas, eventList(events))
	}
}

func expectNoEventBy(t *testing.T, events []auditEvent, actors ...string) {
	t.Helper()
	for _, e := range events {
		for _, a := range actors {
			if e.Actor == a {
				t.Errorf("%s has no right to change trust data, yet the audit shows %s", a, e)
			}
		}
	}
}

func eventList(events []auditEvent) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	return b.String()
}

// TestSeedWorkflowNotary is the seed's workflow with the notary CLI alone
// (it always runs, docker or not): jeff initialises prod/redis and signs as a
// delegate, trustdeck restarts, a read-only account reads but cannot
// publish, an account without role cannot read, ian signs too, and an admin
// deletes the trust data.
func TestSeedWorkflowNotary(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "redis")
	gun := w.gun("prod", "redis")
	jeffKey, ianKey, malloryKey := w.newSignerKey("jeff"), w.newSignerKey("ian"), w.newSignerKey("mallory")
	target := w.writeFile("manifest.json", manifest)
	digest := sha256Hex(manifest)

	// jeff initialises the repository and makes himself a signer.
	laptop := w.newMachine("laptop")
	laptop.mustNotary(jeff, "init", gun, "--publish")
	laptop.mustNotary(jeff, "key", "import", jeffKey.keyFile, "--role", "jeff")
	laptop.mustNotary(jeff, "delegation", "add", gun, "targets/releases", jeffKey.certFile, "--all-paths")
	laptop.mustNotary(jeff, "delegation", "add", gun, "targets/jeff", jeffKey.certFile, "--all-paths", "--publish")
	laptop.mustNotary(jeff, "add", gun, "1", target, "--roles", "targets/releases", "--roles", "targets/jeff")
	laptop.mustNotary(jeff, "publish", gun)

	// A read-only account reads it from a machine without cached trust data.
	readerBox := w.newMachine("reader-box")
	expectListed(t, readerBox.mustNotary(reader, "list", gun, "--roles", "targets/jeff"), "1", digest)

	// Restart: data and server keys survive.
	tsKey := w.serverKey(gun, "timestamp")
	before := w.versions(gun, allRoles...)
	w.s.Restart()
	if got := w.versions(gun, allRoles...); !maps.Equal(got, before) {
		t.Fatalf("metadata versions changed across a restart: %v → %v", before, got)
	}
	if w.serverKey(gun, "timestamp") != tsKey {
		t.Fatal("the server's timestamp key changed across a restart")
	}
	expectListed(t, w.newMachine("reader-box-2").mustNotary(reader, "list", gun), "1", digest)

	// The read-only account, on the machine holding every key, can neither
	// add a signer nor publish a tag.
	before = w.versions(gun, allRoles...)
	mustBeRefused(t, "notary delegation add --publish with a read-only account", func() result {
		return laptop.notary(reader, "delegation", "add", gun, "targets/mallory", malloryKey.certFile, "--all-paths", "--publish")
	})
	laptop.mustNotary(reader, "reset", gun, "--all")
	laptop.mustNotary(reader, "add", gun, "2", target, "--roles", "targets/releases", "--roles", "targets/jeff")
	mustBeRefused(t, "notary publish with a read-only account", func() result {
		return laptop.notary(reader, "publish", gun)
	})
	laptop.mustNotary(reader, "reset", gun, "--all")
	if got := w.versions(gun, allRoles...); !maps.Equal(got, before) {
		t.Fatalf("a read-only account changed trust data: versions %v → %v", before, got)
	}

	// An account without any role cannot read.
	outsiderBox := w.newMachine("outsider-box")
	r := mustBeRefused(t, "notary list with an account without role", func() result {
		return outsiderBox.notary(outsider, "list", gun)
	})
	if strings.Contains(r.stdout, digest) {
		t.Errorf("an account without role listed the targets:\n%s", r)
	}

	// Restart again; ian becomes a signer and signs tag 1 too.
	w.s.Restart()
	laptop.mustNotary(jeff, "key", "import", ianKey.keyFile, "--role", "ian")
	laptop.mustNotary(jeff, "delegation", "add", gun, "targets/releases", ianKey.certFile, "--all-paths")
	laptop.mustNotary(jeff, "delegation", "add", gun, "targets/ian", ianKey.certFile, "--all-paths", "--publish")
	laptop.mustNotary(ian, "add", gun, "1", target, "--roles", "targets/releases", "--roles", "targets/ian")
	laptop.mustNotary(ian, "publish", gun)
	expectListed(t, readerBox.mustNotary(reader, "list", gun, "--roles", "targets/ian"), "1", digest)
	expectListed(t, readerBox.mustNotary(reader, "list", gun, "--roles", "targets/jeff"), "1", digest)

	// An admin deletes the trust data; a write account may not.
	mustBeRefused(t, "notary delete --remote with a write account", func() result {
		return laptop.notary(jeff, "delete", gun, "--remote")
	})
	if len(w.versions(gun, allRoles...)) == 0 {
		t.Fatal("a write account deleted the trust data")
	}
	laptop.mustNotary(admin, "delete", gun, "--remote")
	if got := w.versions(gun, allRoles...); len(got) != 0 {
		t.Errorf("trust data left after delete: %v", got)
	}
	r = w.newMachine("fresh-box").notary(reader, "list", gun)
	mustFail(t, r, "notary list after delete")
	if strings.Contains(r.stdout, digest) {
		t.Errorf("targets listed after delete:\n%s", r)
	}

	events := w.audit("prod/redis")
	t.Logf("audit of prod/redis:\n%s", eventList(events))
	expectEvent(t, events, "jeff", "trust.update", "root v1")
	expectEvent(t, events, "jeff", "trust.update", "targets/jeff")
	expectEvent(t, events, "ian", "trust.update", "targets/ian")
	if len(events) == 0 || events[len(events)-1].Actor != "admin" || events[len(events)-1].Action != "trust.delete" {
		t.Errorf("the last audit event should be admin's trust.delete:\n%s", eventList(events))
	}
	expectNoEventBy(t, events, "reader", "outsider")
}

// expectListed checks that notary list printed target name with digest.
func expectListed(t *testing.T, r result, name, digest string) {
	t.Helper()
	row := tableRow(r.stdout, name)
	if len(row) < 2 || row[1] != digest {
		t.Errorf("notary list: want %s with digest %s:\n%s", name, digest, r)
	}
}

// TestTokenService checks what the registry token service grants.
func TestTokenService(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "nginx")
	gun := w.gun("prod", "nginx")
	repo := func(name string, actions ...string) []tokenAccess {
		return []tokenAccess{{Type: "repository", Name: name, Actions: actions}}
	}

	tests := []struct {
		name   string
		who    account
		scopes []string
		want   []tokenAccess
	}{
		{"login without scope", jeff, nil, []tokenAccess{}},
		{"write pull,push", jeff, []string{"repository:" + gun + ":pull,push"}, repo(gun, "pull", "push")},
		{"write asks for *", jeff, []string{"repository:" + gun + ":pull,push,*"}, repo(gun, "pull", "push")},
		{"read asks for pull,push", reader, []string{"repository:" + gun + ":pull,push"}, repo(gun, "pull")},
		{"admin", admin, []string{"repository:" + gun + ":pull,push,*"}, repo(gun, "pull", "push", "*")},
		{"no role", outsider, []string{"repository:" + gun + ":pull"}, []tokenAccess{}},
		{"anonymous", anyone, []string{"repository:" + gun + ":pull"}, []tokenAccess{}},
		{"other registry host", jeff, []string{"repository:registry.example.com/prod/nginx:pull,push"}, []tokenAccess{}},
		{"not namespace/name", jeff, []string{"repository:" + w.host + "/prod:pull"}, []tokenAccess{}},
		{"other namespace", jeff, []string{"repository:" + w.gun("dev", "app") + ":pull"}, []tokenAccess{}},
		{"catalog as write", jeff, []string{"registry:catalog:*"}, []tokenAccess{}},
		{"two scopes", reader, []string{"repository:" + gun + ":pull", "repository:" + w.gun("dev", "app") + ":pull"}, repo(gun, "pull")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := w.token(tc.who, tc.scopes...)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if string(r.claims.raw["access"]) == "null" || r.claims.raw["access"] == nil {
				t.Errorf("access claim should be a list, got %s", r.claims.raw["access"])
			}
			got, _ := json.Marshal(r.claims.Access)
			want, _ := json.Marshal(tc.want)
			if string(got) != string(want) {
				t.Errorf("access = %s, want %s", got, want)
			}
			if r.claims.Subject != tc.who.name {
				t.Errorf("sub = %q, want %q", r.claims.Subject, tc.who.name)
			}
			if r.claims.Issuer != "trustdeck" || r.claims.Audience != "trustdeck" {
				t.Errorf("iss/aud = %v/%v, want trustdeck", r.claims.Issuer, r.claims.Audience)
			}
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		r := w.token(account{jeff.name, "not-the-password"}, "repository:"+gun+":pull")
		if r.status != http.StatusUnauthorized || r.token != "" {
			t.Errorf("status %d, want 401: %s", r.status, r.body)
		}
	})

	t.Run("tokens on the Notary API", func(t *testing.T) {
		status, _ := w.notaryAPI(http.MethodGet, "/v2/"+gun+"/_trust/tuf/root.json", "", nil, "")
		if status != http.StatusUnauthorized {
			t.Errorf("no token: %d, want 401", status)
		}
		read := w.token(reader, "repository:"+gun+":pull,push").token
		if status, body := w.notaryAPI(http.MethodGet, "/v2/"+gun+"/_trust/tuf/root.json", read, nil, ""); status != http.StatusNotFound {
			t.Errorf("read token, no trust data yet: %d %s, want 404", status, body)
		}
		if status, body := w.notaryAPI(http.MethodPost, "/v2/"+gun+"/_trust/tuf/", read, strings.NewReader(""), "multipart/form-data; boundary=x"); status != http.StatusUnauthorized {
			t.Errorf("read token, update: %d %s, want 401", status, body)
		}
		none := w.token(outsider, "repository:"+gun+":pull").token
		if status, body := w.notaryAPI(http.MethodGet, "/v2/"+gun+"/_trust/tuf/root.json", none, nil, ""); status != http.StatusUnauthorized {
			t.Errorf("token without access: %d %s, want 401", status, body)
		}
	})
}

// TestCatalogGuard checks that trust data can only be pushed for
// repositories of the catalog, and says how to fix it.
func TestCatalogGuard(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	gun := w.gun("prod", "ghost")

	// The notary CLI reports any 404 as "trust data unavailable", so the
	// server's explanation is checked on the HTTP answers below.
	r := w.newMachine("laptop").notary(jeff, "init", gun, "--publish")
	mustFail(t, r, "notary init --publish of a GUN not in the catalog")
	if got := w.versions(gun, allRoles...); len(got) != 0 {
		t.Fatalf("trust data stored for a GUN not in the catalog: %v", got)
	}
	tok := w.token(jeff, "repository:"+gun+":pull,push").token
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, "/v2/" + gun + "/_trust/tuf/root.json"},
		{http.MethodGet, "/v2/" + gun + "/_trust/tuf/timestamp.key"},
		{http.MethodPost, "/v2/" + gun + "/_trust/tuf/"},
	} {
		var status int
		var body string
		if req.method == http.MethodPost {
			status, body = w.notaryAPI(req.method, req.path, tok, multipartBody(t), multipartType)
		} else {
			status, body = w.notaryAPI(req.method, req.path, tok, nil, "")
		}
		if status != http.StatusNotFound || !strings.Contains(body, "create it first") ||
			!strings.Contains(body, "prod/ghost") {
			t.Errorf("%s %s: %d %s, want 404 telling to create the repository first", req.method, req.path, status, body)
		}
	}
	if events := w.audit("prod/ghost"); len(events) != 0 {
		t.Errorf("audit events for a refused GUN:\n%s", eventList(events))
	}

	// Once the repository exists, the same push succeeds.
	w.s.MustCreateRepo(t, "prod", "ghost")
	w.newMachine("laptop-2").mustNotary(jeff, "init", gun, "--publish")
	if got := w.versions(gun, allRoles...); got["root"] != 1 || got["timestamp"] < 1 {
		t.Fatalf("after creating the repository, init should publish: versions %v", got)
	}
}

// TestCreateOnPush checks --create-on-push: a write account's first push
// creates the catalog entry, a read account's does not.
func TestCreateOnPush(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "--create-on-push")

	readerBox := w.newMachine("reader-box")
	mustBeRefused(t, "notary init --publish by a read account with --create-on-push", func() result {
		return readerBox.notary(reader, "init", w.gun("prod", "byreader"), "--publish")
	})
	if resp, body := w.s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/repositories/prod/byreader", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a read account's push created the repository: %d %s", resp.StatusCode, body)
	}

	outsiderBox := w.newMachine("outsider-box")
	mustBeRefused(t, "notary init --publish by an account without role with --create-on-push", func() result {
		return outsiderBox.notary(outsider, "init", w.gun("dev", "app"), "--publish")
	})

	gun := w.gun("prod", "fresh")
	w.newMachine("laptop").mustNotary(jeff, "init", gun, "--publish")
	resp, body := w.s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/repositories/prod/fresh", nil)
	var repo struct {
		GUN       string `json:"gun"`
		CreatedBy string `json:"created_by"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &repo) != nil || repo.GUN != gun || repo.CreatedBy != "jeff" {
		t.Fatalf("GET /api/v1/repositories/prod/fresh: %d %s, want the repository created by jeff", resp.StatusCode, body)
	}
	if got := w.versions(gun, allRoles...); got["root"] != 1 {
		t.Errorf("trust data of the created repository: versions %v", got)
	}
	events := w.audit("prod/fresh")
	expectEvent(t, events, "jeff", "repository.create")
	expectEvent(t, events, "jeff", "trust.update", "root v1")
}

const multipartType = "multipart/form-data; boundary=trustdeck-interop"

// multipartBody is an update body with one (invalid) root part: the catalog
// guard refuses before the metadata is looked at.
func multipartBody(t *testing.T) *strings.Reader {
	t.Helper()
	var b strings.Builder
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary("trustdeck-interop"); err != nil {
		t.Fatal(err)
	}
	part, err := mw.CreateFormFile("files", "root")
	if err != nil {
		t.Fatal(err)
	}
	part.Write([]byte(`{"signed":{},"signatures":[]}`))
	mw.Close()
	return strings.NewReader(b.String())
}

package interop

// Acceptance of "Rotate root key": a repository initialised through
// trustdeck (root key in the vault) has its root key rotated from the
// repository page. Machines that read the trust data before (their trust
// directories pin the old root: jeff's laptop with the notary CLI and docker,
// a puller with docker trust inspect) accept the new root, cross-signed by
// the old key, and jeff keeps signing.
//
// Helpers of this file are prefixed with rr.

import (
	"encoding/json"
	"html"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestRotateRootKey(t *testing.T) {
	t.Parallel()
	live := !dockerMissing(t, "the docker trust inspect checks of the root rotation",
		"the rotation, notary list on machines that pinned the old root and the inspect API are still checked")
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "rootrot")
	gun := w.gun("prod", "rootrot")
	_, laptop := rnInitWithJeff(t, w, live, "prod/rootrot", gun)
	digest := sha256Hex(manifest)
	signed := map[string]revokeTagWant{"1": {digest, "jeff"}}

	// A puller reads the trust data before the rotation: it pins the old root.
	puller := w.newMachine("puller")
	var inspectBefore rrInspect
	if live {
		puller.dockerLogin(reader)
		inspectBefore = rrParseInspect(t, puller.mustDocker("trust", "inspect", gun).stdout)
	} else {
		puller.mustNotary(reader, "list", gun)
	}
	laptop.mustNotary(jeff, "list", gun)
	oldRoot := w.rnRole(t, gun, "root")

	// The repository page offers the rotation to administrators only.
	b := w.s.NewBrowser(t)
	b.Login(admin.name, admin.pass)
	formPath := "/repositories/prod/rootrot/trust/rotate-root"
	if _, page := b.Get("/repositories/prod/rootrot"); !strings.Contains(rnExpiryRow(page, "root"), `href="`+formPath+`"`) {
		t.Errorf("the root row should offer the root key rotation to an administrator:\n%s", rnExpiryRow(page, "root"))
	}
	rb := w.s.NewBrowser(t)
	rb.Login(reader.name, reader.pass)
	if _, page := rb.Get("/repositories/prod/rootrot"); strings.Contains(page, formPath) {
		t.Errorf("a reader is offered the root key rotation")
	}
	if resp, _ := rb.Get(formPath); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the rotation form as a reader: %d, want 403", resp.StatusCode)
	}
	resp, page := b.Get(formPath)
	text := html.UnescapeString(page)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the rotation form: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{"signed by both the current and the new root key", `name="root_passphrase"`,
		`name="new_root_passphrase"`, `name="new_root_passphrase_confirm"`, `name="_csrf"`, "The vault holds the root key"} {
		if !strings.Contains(text, want) {
			t.Errorf("the rotation form should say %q:\n%s", want, text)
		}
	}

	// Refusals publish nothing.
	before := w.trustMeta(gun)
	for _, c := range []struct {
		why    string
		fields map[string]string
		status int
		alert  string
	}{
		{"wrong passphrase", map[string]string{"root_passphrase": "not-the-passphrase",
			"new_root_passphrase": "new-root-passphrase", "new_root_passphrase_confirm": "new-root-passphrase"}, 400, "Wrong passphrase"},
		{"new passphrases differ", map[string]string{"root_passphrase": rootPass,
			"new_root_passphrase": "new-root-passphrase", "new_root_passphrase_confirm": "new-root-passphrasf"}, 400, "differ"},
		{"weak new passphrase", map[string]string{"root_passphrase": rootPass,
			"new_root_passphrase": "short", "new_root_passphrase_confirm": "short"}, 400, "at least 8"},
	} {
		resp, page := rnPostForm(t, w, b, formPath, c.fields, "")
		if alert, _ := rnAlert(page); resp.StatusCode != c.status || !strings.Contains(alert, c.alert) {
			t.Errorf("%s: %d, alert %q; want %d and %q", c.why, resp.StatusCode, alert, c.status, c.alert)
		}
	}
	w.expectUnchanged(t, gun, before, "a refused rotation")

	// The rotation.
	resp, page = rnPostForm(t, w, b, formPath, map[string]string{"root_passphrase": rootPass,
		"new_root_passphrase": "new-root-passphrase", "new_root_passphrase_confirm": "new-root-passphrase"}, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/repositories/prod/rootrot#notice" {
		t.Fatalf("rotate root: %d to %q, want 303 to the notice (in the expiry section):\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	newRoot := w.rnRole(t, gun, "root")
	if newRoot.version != oldRoot.version+1 {
		t.Errorf("root version %d → %d, want +1", oldRoot.version, newRoot.version)
	}
	if _, page := b.Get("/repositories/prod/rootrot"); !strings.Contains(page, "Root key rotated: new root key") {
		t.Errorf("the repository page should confirm the rotation")
	}

	// Machines that pinned the old root accept the new one.
	if r := laptop.mustNotary(jeff, "list", gun); tableRow(r.stdout, "1") == nil {
		t.Errorf("jeff's laptop (old root pinned) lists no tag 1 after the rotation:\n%s", r)
	}
	if r := puller.mustNotary(reader, "list", gun); tableRow(r.stdout, "1") == nil {
		t.Errorf("the puller (old root pinned) lists no tag 1 after the rotation:\n%s", r)
	}
	if live {
		for name, m := range map[string]*machine{"puller": puller, "laptop": laptop} {
			after := rrParseInspect(t, m.mustDocker("trust", "inspect", gun).stdout)
			if !slices.Equal(after.SignedTags, inspectBefore.SignedTags) || !slices.Equal(after.Signers, inspectBefore.Signers) {
				t.Errorf("%s: docker trust inspect shows other tags or signers after the rotation:\n%+v\nwas\n%+v", name, after, inspectBefore)
			}
			if after.rootKey() == "" || after.rootKey() == inspectBefore.rootKey() || after.repoKey() != inspectBefore.repoKey() {
				t.Errorf("%s: root key %q (was %q), repository key %q (was %q): want a new root key, the same repository key",
					name, after.rootKey(), inspectBefore.rootKey(), after.repoKey(), inspectBefore.repoKey())
			}
		}
	}
	w.revokeTagExpect(t, live, gun, "after root rotation", signed)

	// jeff keeps signing from the laptop that pinned the old root.
	laptop.mustNotary(jeff, "add", gun, "2", w.writeFile("manifest-2.json", revokeTagManifest2), "--roles", "targets/releases", "--roles", "targets/jeff")
	laptop.mustNotary(jeff, "publish", gun)
	signed["2"] = revokeTagWant{sha256Hex(revokeTagManifest2), "jeff"}
	w.revokeTagExpect(t, live, gun, "after jeff signed tag 2", signed)

	events := w.audit("prod/rootrot")
	if _, ok := findEvent(events, "admin", "trust.rotate_root", "→", "cross-signed"); !ok {
		t.Errorf("no trust.rotate_root event by admin:\n%s", eventList(events))
	}
	if n := countEvents(events, "trust.rotate_root"); n != 1 {
		t.Errorf("%d trust.rotate_root events, want 1 (refusals are not rotations)", n)
	}
}

// rrInspect is one repository of docker trust inspect's JSON.
type rrInspect struct {
	SignedTags []struct {
		SignedTag string
		Digest    string
		Signers   string
	}
	Signers            []string
	AdministrativeKeys []struct {
		Name string
		Keys []struct{ ID string }
	}
}

func rrParseInspect(t *testing.T, out string) rrInspect {
	t.Helper()
	var raw []struct {
		SignedTags []struct {
			SignedTag string
			Digest    string
			Signers   []string
		}
		Signers []struct {
			Name string
			Keys []struct{ ID string }
		}
		AdministrativeKeys []struct {
			Name string
			Keys []struct{ ID string }
		}
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil || len(raw) != 1 {
		t.Fatalf("docker trust inspect output (%v):\n%s", err, out)
	}
	var r rrInspect
	for _, st := range raw[0].SignedTags {
		r.SignedTags = append(r.SignedTags, struct {
			SignedTag string
			Digest    string
			Signers   string
		}{st.SignedTag, st.Digest, strings.Join(st.Signers, ",")})
	}
	for _, s := range raw[0].Signers {
		ids := make([]string, len(s.Keys))
		for i, k := range s.Keys {
			ids[i] = k.ID
		}
		r.Signers = append(r.Signers, s.Name+":"+strings.Join(ids, ","))
	}
	r.AdministrativeKeys = raw[0].AdministrativeKeys
	return r
}

func (r rrInspect) adminKey(name string) string {
	for _, k := range r.AdministrativeKeys {
		if k.Name == name && len(k.Keys) > 0 {
			ids := make([]string, len(k.Keys))
			for i, key := range k.Keys {
				ids[i] = key.ID
			}
			return strings.Join(ids, ",")
		}
	}
	return ""
}

func (r rrInspect) rootKey() string { return r.adminKey("Root") }
func (r rrInspect) repoKey() string { return r.adminKey("Repository") }

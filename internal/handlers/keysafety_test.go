package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// vaultKeys is the vault as the API lists it: key ID → role.
func vaultKeys(t *testing.T, s *testserver.Server) map[string]string {
	t.Helper()
	resp, body := s.API(t, "admin", testserver.AdminPassword, "GET", "/api/v1/keys", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list keys: %d %s", resp.StatusCode, body)
	}
	var out struct{ Keys []struct{ ID, Role string } }
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, k := range out.Keys {
		m[k.ID] = k.Role
	}
	return m
}

// keyOfRole is the one vault key of role.
func keyOfRole(t *testing.T, s *testserver.Server, role string) string {
	t.Helper()
	var ids []string
	for id, r := range vaultKeys(t, s) {
		if r == role {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d %s keys in the vault, want 1", len(ids), role)
	}
	return ids[0]
}

func TestRootKeyLeavesTheVaultOnlyDownloadedOrWithTheTypedConfirmation(t *testing.T) {
	s, b := initialised(t)
	root := keyOfRole(t, s, "root")
	del := "/keys/" + root + "/delete"
	next := url.Values{"next": {"/repositories/prod/app"}}

	for _, confirm := range []string{"", "yes", root[:11]} {
		form := url.Values{"next": next["next"], "confirm": {confirm}}
		resp, body := b.PostForm(del, form)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("confirm %q: %d, want 400: %s", confirm, resp.StatusCode, truncate(body))
		}
		alert, _ := alertText(body)
		if !strings.Contains(body, "cannot be recovered") || !strings.Contains(body, root[:12]) {
			t.Errorf("confirm %q: the page should say the key cannot be recovered and what to type: %s", confirm, alert)
		}
		if tag := tagOf(body, "confirm"); !strings.Contains(tag, `aria-invalid="true"`) {
			t.Errorf("confirm %q: the confirmation field is not marked: %s", confirm, tag)
		}
		if !strings.Contains(body, `href="/keys/`+root+`/download"`) {
			t.Errorf("confirm %q: the page does not offer the download", confirm)
		}
		if _, held := vaultKeys(t, s)[root]; !held {
			t.Fatalf("confirm %q: the root key left the vault", confirm)
		}
	}
	// The API refuses the same way; it is not a way around.
	if resp, body := s.API(t, "admin", testserver.AdminPassword, "DELETE", "/api/v1/keys/"+root, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("API delete without confirm: %d %s", resp.StatusCode, body)
	} else if code, _ := apiErr(t, body); code != "confirm_required" {
		t.Errorf("API delete without confirm: code %q", code)
	}
	resp, _ := b.PostForm(del, url.Values{"next": next["next"], "confirm": {root[:12]}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/repositories/prod/app" {
		t.Fatalf("typed confirmation: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, held := vaultKeys(t, s)[root]; held {
		t.Fatal("the confirmed root key is still in the vault")
	}

	// A repository key leaves without a confirmation (the rule is the root key's).
	repoKey := keyOfRole(t, s, "targets")
	if resp, body := s.API(t, "admin", testserver.AdminPassword, "DELETE", "/api/v1/keys/"+repoKey, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete the repository key: %d %s", resp.StatusCode, body)
	}
	noServerErrors(t, s)
}

func TestVaultNamesEachRootKeysRepositoryAndMarksRotatedOutKeys(t *testing.T) {
	s, b := initialised(t)
	old := keyOfRole(t, s, "root")
	gun := s.Addr + "/prod/app"
	_, page := b.Get("/keys")
	row := vaultRowOf(page, old)
	if !strings.Contains(row, "<code>"+gun+"</code>") || !strings.Contains(row, "in use") || !strings.Contains(row, "never downloaded") {
		t.Errorf("the root key's row should name %s, say it is in use and never downloaded: %s", gun, row)
	}
	if !regexp.MustCompile(`certificate <code title="[0-9a-f]{64}">[0-9a-f]{12}</code>`).MatchString(row) {
		t.Errorf("the root key's row should show its certificate ID: %s", row)
	}
	resp, body := b.PostForm("/repositories/prod/app/trust/rotate-root", url.Values{"root_passphrase": {formRootPass},
		"new_root_passphrase": {"new-root-passphrase"}, "new_root_passphrase_confirm": {"new-root-passphrase"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rotate root: %d %s", resp.StatusCode, truncate(body))
	}
	var current string
	for id, role := range vaultKeys(t, s) {
		if role == "root" && id != old {
			current = id
		}
	}
	_, page = b.Get("/keys")
	if row := vaultRowOf(page, old); !strings.Contains(row, "superseded") || !strings.Contains(row, gun) {
		t.Errorf("the rotated-out root key should be marked superseded, still labelled with %s: %s", gun, row)
	}
	if row := vaultRowOf(page, current); !strings.Contains(row, "in use") || !strings.Contains(row, gun) {
		t.Errorf("the new root key should be in use, labelled with %s: %s", gun, row)
	}

	// Downloaded, the old root key leaves the vault without a confirmation.
	if resp, body := b.Get("/keys/" + old + "/download"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "ENCRYPTED PRIVATE KEY") {
		t.Fatalf("download: %d", resp.StatusCode)
	}
	if _, page = b.Get("/keys"); strings.Contains(vaultRowOf(page, old), "never downloaded") {
		t.Error("the vault still says the downloaded root key was never downloaded")
	}
	if resp, _ := b.PostForm("/keys/"+old+"/delete", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete the downloaded root key: %d", resp.StatusCode)
	}
	if _, held := vaultKeys(t, s)[old]; held {
		t.Fatal("the downloaded root key is still in the vault")
	}
}

// vaultRowOf is the vault page's row of key id.
func vaultRowOf(page, id string) string {
	return sectionBetween(page, `<tr id="key-`+id+`"`, "</tr>")
}

package handlers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/testnotary"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

// A tag nothing signs (and no registry has) is no tag of the repository: the
// tag page answers 404 and says so, with or without trust data.
func TestUnknownTagIs404(t *testing.T) {
	s, b := initialised(t)
	s.MustCreateRepo(t, "prod", "bare")
	for _, path := range []string{"/repositories/prod/app/tags?tag=v9", "/repositories/prod/bare/tags?tag=v9"} {
		resp, body := b.Get(path)
		alert, _ := alertText(body)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(alert, "has no tag “v9”") {
			t.Errorf("%s: %d %q, want 404 saying there is no such tag", path, resp.StatusCode, alert)
		}
	}
	noServerErrors(t, s)
}

// fixtureRepo creates ns/name and writes trust data signed offline into the
// embedded server: targets maps a role to its tags and their contents.
func fixtureRepo(t *testing.T, s *testserver.Server, ns, name string, delegations []string, targets map[string]map[string]string) string {
	t.Helper()
	s.MustCreateRepo(t, ns, name)
	gun := s.Addr + "/" + ns + "/" + name
	b, err := testnotary.Fixture{GUN: gun, Delegations: delegations, Targets: targets}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.App.Store.TUF().UpdateMany(data.GUN(gun), b.Updates()); err != nil {
		t.Fatal(err)
	}
	return gun
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// A tag whose signer's role holds another digest than the released one is
// marked on the repository page (linked to its tag view) and counted in the
// summary; the tag view says which digest docker pulls and why, names the
// signer of each role and offers the pull command by digest.
func TestRolesThatDisagree(t *testing.T) {
	s := testserver.Start(t)
	gun := fixtureRepo(t, s, "prod", "app", []string{"targets/releases", "targets/jeff", "targets/ian", "targets/jeff/ci"},
		map[string]map[string]string{
			"targets/releases": {"v1": "image v1", "v2": "image v2"},
			"targets/jeff":     {"v1": "image v1", "v2": "image v2"},
			"targets/ian":      {"v1": "image v1", "v2": "ian's v2", "dev": "image dev"},
			// Unreleased, and the two signers disagree: no released tag is in
			// question, so no badge and no count.
			"targets/jeff/ci": {"dev": "ci's dev"},
		})
	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)

	_, page := b.Get("/repositories/prod/app")
	rows := map[string]string{}
	for _, row := range strings.Split(sectionOf(page, "signed-tags"), "<tr")[1:] {
		if m := regexp.MustCompile(`tags\?tag=([^"]+)"`).FindStringSubmatch(row); m != nil {
			rows[m[1]] = row
		}
	}
	if !strings.Contains(rows["v2"], `class="status warnc disagree" href="/repositories/prod/app/tags?tag=v2"`) {
		t.Errorf("v2's row has no 'roles disagree' badge linked to its tag view: %s", rows["v2"])
	}
	if strings.Contains(rows["v1"], "disagree") {
		t.Errorf("v1's roles agree, yet its row says they disagree: %s", rows["v1"])
	}
	summary := sectionOf(page, "summary")
	if !strings.Contains(summary, `<a href="#signed-tags">1 tag has roles that disagree on its digest`) {
		t.Errorf("the summary does not count the tag whose roles disagree: %s", summary)
	}

	resp, tag := b.Get("/repositories/prod/app/tags?tag=v2")
	pull := sectionOf(tag, "pull")
	if resp.StatusCode != http.StatusOK || !strings.Contains(pull, `title="sha256:`+sha256Hex("image v2")+`"`) ||
		!strings.Contains(pull, "the digest in <code>targets/releases</code>") ||
		!strings.Contains(pull, "not pulled by docker") {
		t.Errorf("v2: %d, the pull section does not say docker pulls the released digest: %s", resp.StatusCode, pull)
	}
	cmd := "docker pull " + gun + "@sha256:" + sha256Hex("image v2")
	if !strings.Contains(pull, `<code id="pull-command">`+cmd+`</code>`) || !strings.Contains(pull, `data-copy="`+cmd+`"`) {
		t.Errorf("no pull command by digest to copy (%q): %s", cmd, pull)
	}
	for role, signer := range map[string]string{"targets/jeff": "jeff", "targets/ian": "ian"} {
		row := sectionBetween(tag, "<td><code>"+role+"</code>", "</tr>")
		if !strings.Contains(row, `<td data-label="Signed by">`+signer+`</td>`) {
			t.Errorf("%s's row does not name its signer %s: %s", role, signer, row)
		}
	}
	if row := sectionBetween(tag, "<td><code>targets/releases</code>", "</tr>"); !strings.Contains(row, "docker pulls this") {
		t.Errorf("the released row is not marked as the one docker pulls: %s", row)
	}

	// A tag only a signer's role holds: docker pulls nothing, and says why.
	_, tag = b.Get("/repositories/prod/app/tags?tag=dev")
	if pull := sectionOf(tag, "pull"); !strings.Contains(pull, `id="not-pulled"`) || strings.Contains(pull, "pull-command") ||
		!strings.Contains(pull, "docker uses no other role") {
		t.Errorf("dev (only in targets/ian): %s", pull)
	}
	noServerErrors(t, s)
}

// The revoke preview counts first what leaves with the signer's role,
// unreleased tags included, and collapses a long list.
func TestRevokePreviewCountsUnreleasedTags(t *testing.T) {
	s := testserver.Start(t)
	jeff := map[string]string{"v1": "image v1"}
	for i := range 10 {
		jeff["dev"+strconv.Itoa(i)] = "dev image " + strconv.Itoa(i)
	}
	fixtureRepo(t, s, "prod", "app", []string{"targets/releases", "targets/jeff", "targets/ian"},
		map[string]map[string]string{"targets/releases": {"v1": "image v1"}, "targets/jeff": jeff, "targets/ian": {"v1": "image v1", "dev0": "dev image 0"}})
	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	resp, page := b.Get("/repositories/prod/app/signers/jeff/revoke")
	impact := sectionBetween(page, `id="impact"`, "</form>")
	if resp.StatusCode != http.StatusOK || !strings.Contains(impact, "<strong>Revoking jeff removes 9 unreleased tags and 0 released tags.</strong>") {
		t.Fatalf("%d, the impact does not count the 9 unreleased tags only jeff signed (dev0 is ian's too): %s", resp.StatusCode, impact)
	}
	details := sectionBetween(impact, `<details id="removed-unreleased"`, "</details>")
	if strings.HasPrefix(details, " open") || strings.Count(details, "<li>") != 9 || strings.Contains(details, ">dev0<") {
		t.Errorf("the 9 tags should be listed, collapsed, without dev0: %s", details)
	}
	if strings.Contains(impact, "No released tag depends") || !strings.Contains(impact, "Released tags jeff signed that stay released") {
		t.Errorf("the impact should say v1 stays released: %s", impact)
	}
	noServerErrors(t, s)
}

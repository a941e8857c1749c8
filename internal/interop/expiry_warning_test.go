package interop

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/testnotary"
)

// TestListExpiryWarning: the repository list says how many of the viewer's
// repositories have expired trust data (docker refuses it) or trust data
// that expires within 30 days, counted over the namespaces they may read,
// and links to them.
func TestListExpiryWarning(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	day := 24 * time.Hour
	at := func(d time.Duration) time.Time { return time.Now().Add(d).UTC().Truncate(time.Second) }
	for _, r := range []struct {
		ns, name string
		expires  time.Time
	}{
		{"prod", "old", at(-2 * day)},  // expired
		{"prod", "soon", at(10 * day)}, // expiring
		{"prod", "fine", at(400 * day)},
		{"dev", "old", at(-5 * day)}, // expired, not readable by reader
	} {
		// The trust data is stored first, so that the summary computed when
		// the repository is created sees it.
		exStore(t, w, testnotary.Fixture{GUN: w.gun(r.ns, r.name),
			Expires: map[string]time.Time{"targets": r.expires},
			Targets: map[string]map[string]string{"targets": {"v1": "content of " + r.name}}})
		w.s.MustCreateRepo(t, r.ns, r.name)
	}
	waitFor(t, "every summary to be computed", 20*time.Second, func() (bool, string) {
		list := w.listed(admin, "")
		for _, r := range list {
			if r.Trust == nil {
				return false, r.GUN
			}
		}
		return len(list) == 4, ""
	})

	const link = `href="/repositories?filter=expiring&amp;sort=expiry"`
	for _, c := range []struct {
		who  account
		want string // "" for no warning
	}{
		{admin, "2 repositories have expired trust data, which docker refuses; 1 more expires within 30 days."},
		{reader, "1 repository has expired trust data, which docker refuses; 1 more expires within 30 days."},
		{outsider, ""},
	} {
		b := w.s.NewBrowser(t)
		b.Login(c.who.name, c.who.pass)
		resp, page := b.Get("/repositories")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("list as %s: %d", c.who.name, resp.StatusCode)
		}
		has := strings.Contains(page, `id="expiry-warning"`)
		switch {
		case c.want == "" && has:
			t.Errorf("%s sees an expiry warning:\n%.2000s", c.who.name, page)
		case c.want != "" && (!strings.Contains(page, c.want) || !strings.Contains(page, link)):
			t.Errorf("%s: the list does not say %q with a link to the expiring repositories:\n%.3000s", c.who.name, c.want, page)
		}
		if c.want != "" {
			// The filtered list shows just those: no warning there.
			_, page := b.Get("/repositories?filter=expiring&sort=expiry")
			if strings.Contains(page, `id="expiry-warning"`) || !strings.Contains(page, "/repositories/prod/old") ||
				!strings.Contains(page, "/repositories/prod/soon") || strings.Contains(page, "/repositories/prod/fine") {
				t.Errorf("%s: the expiring list is not the expired and expiring repositories alone:\n%.3000s", c.who.name, page)
			}
		}
	}
}

// TestRootResignWarning: within six months of root's expiry, the repository
// page says that changes need the root key and how to rotate it.
func TestRootResignWarning(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	rootExpiry := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	exStore(t, w, testnotary.Fixture{GUN: w.gun("prod", "aging"),
		Expires: map[string]time.Time{"root": rootExpiry},
		Targets: map[string]map[string]string{"targets": {"v1": "content"}}})
	exStore(t, w, testnotary.Fixture{GUN: w.gun("prod", "young"),
		Targets: map[string]map[string]string{"targets": {"v1": "content"}}})
	w.s.MustCreateRepo(t, "prod", "aging")
	w.s.MustCreateRepo(t, "prod", "young")
	b := w.s.NewBrowser(t)
	b.Login(reader.name, reader.pass)
	_, page := b.Get("/repositories/prod/aging")
	if !strings.Contains(page, `id="root-resign"`) || !strings.Contains(page, "notary key rotate "+w.gun("prod", "aging")+" root") {
		t.Errorf("the page of a repository whose root expires in 90 days does not warn:\n%.4000s", page)
	}
	if _, page := b.Get("/repositories/prod/young"); strings.Contains(page, `id="root-resign"`) {
		t.Errorf("the page of a repository whose root expires in a year warns about root")
	}
}

package handlers_test

import (
	"html"
	"net/http"
	"strings"
	"testing"
)

// The removal wizard tells the truth about client caches: clients that
// pulled keep resolving until their cached timestamp expires, clients that
// signed must clear their cache before they can initialise again.
func TestRemovalWizardTellsTheTruthAboutClientCaches(t *testing.T) {
	s, b := initialised(t)
	gun := s.Addr + "/prod/app"
	resp, page := b.Get("/repositories/prod/app/delete")
	caches := html.UnescapeString(sectionBetween(page, `id="client-caches"`, "</div>"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("wizard: %d", resp.StatusCode)
	}
	for _, says := range []string{"keeps resolving the old signed digests from its cached timestamp", "14 days by default",
		"the current one expires 20", "<code>notary delete " + gun + "</code> (without <code>--remote</code>)",
		"<code>~/.docker/trust/tuf/" + gun + "</code>"} {
		if !strings.Contains(caches, says) {
			t.Errorf("the wizard should say %q: %s", says, caches)
		}
	}
	if strings.Contains(page, "can no longer pull") {
		t.Error("the wizard still claims docker clients can no longer pull the tags")
	}
	noServerErrors(t, s)
}

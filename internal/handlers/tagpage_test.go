package handlers_test

import (
	"net/http"
	"strings"
	"testing"
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

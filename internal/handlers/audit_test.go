package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// auditRows are the audit page's rows, as text.
func auditRows(body string) []string {
	_, tbody, _ := strings.Cut(body, "<tbody>")
	tbody, _, _ = strings.Cut(tbody, "</tbody>")
	var rows []string
	for _, tr := range strings.Split(tbody, "<tr>")[1:] {
		rows = append(rows, tr)
	}
	return rows
}

func TestAuditPageSaysWhatHappenedAndFilters(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateUser(t, "nina", userPassword, "prod", "admin")
	nina := s.NewBrowser(t)
	nina.Login("nina", userPassword)
	for _, name := range []string{"app", "gone"} {
		if resp, _ := nina.PostForm("/repositories", url.Values{"namespace": {"prod"}, "name": {name}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("create prod/%s: %d", name, resp.StatusCode)
		}
	}
	if resp, body := s.API(t, "admin", testserver.AdminPassword, "DELETE", "/api/v1/repositories/prod/gone", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete prod/gone: %d %s", resp.StatusCode, body)
	}
	admin := s.NewBrowser(t)
	admin.Login("admin", testserver.AdminPassword)

	_, body := admin.Get("/audit?action=repository.create&actor=nina")
	rows := auditRows(body)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want nina's two creations:\n%s", len(rows), strings.Join(rows, "\n"))
	}
	for _, r := range rows {
		if !strings.Contains(r, "created the repository") || !strings.Contains(r, "<td>nina</td>") {
			t.Errorf("a row should say nina created the repository: %s", r)
		}
	}
	if !strings.Contains(rows[1], `<a href="/repositories/prod/app" title="`+s.Addr+`/prod/app">prod/app</a>`) {
		t.Errorf("the row of prod/app should link to it: %s", rows[1])
	}
	if strings.Contains(rows[0], "<a href") {
		t.Errorf("the row of the deleted prod/gone should link nowhere: %s", rows[0])
	}
	if !strings.Contains(body, `<option value="repository.create" selected>`) || !strings.Contains(body, `value="nina"`) {
		t.Error("the filters are not kept in the form")
	}

	// A family of actions, days, and what is refused.
	if _, body = admin.Get("/audit?action=user."); len(auditRows(body)) != 1 || !strings.Contains(body, "created an account: user nina") {
		t.Errorf("user.* events: %v", auditRows(body))
	}
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	today := time.Now().UTC().Format(time.DateOnly)
	if _, body = admin.Get("/audit?from=" + tomorrow); len(auditRows(body)) != 0 || !strings.Contains(body, "No event matches these filters") {
		t.Errorf("events from tomorrow: %d rows", len(auditRows(body)))
	}
	if _, body = admin.Get("/audit?from=" + today + "&to=" + today); len(auditRows(body)) < 4 {
		t.Errorf("today's events: %d rows, want every one", len(auditRows(body)))
	}
	for _, bad := range []string{"action=bogus", "action=trust.update.x.", "from=2026-13-01", "to=yesterday", "actor=" + strings.Repeat("a", 300)} {
		resp, body := admin.Get("/audit?" + bad)
		if alert, _ := alertText(body); resp.StatusCode != http.StatusBadRequest || alert == "" {
			t.Errorf("%s: %d %q, want 400 with an alert", bad, resp.StatusCode, alert)
		}
	}
	// A namespace admin's filters stay inside their namespaces.
	if _, body = nina.Get("/audit?action=user."); len(auditRows(body)) != 0 {
		t.Errorf("nina sees account events: %v", auditRows(body))
	}
	noServerErrors(t, s)
}

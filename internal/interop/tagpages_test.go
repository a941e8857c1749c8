package interop

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestRepositoryPageTagPages: a repository with more signed tags than a page
// holds lists them a page at a time, with counts under filters, links that
// keep the filters, and docker's pretty output behind a link instead of
// inline.
func TestRepositoryPageTagPages(t *testing.T) {
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "many")
	gun := w.gun("prod", "many")
	buildBigRepository(t, w.s, gun, 230, 3)

	br := w.s.NewBrowser(t)
	br.Login(reader.name, reader.pass)
	rowRe := regexp.MustCompile(`<td class="tagname"><a href="[^"]*">([^<]+)</a>`)
	rows := func(body string) []string {
		var out []string
		for _, m := range rowRe.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	get := func(path string) string {
		t.Helper()
		resp, body := br.Get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %.300s", path, resp.StatusCode, body)
		}
		return body
	}

	body := get("/repositories/prod/many")
	got := rows(body)
	if len(got) != 100 || got[0] != "v0" || got[99] != "v99" {
		t.Fatalf("page 1 lists %d rows (%v…), want v0…v99", len(got), got[:min(3, len(got))])
	}
	for _, want := range []string{"Tags 1–100 of 230", "page 1 of 3", `rel="next"`, "open the full output",
		"/api/v1/trust/inspect?pretty=1&amp;ref="} {
		if !strings.Contains(body, want) {
			t.Errorf("page 1 lacks %q", want)
		}
	}
	if strings.Contains(body, `class="pretty"`) {
		t.Error("page 1 holds the pretty output of 230 tags inline")
	}

	body = get("/repositories/prod/many?page=3")
	if got := rows(body); len(got) != 30 || got[0] != "v200" || got[29] != "v229" {
		t.Fatalf("page 3 lists %d rows (%v), want v200…v229", len(got), got)
	}
	if !strings.Contains(body, `rel="prev"`) || strings.Contains(body, `rel="next"`) {
		t.Error("page 3 (the last) should link back and not on")
	}

	// A filter counts what it keeps; the pages keep the filter and the order.
	body = get("/repositories/prod/many?tag=v1&sort=-tag")
	got = rows(body)
	// v1, v10…v19, v100…v199: 111 tags, in reverse natural order.
	if len(got) != 100 || got[0] != "v199" {
		t.Fatalf("filtered page 1 lists %d rows starting %v, want 100 from v199", len(got), got[:min(3, len(got))])
	}
	if !strings.Contains(body, "Tags 1–100 of 111 matching (of 230 signed tags)") {
		t.Errorf("filtered page lacks its counts: %s", excerpt(body, "Tags 1"))
	}
	if !strings.Contains(body, `href="/repositories/prod/many?page=2&amp;sort=-tag&amp;tag=v1#signed-tags"`) {
		t.Errorf("the next link does not keep the filter and order: %s", excerpt(body, `rel="next"`))
	}
	if got := rows(get("/repositories/prod/many?tag=v1&sort=-tag&page=2")); len(got) != 11 || got[10] != "v1" {
		t.Errorf("filtered page 2 lists %v, want 11 rows ending with v1", got)
	}

	// Past the last page: the last page (a link from before tags were removed).
	if got := rows(get("/repositories/prod/many?page=9")); len(got) != 30 {
		t.Errorf("page 9 of 3 lists %d rows, want the last page's 30", len(got))
	}
	for _, bad := range []string{"0", "-1", "x", "99999999999"} {
		resp, body := br.Get("/repositories/prod/many?page=" + bad)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("page=%s: %d, want 400 (%.200s)", bad, resp.StatusCode, body)
		}
	}
}

// excerpt is the part of body around the first s (for failure messages).
func excerpt(body, s string) string {
	i := strings.Index(body, s)
	if i < 0 {
		return "(absent)"
	}
	return body[max(0, i-200):min(len(body), i+200)]
}

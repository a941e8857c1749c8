package interop

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkRegistry5000 (run it with -benchtime 1x: seeding 5,000 tags
// takes half a minute per iteration) measures, against Debian's docker-registry with
// token auth through trustdeck (no notifications, so that nothing reads the
// repository before the measurement):
//
//   - first-sync: from the first GET /api/v1/repositories/prod/big/tags of
//     a repository of 5,000 tags trustdeck never read (every tag listed and
//     resolved with a HEAD, 16 at a time) until the API lists them all;
//   - page-warm: the repository page of that repository with a session
//     (the first 100 of 5,000 tags, their states from the store).
func BenchmarkRegistry5000(b *testing.B) {
	w, r := registryWorldB(b)
	writer := r.Client(admin.name, admin.pass)
	img := writer.PushImage(b, "prod/big", "t0")
	tags := make([]string, 0, 4999)
	for i := 1; i < 5000; i++ {
		tags = append(tags, fmt.Sprintf("t%d", i))
	}
	start := time.Now()
	writer.Tag(b, "prod/big", img, tags...)
	b.Logf("seeded 5,000 tags in %s", time.Since(start).Round(time.Millisecond))

	b.Run("first-sync", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			name := fmt.Sprintf("big%d", i)
			if i > 0 { // the same number of tags under another name: a repository never read
				more := writer.PushImage(b, "prod/"+name, "t0")
				writer.Tag(b, "prod/"+name, more, tags...)
			} else {
				name = "big"
			}
			w.s.MustCreateRepo(b, "prod", name)
			b.StartTimer()
			readAll(b, w, name)
		}
	})
	b.Run("page-warm", func(b *testing.B) {
		if resp, _ := w.s.API(b, admin.name, admin.pass, http.MethodGet, "/api/v1/repositories/prod/big", nil); resp.StatusCode == http.StatusNotFound {
			w.s.MustCreateRepo(b, "prod", "big") // first-sync did not run
		}
		readAll(b, w, "big")
		br := w.s.NewBrowser(b)
		br.Login(reader.name, reader.pass)
		var body string
		for b.Loop() {
			_, body = br.Get("/repositories/prod/big")
		}
		if !strings.Contains(body, "Tags 1–100 of 5000") {
			b.Fatalf("the page does not list 100 of 5,000 tags: %.300s", excerpt(body, "Tags 1"))
		}
	})
}

// readAll asks for prod/name's tags until the API lists all 5,000: the
// first read answers within 10 s or says it goes on in the background.
func readAll(b *testing.B, w *world, name string) {
	for {
		resp, body := w.s.API(b, admin.name, admin.pass, http.MethodGet, "/api/v1/repositories/prod/"+name+"/tags", nil)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET prod/%s tags: %d %.300s", name, resp.StatusCode, body)
		}
		if strings.Count(body, `"state":"unsigned"`) == 5000 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package interop

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// freshReads reads one GUN's trust data through every path a user or client
// has, as reader: the Notary API (targets.json and targets/releases.json
// with a pull token), the inspect API and the repository page.
type freshReads struct {
	t     *testing.T
	w     *world
	gun   string
	token string
	hc    *http.Client
	br    *testserver.Browser
}

func newFreshReads(t *testing.T, w *world, gun string) *freshReads {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: w.s.TLSConfig()}}
	tok, err := fetchToken(hc, w.s.URL, reader, "repository:"+gun+":pull")
	if err != nil {
		t.Fatal(err)
	}
	br := w.s.NewBrowser(t)
	br.Login(reader.name, reader.pass)
	return &freshReads{t: t, w: w, gun: gun, token: tok, hc: hc, br: br}
}

// get returns the status and body of GET path.
func (f *freshReads) get(c *http.Client, path, bearer string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, f.w.s.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// check reads every path and reports, per path, what is wrong: a tag of want
// missing, a tag of gone present, or (want empty) trust data where there is
// none.
func (f *freshReads) check(want, gone []string) []string {
	var wrong []string
	has := func(path, body string, quoted bool) {
		for _, tag := range want {
			if !strings.Contains(body, mark(tag, quoted)) {
				wrong = append(wrong, fmt.Sprintf("%s lacks %s", path, tag))
			}
		}
		for _, tag := range gone {
			if strings.Contains(body, mark(tag, quoted)) {
				wrong = append(wrong, fmt.Sprintf("%s still shows %s", path, tag))
			}
		}
	}
	tuf := "/v2/" + f.gun + "/_trust/tuf/"
	targets := ""
	for _, role := range []string{"targets", "targets/releases"} {
		status, body := f.get(f.hc, tuf+role+".json", f.token)
		switch {
		case status == http.StatusOK:
			targets += body
		case status != http.StatusNotFound:
			wrong = append(wrong, fmt.Sprintf("GET %s.json: %d", role, status))
		}
	}
	if status, _ := f.get(f.hc, tuf+"timestamp.json", f.token); (status == http.StatusOK) != (len(want) > 0) {
		wrong = append(wrong, fmt.Sprintf("GET timestamp.json: %d", status))
	}
	has("Notary GET", targets, true)

	inspect := "/api/v1/trust/inspect?" + url.Values{"ref": {f.gun}}.Encode()
	status, body := f.get(f.br.C, inspect, "")
	if (status == http.StatusOK) != (len(want) > 0) {
		wrong = append(wrong, fmt.Sprintf("inspect API: %d", status))
	}
	has("inspect API", body, true)

	_, name, _ := strings.Cut(strings.TrimPrefix(f.gun, f.w.host+"/"), "/")
	status, body = f.get(f.br.C, "/repositories/prod/"+name, "")
	if status != http.StatusOK {
		wrong = append(wrong, fmt.Sprintf("repository page: %d", status))
	}
	has("repository page", body, false)
	return wrong
}

// mark is how a tag appears in JSON (quoted) or in the page (an element's text).
func mark(tag string, quoted bool) string {
	if quoted {
		return `"` + tag + `"`
	}
	return ">" + tag + "<"
}

// addTag signs tag into role and publishes.
func addTag(t *testing.T, repo client.Repository, tag string, role data.RoleName) {
	sum := sha256.Sum256([]byte(tag))
	target := &client.Target{Name: tag, Hashes: data.Hashes{"sha256": sum[:]}, Length: int64(len(tag))}
	if err := repo.AddTarget(target, role); err != nil {
		t.Error(err)
		return
	}
	if err := repo.Publish(); err != nil {
		t.Errorf("publish %s: %v", tag, err)
	}
}

// TestReadsAreNeverStale: trustdeck answers Notary GETs, inspections and the
// repository page from memory; whatever was just published, deleted or
// created again is what the very next read of every path shows, also while
// two clients publish at once.
func TestReadsAreNeverStale(t *testing.T) {
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "fresh")
	gun := w.gun("prod", "fresh")
	reads := newFreshReads(t, w, gun)
	expect := func(when string, want, gone []string) {
		t.Helper()
		if wrong := reads.check(want, gone); len(wrong) > 0 {
			t.Fatalf("%s:\n%s", when, strings.Join(wrong, "\n"))
		}
	}

	expect("before any trust data", nil, []string{"first"})
	repo := benchRepository(t, w.s, gun)
	addTag(t, repo, "first", data.CanonicalTargetsRole)
	expect("after the first publish", []string{"first"}, nil)
	addTag(t, repo, "second", data.CanonicalTargetsRole)
	expect("after the second publish", []string{"first", "second"}, nil)

	// Deleted (trust data, then the catalog entry), created again, signed anew.
	resp, body := w.s.API(t, admin.name, admin.pass, http.MethodDelete, "/api/v1/repositories/prod/fresh/trust",
		map[string]any{"confirm": "prod/fresh"})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete trust data: %d %s", resp.StatusCode, body)
	}
	expect("after the deletion", nil, []string{"first", "second"})
	stray, _ := initialisedRepo(t, w.s, gun, jeff) // admitted: the repository exists
	if resp, body := w.s.API(t, admin.name, admin.pass, http.MethodDelete, "/api/v1/repositories/prod/fresh", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete repository: %d %s", resp.StatusCode, body)
	}
	if err := stray.Publish(); err == nil {
		t.Fatal("a publish to a removed repository was accepted")
	}
	w.s.MustCreateRepo(t, "prod", "fresh")
	again := benchRepository(t, w.s, gun)
	addTag(t, again, "third", data.CanonicalTargetsRole)
	expect("after re-creation", []string{"third"}, []string{"first", "second"})

	// Two clients publish at once (the repository key into targets, ian's
	// key into targets/releases) while readers read every path: a read that
	// starts after a publish returned shows its tag.
	ianRepo, ianKeys := clientRepo(t, w.s, gun, ian, nil)
	ianKey, err := ianKeys.Create("targets/releases", data.GUN(gun), data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.AddDelegation("targets/releases", []data.PublicKey{ianKey}, []string{""}); err != nil {
		t.Fatal(err)
	}
	if err := again.Publish(); err != nil {
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		published = []string{"third"}
		writers   sync.WaitGroup
		readers   sync.WaitGroup
		done      = make(chan struct{})
	)
	const rounds = 4
	for _, wr := range []struct {
		repo   client.Repository
		role   data.RoleName
		prefix string
	}{{again, data.CanonicalTargetsRole, "admin"}, {ianRepo, "targets/releases", "ian"}} {
		writers.Go(func() {
			for i := range rounds {
				tag := fmt.Sprintf("%s-%d", wr.prefix, i)
				addTag(t, wr.repo, tag, wr.role)
				mu.Lock()
				published = append(published, tag)
				mu.Unlock()
			}
		})
	}
	for range 2 {
		readers.Go(func() {
			r := newFreshReads(t, w, gun)
			for {
				select {
				case <-done:
					return
				default:
				}
				mu.Lock()
				want := append([]string(nil), published...)
				mu.Unlock()
				if wrong := r.check(want, nil); len(wrong) > 0 {
					t.Errorf("during concurrent publishes:\n%s", strings.Join(wrong, "\n"))
					return
				}
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	expect("after the concurrent publishes", published, []string{"first", "second"})
}

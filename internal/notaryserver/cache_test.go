package notaryserver

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/httpenc"
	"github.com/trustdeck/trustdeck/internal/testnotary"
)

// countingStore counts the reads of metadata.
type countingStore struct {
	*storage.MemStorage
	reads atomic.Int64
}

func (s *countingStore) GetCurrent(gun data.GUN, role data.RoleName) (*time.Time, []byte, error) {
	s.reads.Add(1)
	return s.MemStorage.GetCurrent(gun, role)
}

func (s *countingStore) GetChecksum(gun data.GUN, role data.RoleName, sum string) (*time.Time, []byte, error) {
	s.reads.Add(1)
	return s.MemStorage.GetChecksum(gun, role, sum)
}

func (s *countingStore) GetVersion(gun data.GUN, role data.RoleName, v int) (*time.Time, []byte, error) {
	s.reads.Add(1)
	return s.MemStorage.GetVersion(gun, role, v)
}

// get GETs a metadata file of gun and returns its status, body and ETag.
func (e *testEnv) get(gun, name string, header ...string) (int, []byte, string) {
	e.t.Helper()
	resp := e.do(http.MethodGet, "/v2/"+gun+"/_trust/tuf/"+name+".json", nil, header...)
	return resp.StatusCode, readBody(e.t, resp), resp.Header.Get("ETag")
}

func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// TestMetadataFromMemory: a metadata file is read from the store once; later
// GETs are answered from memory, with the same bytes and headers, an ETag,
// and 304 for a client that has them; compressed for a client that accepts
// gzip.
func TestMetadataFromMemory(t *testing.T) {
	st := &countingStore{MemStorage: storage.NewMemStorage()}
	e := newTestEnv(t, func(c *Config) { c.Store = st })
	e.store = st.MemStorage
	const gun = "example.com/cached"
	admin, adminKeys := e.initRepo(gun)
	e.addDelegation(admin, "targets/releases", adminKeys)
	e.addTarget(admin, "targets/releases", "v1", "one")
	snapshot := sha256.Sum256(e.current(gun, "snapshot"))

	names := []string{"timestamp", "snapshot", "targets", "targets/releases", "root",
		"snapshot." + hex.EncodeToString(snapshot[:]), "1.root"}
	first := map[string][]byte{}
	headers := map[string]http.Header{}
	identity := []string{"Accept-Encoding", "identity"} // Go's client would ask for gzip
	for _, name := range names {
		resp := e.do(http.MethodGet, "/v2/"+gun+"/_trust/tuf/"+name+".json", nil, identity...)
		first[name] = readBody(t, resp)
		headers[name] = resp.Header
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", name, resp.StatusCode)
		}
	}
	reads := st.reads.Load()
	for _, name := range names {
		resp := e.do(http.MethodGet, "/v2/"+gun+"/_trust/tuf/"+name+".json", nil, identity...)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || string(body) != string(first[name]) {
			t.Errorf("GET %s again: %d, the same bytes: %v", name, resp.StatusCode, string(body) == string(first[name]))
		}
		for _, h := range []string{"Content-Type", "Cache-Control", "Last-Modified"} {
			if got, want := resp.Header.Get(h), headers[name].Get(h); got != want || want == "" {
				t.Errorf("GET %s again: %s %q, first %q", name, h, got, want)
			}
		}
		if got := resp.Header.Get("ETag"); got != etagOf(body) {
			t.Errorf("GET %s: ETag %q, want %q", name, got, etagOf(body))
		}
		status, notModified, _ := e.get(gun, name, "If-None-Match", etagOf(body), identity[0], identity[1])
		if status != http.StatusNotModified || len(notModified) != 0 {
			t.Errorf("GET %s with its ETag: %d %q, want 304 without a body", name, status, notModified)
		}

		// Compressed: the same bytes, another ETag.
		resp = e.do(http.MethodGet, "/v2/"+gun+"/_trust/tuf/"+name+".json", nil, "Accept-Encoding", "br, gzip;q=0.8")
		gz := readBody(t, resp)
		if len(body) < httpenc.MinGzip {
			if resp.Header.Get("Content-Encoding") != "" || string(gz) != string(body) {
				t.Errorf("GET %s (%d bytes) was compressed", name, len(body))
			}
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("GET %s accepting gzip: %v, Content-Encoding %q, Vary %q", name, err, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
		}
		plain, err := io.ReadAll(zr)
		if err != nil || string(plain) != string(body) || len(gz) >= len(body) {
			t.Errorf("GET %s accepting gzip: %d compressed bytes of %d, the same: %v (%v)", name, len(gz), len(body), string(plain) == string(body), err)
		}
		gzTag := resp.Header.Get("ETag")
		if gzTag == etagOf(body) || gzTag == "" {
			t.Errorf("GET %s accepting gzip: ETag %q, want one of its own", name, gzTag)
		}
		if status, _, _ := e.get(gun, name, "If-None-Match", gzTag, "Accept-Encoding", "gzip"); status != http.StatusNotModified {
			t.Errorf("GET %s accepting gzip, with its ETag: %d, want 304", name, status)
		}
		if status, _, _ := e.get(gun, name, "Accept-Encoding", "gzip;q=0", "If-None-Match", gzTag); status != http.StatusOK {
			t.Errorf("GET %s refusing gzip with the compressed ETag: %d, want 200", name, status)
		}
	}
	if n := st.reads.Load() - reads; n != 0 {
		t.Errorf("answering from memory read the store %d times", n)
	}
	if status, _, _ := e.get(gun, "timestamp", "If-None-Match", `"other"`, identity[0], identity[1]); status != http.StatusOK {
		t.Errorf("GET with another ETag: %d, want 200", status)
	}
}

// TestMetadataCacheFollowsWrites: after an update, a deletion and a
// re-creation, the very next GET of every file answers the new state.
func TestMetadataCacheFollowsWrites(t *testing.T) {
	e := newTestEnv(t)
	const gun = "example.com/changing"
	names := []string{"root", "targets", "snapshot", "timestamp", "targets/releases"}
	readAll := func() map[string][]byte {
		out := map[string][]byte{}
		for _, name := range names {
			status, body, _ := e.get(gun, name)
			if status == http.StatusOK {
				out[name] = body
			}
		}
		return out
	}
	same := func(when string) {
		t.Helper()
		got := readAll()
		for _, name := range names {
			if string(got[name]) != string(e.current(gun, name)) {
				t.Errorf("%s: GET %s does not answer what is stored", when, name)
			}
		}
	}

	admin, adminKeys := e.initRepo(gun)
	e.addDelegation(admin, "targets/releases", adminKeys)
	readAll()
	e.addTarget(admin, "targets/releases", "v1", "one")
	same("after an update")
	readAll()
	e.addTarget(admin, "targets", "v2", "two")
	same("after a second update")

	if resp := e.do(http.MethodDelete, "/v2/"+gun+"/_trust/tuf/", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if got := readAll(); len(got) != 0 {
		t.Errorf("after the deletion, GETs still answer %d files", len(got))
	}
	again, _ := e.initRepo(gun)
	e.addTarget(again, "targets", "v3", "three")
	same("after re-creation")
	if !strings.Contains(string(readAll()["targets"]), `"v3"`) || strings.Contains(string(readAll()["targets"]), `"v2"`) {
		t.Error("targets after re-creation is not the new one")
	}
}

// TestMetadataCacheUnderConcurrentPublishes: while two clients publish to
// one GUN, readers never see a timestamp older than one that was already
// published, and once the publishers are done every GET answers what is
// stored.
func TestMetadataCacheUnderConcurrentPublishes(t *testing.T) {
	e := newTestEnv(t)
	const gun = "example.com/busy-cache"
	admin, adminKeys := e.initRepo(gun)
	jeffKeys := newClientCrypto()
	e.addDelegation(admin, "targets/releases", adminKeys)
	e.addDelegation(admin, "targets/jeff", jeffKeys)
	jeff := e.repo(gun, jeffKeys)

	version := func(b []byte) int {
		var m struct {
			Signed struct{ Version int } `json:"signed"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("timestamp: %v", err)
		}
		return m.Signed.Version
	}
	var published atomic.Int64 // highest timestamp version a publish returned with
	publishedVersion := func() {
		if v := int64(version(e.current(gun, "timestamp"))); v > published.Load() {
			published.Store(v) // racy max is enough: it only ever lags
		}
	}

	const rounds = 4
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				floor := published.Load()
				_, body, _ := e.get(gun, "timestamp")
				if v := int64(version(body)); v < floor {
					t.Errorf("a reader saw timestamp v%d after v%d was published", v, floor)
				}
				e.get(gun, "targets/releases")
				e.get(gun, "snapshot")
			}
		})
	}
	var pub sync.WaitGroup
	for _, p := range []struct {
		repo         client.Repository
		role, prefix string
	}{{admin, "targets/releases", "r"}, {jeff, "targets/jeff", "j"}} {
		pub.Go(func() {
			for i := range rounds {
				e.addTarget(p.repo, p.role, fmt.Sprint(p.prefix, i), fmt.Sprint(p.prefix, i))
				publishedVersion()
			}
		})
	}
	pub.Wait()
	close(done)
	wg.Wait()
	for _, name := range []string{"timestamp", "snapshot", "targets", "targets/releases", "targets/jeff"} {
		if _, body, _ := e.get(gun, name); string(body) != string(e.current(gun, name)) {
			t.Errorf("after the publishes, GET %s does not answer what is stored", name)
		}
	}
}

// TestServerSignedFilesKeptUntilExpiry: a cached timestamp is kept no
// longer than it or the snapshot it names is valid (the next GET then signs
// anew); other files until they are replaced.
func TestServerSignedFilesKeptUntilExpiry(t *testing.T) {
	e := newTestEnv(t)
	const gun = "example.com/expiring"
	snapshotExpiry := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	timestampExpiry := time.Now().Add(5 * time.Hour).UTC().Truncate(time.Second)
	built, err := testnotary.Fixture{GUN: gun,
		Expires: map[string]time.Time{"snapshot": snapshotExpiry, "timestamp": timestampExpiry},
		Targets: map[string]map[string]string{"targets": {"v1": "one"}}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.UpdateMany(data.GUN(gun), built.Updates()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"timestamp", "snapshot", "targets"} {
		if status, _, _ := e.get(gun, name); status != http.StatusOK {
			t.Fatalf("GET %s: %d", name, status)
		}
	}
	s := e.srv.Config.Handler.(*server)
	for _, c := range []struct {
		name  string
		until time.Time
	}{{"timestamp", snapshotExpiry}, {"snapshot", snapshotExpiry}, {"targets", time.Time{}}} {
		f := s.cache.get(gun, c.name, time.Now())
		if f == nil {
			t.Fatalf("%s is not cached", c.name)
		}
		if !f.until.Equal(c.until) {
			t.Errorf("%s cached until %s, want %s", c.name, f.until, c.until)
		}
		if c.until.IsZero() {
			continue
		}
		if s.cache.get(gun, c.name, c.until) != nil {
			t.Errorf("%s still answered from memory once expired", c.name)
		}
	}
}

// TestMetadataCacheBounded: the cache holds at most its budget, however many
// GUNs are read.
func TestMetadataCacheBounded(t *testing.T) {
	const budget = 64 << 10
	e := newTestEnv(t, func(c *Config) { c.MetadataCacheBytes = budget })
	for i := range 12 {
		gun := fmt.Sprintf("example.com/many%d", i)
		e.initRepo(gun)
		for _, name := range []string{"root", "targets", "snapshot", "timestamp"} {
			if status, _, _ := e.get(gun, name); status != http.StatusOK {
				t.Fatalf("GET %s of %s: %d", name, gun, status)
			}
		}
	}
	c := e.srv.Config.Handler.(*server).cache
	if cost := c.files.Cost(); cost > budget || cost == 0 {
		t.Errorf("the cache holds %d bytes, budget %d", cost, budget)
	}
	if n := c.files.Len(); n >= 12 {
		t.Errorf("all %d GUNs are cached within %d bytes", n, budget)
	}
}

// TestCacheDropsFillsThatRacedAWrite: a file read from the store before a
// write to its GUN is not cached once the write invalidated the GUN.
func TestCacheDropsFillsThatRacedAWrite(t *testing.T) {
	c := newMetaCache(1 << 20)
	old := newCachedFile([]byte(`{"old":1}`), http.Header{}, true)
	token := c.fillToken("g") // a GET begins reading the store
	c.invalidate("g")         // an update lands meanwhile
	c.add("g", "targets", old, token)
	if c.get("g", "targets", time.Now()) != nil {
		t.Fatal("a fill that began before the write was cached")
	}
	fresh := newCachedFile([]byte(`{"new":1}`), http.Header{}, true)
	c.add("g", "targets", fresh, c.fillToken("g"))
	if f := c.get("g", "targets", time.Now()); f == nil || string(f.body) != `{"new":1}` {
		t.Fatal("a fill that began after the write was not cached")
	}
	// The same bytes under two names are kept once.
	c.add("g", "targets.abc", newCachedFile([]byte(`{"new":1}`), http.Header{}, true), c.fillToken("g"))
	if got, want := c.files.Cost(), len(`{"new":1}`)+2*fileOverhead; got != want {
		t.Errorf("cost %d, want %d", got, want)
	}
}

// TestConditionalGETWithoutCache: with the metadata cache off, GETs still
// carry the content's ETag, an HTTP-date Last-Modified and the configured
// Cache-Control, and conditional GETs get 304 (If-None-Match, or
// If-Modified-Since alone).
func TestConditionalGETWithoutCache(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.MetadataCacheBytes = -1
		c.ConsistentMaxAge = time.Hour
		c.CurrentMaxAge = -1
	})
	const gun = "example.com/uncached"
	e.initRepo(gun)
	identity := []string{"Accept-Encoding", "identity"}
	resp := e.do(http.MethodGet, "/v2/"+gun+"/_trust/tuf/1.root.json", nil, identity...)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != etagOf(body) {
		t.Fatalf("GET 1.root.json: %d ETag %q, want %q", resp.StatusCode, resp.Header.Get("ETag"), etagOf(body))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=3600, s-maxage=3600" {
		t.Errorf("consistent Cache-Control %q", cc)
	}
	lm := resp.Header.Get("Last-Modified")
	modified, err := http.ParseTime(lm)
	if err != nil || time.Since(modified) > time.Minute {
		t.Fatalf("Last-Modified %q: not the HTTP date of the publish (%v)", lm, err)
	}
	for _, cond := range [][]string{{"If-None-Match", etagOf(body)}, {"If-Modified-Since", lm}} {
		if status, b, _ := e.get(gun, "1.root", cond[0], cond[1], identity[0], identity[1]); status != http.StatusNotModified || len(b) != 0 {
			t.Errorf("GET with %s: %d (%d bytes), want 304", cond[0], status, len(b))
		}
	}
	// If-None-Match decides alone; an older date gets the file.
	for _, cond := range [][]string{
		{"If-None-Match", `"other"`, "If-Modified-Since", lm},
		{"If-Modified-Since", modified.Add(-time.Second).Format(http.TimeFormat)},
	} {
		if status, _, _ := e.get(gun, "1.root", append(cond, identity...)...); status != http.StatusOK {
			t.Errorf("GET with %v: %d, want 200", cond, status)
		}
	}
	resp = e.do(http.MethodGet, "/v2/"+gun+"/_trust/tuf/root.json", nil, identity...)
	readBody(t, resp)
	if cc, p := resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"); cc != "max-age=0, no-cache, no-store" || p != "no-cache" {
		t.Errorf("current metadata with caching forbidden: Cache-Control %q Pragma %q", cc, p)
	}
}

package notaryserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/httpenc"
	"github.com/trustdeck/trustdeck/internal/lru"
)

// DefaultMetadataCacheBytes is the default budget of the metadata cache.
const DefaultMetadataCacheBytes = 32 << 20

// metaCache keeps the metadata files GETs were answered with, per GUN: the
// bytes, their ETag and their headers, so that the next GET of the same file
// is answered from memory. Current metadata changes only by an update or a
// deletion, which the server runs under the GUN's lock and follows with
// invalidate before it answers; a server-signed timestamp or snapshot also
// changes when it expires (the next GET signs a new one), so those entries
// are kept only until the earliest expiry they depend on.
//
// The store must therefore be written only through the server: a write
// behind its back is seen once the GUN's entry is evicted or invalidated.
type metaCache struct {
	files *lru.Cache[string, *gunFiles] // by GUN; cost: bytes
	// gens are bumped by invalidate, striped by GUN. A fill that began
	// under another generation of its stripe is dropped: it may have read
	// the store before the write that invalidated it.
	gens [256]atomic.Uint64
	seed maphash.Seed
}

// gunFiles are the cached files of one GUN by metadata name (as in the URL,
// without .json: "timestamp", "snapshot.<sha256>", "2.root"). It is never
// modified once in the cache: an addition replaces it.
type gunFiles struct {
	byName map[string]*cachedFile
	size   int
}

// cachedFile is one answer to a GET.
type cachedFile struct {
	body         []byte
	sum          string // hex sha256 of body
	etag         string
	lastModified string
	modified     time.Time // lastModified parsed (zero: unknown)
	cacheControl string
	pragma       string // "no-cache" with caching forbidden (notary-server's)
	// until bounds a server-signed file's life (zero: until invalidated).
	until time.Time
	// gzipped is body compressed, for clients that accept gzip (Go's HTTP
	// client, and so docker and notary, ask for it); nil for small files.
	gzipped []byte
	gzETag  string
}

// fileOverhead is what a cached file costs beyond its body.
const fileOverhead = 512

func newMetaCache(budget int) *metaCache {
	c := &metaCache{seed: maphash.MakeSeed()}
	c.files = lru.New(budget, func(_ string, g *gunFiles) int { return g.size })
	return c
}

func (c *metaCache) gen(gun string) *atomic.Uint64 {
	return &c.gens[maphash.String(c.seed, gun)%uint64(len(c.gens))]
}

// get returns the cached answer to GET name of gun, if still valid at now.
func (c *metaCache) get(gun, name string, now time.Time) *cachedFile {
	if c == nil {
		return nil
	}
	g, ok := c.files.Get(gun)
	if !ok {
		return nil
	}
	f := g.byName[name]
	if f == nil || (!f.until.IsZero() && !now.Before(f.until)) {
		return nil
	}
	return f
}

// fillToken is taken before reading the store for a fill; add keeps the file
// only if no invalidation of the GUN's stripe came between.
func (c *metaCache) fillToken(gun string) uint64 {
	if c == nil {
		return 0
	}
	return c.gen(gun).Load()
}

// add caches f as the answer to GET name of gun, unless gun was invalidated
// since token was taken.
func (c *metaCache) add(gun, name string, f *cachedFile, token uint64) {
	if c == nil {
		return
	}
	gen := c.gen(gun)
	c.files.Update(gun, func(old *gunFiles, present bool) (*gunFiles, bool) {
		if gen.Load() != token {
			return nil, false
		}
		g := &gunFiles{byName: make(map[string]*cachedFile, len(old.files())+1)}
		bodies := map[string]bool{}
		for n, of := range old.files() {
			if n == name {
				continue
			}
			g.byName[n] = of
			if !bodies[of.sum] {
				bodies[of.sum] = true
				g.size += len(of.body) + len(of.gzipped)
			}
		}
		// The same bytes under another name (current and by checksum)
		// share one body.
		for _, of := range g.byName {
			if of.sum == f.sum {
				shared := *f
				shared.body, shared.gzipped = of.body, of.gzipped
				f = &shared
				break
			}
		}
		g.byName[name] = f
		if !bodies[f.sum] {
			g.size += len(f.body) + len(f.gzipped)
		}
		g.size += fileOverhead * len(g.byName)
		return g, true
	})
}

func (g *gunFiles) files() map[string]*cachedFile {
	if g == nil {
		return nil
	}
	return g.byName
}

// invalidate forgets gun's files. Call it after every write to gun's trust
// data, under the GUN's lock and before answering.
func (c *metaCache) invalidate(gun string) {
	if c == nil {
		return
	}
	c.gen(gun).Add(1)
	c.files.Remove(gun)
}

// invalidateAll forgets every GUN's files.
func (c *metaCache) invalidateAll() {
	if c == nil {
		return
	}
	for i := range c.gens {
		c.gens[i].Add(1)
	}
	c.files.Clear()
}

// metadataName is the name a route caches its file under.
func (rt route) metadataName() string {
	switch {
	case rt.checksum != "":
		return rt.role + "." + strings.ToLower(rt.checksum)
	case rt.version != "":
		return rt.version + "." + rt.role
	}
	return rt.role
}

// newCachedFile makes the cache entry of a GET answered with body and the
// headers h; compress keeps a gzipped copy too (for a file kept in memory).
// Its ETag is the body's sha256, the same on every server of one database;
// its Last-Modified is the store's time of the file, as an HTTP date.
func newCachedFile(body []byte, h http.Header, compress bool) *cachedFile {
	sum := sha256.Sum256(body)
	hexSum := hex.EncodeToString(sum[:])
	f := &cachedFile{
		body:         body,
		sum:          hexSum,
		etag:         `"` + hexSum + `"`,
		lastModified: h.Get("Last-Modified"),
		cacheControl: h.Get("Cache-Control"),
		pragma:       h.Get("Pragma"),
	}
	// notary's handler writes time.RFC1123 in the store's zone ("UTC"),
	// which HTTP clients do not parse: send an HTTP date.
	if t, err := time.Parse(time.RFC1123, f.lastModified); err == nil && t.Year() > 1 {
		f.modified = t.UTC().Truncate(time.Second)
		f.lastModified = f.modified.Format(http.TimeFormat)
	}
	if compress {
		if f.gzipped = httpenc.Gzip(body); f.gzipped != nil {
			f.gzETag = `"` + hexSum + `.gz"`
		}
	}
	return f
}

// serve answers a GET with f, compressed if the client accepts gzip and f
// has a compressed form: 304 when the client's If-None-Match names it or,
// without If-None-Match, when f is not newer than If-Modified-Since.
func (f *cachedFile) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	body, etag := f.body, f.etag
	if f.gzipped != nil {
		h["Vary"] = varyEncoding
		if httpenc.AcceptsGzip(r.Header.Values("Accept-Encoding")) {
			body, etag = f.gzipped, f.gzETag
			h["Content-Encoding"] = gzipEncoding
		}
	}
	h["Etag"] = []string{etag}
	if f.cacheControl != "" {
		h["Cache-Control"] = []string{f.cacheControl}
	}
	if f.pragma != "" {
		h["Pragma"] = []string{f.pragma}
	}
	if f.lastModified != "" {
		h["Last-Modified"] = []string{f.lastModified}
	}
	if f.notModified(r, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// notModified reports whether r's conditions let f be answered 304 (RFC
// 9110, 13.2.2: If-None-Match, when sent, decides alone).
func (f *cachedFile) notModified(r *http.Request, etag string) bool {
	if match := r.Header.Get("If-None-Match"); match != "" {
		return etagMatches(match, etag)
	}
	if since := r.Header.Get("If-Modified-Since"); since != "" && !f.modified.IsZero() {
		t, err := http.ParseTime(since)
		return err == nil && !f.modified.After(t)
	}
	return false
}

var (
	jsonContentType = []string{"application/json"}
	varyEncoding    = []string{"Accept-Encoding"}
	gzipEncoding    = []string{"gzip"}
)

// etagMatches reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// signedExpiry reads the expiry of a metadata file and, for a timestamp,
// the sha256 of the snapshot it names.
func signedExpiry(body []byte) (expires time.Time, snapshotSum string, ok bool) {
	var m struct {
		Signed struct {
			Expires time.Time `json:"expires"`
			Meta    map[string]struct {
				Hashes map[string][]byte `json:"hashes"`
			} `json:"meta"`
		} `json:"signed"`
	}
	if json.Unmarshal(body, &m) != nil || m.Signed.Expires.IsZero() {
		return time.Time{}, "", false
	}
	if s, found := m.Signed.Meta[data.CanonicalSnapshotRole.String()]; found {
		snapshotSum = hex.EncodeToString(s.Hashes[notary.SHA256])
	}
	return m.Signed.Expires, snapshotSum, true
}

// serverSignedUntil is how long the current timestamp or snapshot of gun,
// as just served (body), stays what a GET answers: until the timestamp or
// the snapshot it names expires, when the next GET signs anew. ok is false
// when that cannot be told (do not cache).
func serverSignedUntil(st storage.MetaStore, gun string, role string, body []byte) (until time.Time, ok bool) {
	expires, snapshotSum, ok := signedExpiry(body)
	if !ok {
		return time.Time{}, false
	}
	if role == data.CanonicalSnapshotRole.String() {
		return expires, true
	}
	if snapshotSum == "" {
		return time.Time{}, false
	}
	_, snapshot, err := st.GetChecksum(data.GUN(gun), data.CanonicalSnapshotRole, snapshotSum)
	if err != nil {
		return time.Time{}, false
	}
	snapExpires, _, ok := signedExpiry(snapshot)
	if !ok {
		return time.Time{}, false
	}
	if snapExpires.Before(expires) {
		expires = snapExpires
	}
	return expires, true
}

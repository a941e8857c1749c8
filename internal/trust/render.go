package trust

import (
	"bytes"
	"encoding/json"
	"sync/atomic"
	"unicode/utf8"

	"github.com/trustdeck/trustdeck/internal/httpenc"
	"github.com/trustdeck/trustdeck/internal/lru"
)

// An inspection is a pure function of the verified trust data and the
// argument: Repo.Inspect keeps its result, and FormatJSON and FormatPretty
// their output, per GUN for the Repo they came from. Load builds a new Repo
// only when the timestamp changed (or a role expired), so a new Repo — a new
// id — replaces everything kept for its GUN, and a warm inspection of
// thousands of tags is a copy of bytes.

// RenderCacheBytes bounds the memory of kept inspections (results and
// output) across all GUNs.
const RenderCacheBytes = 32 << 20

// repoIDs numbers the Repos Load builds.
var repoIDs atomic.Uint64

var renders = lru.New(RenderCacheBytes, func(_ string, g *gunRenders) int { return g.size })

// gunRenders is what is kept of one GUN's inspections, for the Repo repo.
// It is replaced, never modified.
type gunRenders struct {
	repo  uint64
	byArg map[inspectArg]*rendering
	size  int
}

// inspectArg is an argument of Repo.Inspect.
type inspectArg struct{ name, tag string }

// rendering is one kept inspection: the result and, once asked for, what
// FormatJSON and FormatPretty print for it alone. Replaced, never modified.
type rendering struct {
	result       InspectResult
	json, pretty []byte
	// jsonGz and prettyGz are json and pretty compressed with gzip, once
	// asked for; empty (not nil) when compressing is not worth it.
	jsonGz, prettyGz []byte
}

func (r *rendering) size() int {
	n := 512 + len(r.json) + len(r.pretty) + len(r.jsonGz) + len(r.prettyGz) + len(r.result.Name)
	for _, t := range r.result.SignedTags {
		n += 96 + len(t.Signers)*16
	}
	for _, list := range [][]InspectSigner{r.result.Signers, r.result.AdministrativeKeys} {
		for _, s := range list {
			n += 64 + len(s.Keys)*16
		}
	}
	return n
}

// origin ties an InspectResult to the Repo and argument it was made from.
type origin struct {
	gun  string
	repo uint64 // 0: made by hand, not kept
	arg  inspectArg
}

// kept returns what is kept for o, if anything.
func (o origin) kept() *rendering {
	if o.repo == 0 {
		return nil
	}
	g, ok := renders.Get(o.gun)
	if !ok || g.repo != o.repo {
		return nil
	}
	return g.byArg[o.arg]
}

// keep stores what change makes of o's rendering (nil if none yet), unless
// the GUN's inspections are kept for a newer Repo already.
func (o origin) keep(change func(old *rendering) *rendering) {
	if o.repo == 0 {
		return
	}
	renders.Update(o.gun, func(old *gunRenders, present bool) (*gunRenders, bool) {
		if present && old.repo > o.repo {
			return nil, false
		}
		g := &gunRenders{repo: o.repo, byArg: map[inspectArg]*rendering{}}
		if present && old.repo == o.repo {
			for a, r := range old.byArg {
				g.byArg[a] = r
				g.size += r.size()
			}
		}
		prev := g.byArg[o.arg]
		if prev != nil {
			g.size -= prev.size()
		}
		r := change(prev)
		g.byArg[o.arg] = r
		g.size += r.size()
		return g, true
	})
}

// jsonOf is FormatJSON of r alone (shared: do not modify).
func jsonOf(r InspectResult) []byte {
	if k := r.origin.kept(); k != nil && k.json != nil {
		return k.json
	}
	b := make([]byte, 0, 256+len(r.SignedTags)*200)
	b = append(b, "[\n"...)
	b = appendResultJSON(b, r)
	b = append(b, "\n]\n"...)
	keepOutput(r, func(k *rendering) { k.json = b })
	return b
}

// prettyOf is what FormatPretty prints for r alone (shared: do not modify).
func prettyOf(r InspectResult) []byte {
	if k := r.origin.kept(); k != nil && k.pretty != nil {
		return k.pretty
	}
	var b bytes.Buffer
	writePretty(&b, r)
	keepOutput(r, func(k *rendering) { k.pretty = b.Bytes() })
	return b.Bytes()
}

// FormatJSONGzip is FormatJSON(results) compressed with gzip, or nil when
// that is not worth it (httpenc.Gzip); kept as FormatJSON's output is.
func FormatJSONGzip(results []InspectResult) []byte {
	var ok []InspectResult
	for _, r := range results {
		if r.Err == nil {
			ok = append(ok, r)
		}
	}
	if len(ok) != 1 {
		return httpenc.Gzip(FormatJSON(results))
	}
	return keptGzip(ok[0], func(k *rendering) *[]byte { return &k.jsonGz }, jsonOf)
}

// FormatPrettyGzip is FormatPretty(results) compressed with gzip, or nil
// when that is not worth it; kept as FormatPretty's output is.
func FormatPrettyGzip(results []InspectResult) []byte {
	if len(results) != 1 || results[0].Err != nil {
		return httpenc.Gzip(FormatPretty(results))
	}
	return keptGzip(results[0], func(k *rendering) *[]byte { return &k.prettyGz }, prettyOf)
}

// keptGzip is the compressed output of r (field picks which one, of picks
// the output to compress), compressed once and kept.
func keptGzip(r InspectResult, field func(*rendering) *[]byte, of func(InspectResult) []byte) []byte {
	if k := r.origin.kept(); k != nil {
		if gz := *field(k); gz != nil {
			return nonEmpty(gz)
		}
	}
	gz := httpenc.Gzip(of(r))
	if gz == nil {
		gz = []byte{}
	}
	keepOutput(r, func(k *rendering) { *field(k) = gz })
	return nonEmpty(gz)
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// keepOutput keeps an output of r: set fills it into r's rendering.
func keepOutput(r InspectResult, set func(*rendering)) {
	r.origin.keep(func(old *rendering) *rendering {
		n := rendering{result: r}
		if old != nil {
			n = *old
		}
		set(&n)
		return &n
	})
}

// appendResultJSON appends r as json.Indent(json.Marshal(r), "", "    ")
// writes it as an element of a top-level array, in one pass.
func appendResultJSON(b []byte, r InspectResult) []byte {
	r = r.normalized()
	b = append(b, "    {\n"...)
	b = appendKey(b, 2, "Name")
	b = appendJSONString(b, r.Name)
	b = append(b, ",\n"...)
	b = appendKey(b, 2, "SignedTags")
	b = appendArray(b, 2, r.SignedTags, func(b []byte, depth int, t InspectTag) []byte {
		b = append(b, "{\n"...)
		b = appendKey(b, depth+1, "SignedTag")
		b = appendJSONString(b, t.SignedTag)
		b = append(b, ",\n"...)
		b = appendKey(b, depth+1, "Digest")
		b = appendJSONString(b, t.Digest)
		b = append(b, ",\n"...)
		b = appendKey(b, depth+1, "Signers")
		b = appendArray(b, depth+1, t.Signers, func(b []byte, _ int, s string) []byte { return appendJSONString(b, s) })
		b = append(b, '\n')
		b = appendIndent(b, depth)
		return append(b, '}')
	})
	b = append(b, ",\n"...)
	b = appendKey(b, 2, "Signers")
	b = appendArray(b, 2, r.Signers, appendSigner)
	b = append(b, ",\n"...)
	b = appendKey(b, 2, "AdministrativeKeys")
	b = appendArray(b, 2, r.AdministrativeKeys, appendSigner)
	return append(b, "\n    }"...)
}

const indentUnit = "    "

func appendIndent(b []byte, depth int) []byte {
	for range depth {
		b = append(b, indentUnit...)
	}
	return b
}

// appendKey writes `"key": ` at depth.
func appendKey(b []byte, depth int, key string) []byte {
	b = appendIndent(b, depth)
	b = appendJSONString(b, key)
	return append(b, ": "...)
}

// appendArray writes items as an indented JSON array whose key is at depth
// (`[]` when empty, as encoding/json writes an empty slice); elem writes one
// item at depth+1, after its indentation.
func appendArray[T any](b []byte, depth int, items []T, elem func(b []byte, depth int, item T) []byte) []byte {
	if len(items) == 0 {
		return append(b, "[]"...)
	}
	b = append(b, "[\n"...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ",\n"...)
		}
		b = appendIndent(b, depth+1)
		b = elem(b, depth+1, it)
	}
	b = append(b, '\n')
	b = appendIndent(b, depth)
	return append(b, ']')
}

// appendSigner writes an InspectSigner at depth; Name, Keys and ID are left
// out when empty, as their omitempty says.
func appendSigner(b []byte, depth int, s InspectSigner) []byte {
	if s.Name == "" && len(s.Keys) == 0 {
		return append(b, "{}"...)
	}
	b = append(b, "{\n"...)
	if s.Name != "" {
		b = appendKey(b, depth+1, "Name")
		b = appendJSONString(b, s.Name)
		if len(s.Keys) > 0 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	if len(s.Keys) > 0 {
		b = appendKey(b, depth+1, "Keys")
		b = appendArray(b, depth+1, s.Keys, func(b []byte, depth int, k InspectKey) []byte {
			if k.ID == "" {
				return append(b, "{}"...)
			}
			b = append(b, "{\n"...)
			b = appendKey(b, depth+1, "ID")
			b = appendJSONString(b, k.ID)
			b = append(b, '\n')
			b = appendIndent(b, depth)
			return append(b, '}')
		})
		b = append(b, '\n')
	}
	b = appendIndent(b, depth)
	return append(b, '}')
}

// appendJSONString writes s as encoding/json does (HTML characters escaped,
// invalid UTF-8 replaced): printable ASCII as is, anything else through
// encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

package trust

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"testing"
)

// referenceJSON is how docker prints results: json.Marshal, then
// json.Indent with four spaces.
func referenceJSON(t *testing.T, results []InspectResult) []byte {
	t.Helper()
	var ok []InspectResult
	for _, r := range results {
		if r.Err == nil {
			ok = append(ok, r.normalized())
		}
	}
	if len(ok) == 0 {
		return []byte("[]\n")
	}
	raw, err := json.Marshal(ok)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "    "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestFormatJSONIsEncodingJSON: the one-pass JSON writer prints what
// encoding/json prints, for every shape and hostile string.
func TestFormatJSONIsEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `q"uote\back`, "<script>&amp;</script>", "tab\tnl\ncr\r", "\x00\x01\x1f\x7f",
		"版本-1", "\u2028\u2029", "bad utf8 \xff\xfe", "emoji 🐳", "\b\f"}
	var results []InspectResult
	for i, s := range strs {
		results = append(results, InspectResult{
			Name:       "reg.test/ns/" + s,
			SignedTags: []InspectTag{{SignedTag: s, Digest: digest(s), Signers: []string{s, "Repo Admin"}}, {SignedTag: "v" + fmt.Sprint(i)}},
			Signers: []InspectSigner{{Name: s, Keys: []InspectKey{{ID: s}, {}}}, {}, {Name: "only-name"},
				{Keys: []InspectKey{{ID: "only-keys"}}}},
			AdministrativeKeys: []InspectSigner{{Name: "Root", Keys: []InspectKey{{ID: s}}}, {Name: "Repository"}},
		})
	}
	results = append(results, InspectResult{Name: "empty"}, InspectResult{Name: "failed", Err: fmt.Errorf("x")},
		bigRepo().Inspect("reg.test/bench/app", ""))
	for i := range results {
		one := []InspectResult{results[i]}
		if got, want := FormatJSON(one), referenceJSON(t, one); !bytes.Equal(got, want) {
			t.Errorf("result %d (%q):\n got %s\nwant %s", i, results[i].Name, got, want)
		}
	}
	if got, want := FormatJSON(results), referenceJSON(t, results); !bytes.Equal(got, want) {
		t.Errorf("all results: %d bytes, want %d", len(got), len(want))
	}
	if got := FormatJSON(results[len(results)-2 : len(results)-1]); string(got) != "[]\n" {
		t.Errorf("only a failure: %q", got)
	}
}

// TestInspectionsKeptPerRepo: what Load built is inspected once; the same
// bytes come back for the same argument until the GUN has a newer Repo.
func TestInspectionsKeptPerRepo(t *testing.T) {
	repo := bigRepo()
	repo.GUN = "reg.test/kept/app"
	repo.id = repoIDs.Add(1)
	first := repo.Inspect(repo.GUN, "")
	j, p := FormatJSON([]InspectResult{first}), FormatPretty([]InspectResult{first})
	again := repo.Inspect(repo.GUN, "")
	if &again.SignedTags[0] != &first.SignedTags[0] {
		t.Error("the second inspection was computed again")
	}
	if j2 := FormatJSON([]InspectResult{again}); &j2[0] != &j[0] {
		t.Error("the JSON was printed again")
	}
	if p2 := FormatPretty([]InspectResult{again}); &p2[0] != &p[0] {
		t.Error("the pretty output was printed again")
	}
	if !bytes.Equal(j, referenceJSON(t, []InspectResult{first})) {
		t.Error("kept JSON differs from encoding/json's")
	}
	// Another argument is another inspection.
	if one := repo.Inspect(repo.GUN+":v7", "v7"); len(one.SignedTags) != 1 {
		t.Fatalf("v7: %d rows", len(one.SignedTags))
	}

	// A newer Repo of the GUN (a new timestamp): inspected anew.
	newer := *repo
	newer.id = repoIDs.Add(1)
	newer.Targets = newer.Targets[:100] // targets only
	res := newer.Inspect(repo.GUN, "")
	if len(res.SignedTags) != 100 {
		t.Fatalf("the newer Repo shows %d tags, want 100", len(res.SignedTags))
	}
	if got := FormatJSON([]InspectResult{res}); bytes.Equal(got, j) {
		t.Error("the newer Repo printed the older one's JSON")
	}
	// The older one is no longer kept.
	if k := first.origin.kept(); k != nil {
		t.Error("the older Repo's inspection is still kept")
	}
}

// TestRenderCacheBounded: however many GUNs are inspected, the kept
// inspections stay within RenderCacheBytes.
func TestRenderCacheBounded(t *testing.T) {
	base := bigRepo()
	for i := range 40 {
		repo := *base
		repo.GUN = fmt.Sprintf("reg.test/bounded/app%d", i)
		repo.id = repoIDs.Add(1)
		FormatJSON([]InspectResult{repo.Inspect(repo.GUN, "")})
	}
	if c := renders.Cost(); c > RenderCacheBytes || renders.Len() >= 40 {
		t.Errorf("%d GUNs kept in %d bytes, budget %d", renders.Len(), c, RenderCacheBytes)
	}
}

// TestGzipOutputs: the compressed outputs are the outputs, compressed once
// for a kept inspection.
func TestGzipOutputs(t *testing.T) {
	repo := bigRepo()
	repo.GUN = "reg.test/gzip/app"
	repo.id = repoIDs.Add(1)
	res := []InspectResult{repo.Inspect(repo.GUN, "")}
	for _, f := range []struct {
		name  string
		plain func([]InspectResult) []byte
		gz    func([]InspectResult) []byte
	}{{"json", FormatJSON, FormatJSONGzip}, {"pretty", FormatPretty, FormatPrettyGzip}} {
		z := f.gz(res)
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		back, _ := io.ReadAll(zr)
		if !bytes.Equal(back, f.plain(res)) || len(z) >= len(back) {
			t.Errorf("%s: %d compressed bytes of %d, equal: %v", f.name, len(z), len(back), bytes.Equal(back, f.plain(res)))
		}
		if again := f.gz(res); &again[0] != &z[0] {
			t.Errorf("%s compressed again", f.name)
		}
		// Several results: compressed as a whole.
		two := append(res, res...)
		zr, _ = gzip.NewReader(bytes.NewReader(f.gz(two)))
		if back, _ := io.ReadAll(zr); !bytes.Equal(back, f.plain(two)) {
			t.Errorf("%s of two results differs", f.name)
		}
	}
	if FormatJSONGzip([]InspectResult{{Name: "small"}}) != nil {
		t.Error("a small output was compressed")
	}
}

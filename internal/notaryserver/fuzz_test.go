package notaryserver

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/server/storage"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"
)

// fuzzMaxUpload is the body limit of the fuzzed update reader: small, so
// that the fuzzer reaches the limit too.
const fuzzMaxUpload = 32 << 10

// readFuzzUpload reads body as the update endpoint does.
func readFuzzUpload(contentType string, body []byte) (map[data.RoleName]storage.MetaUpdate, error) {
	r := httptest.NewRequest(http.MethodPost, "/v2/localhost:4443/prod/app/_trust/tuf/", bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, fuzzMaxUpload)
	return (&server{}).readUpload(r)
}

// notaryClientUpload is the body and content type the notary client sends
// for an update of metas (role name → metadata).
func notaryClientUpload(tb testing.TB, metas map[string][]byte) (string, []byte) {
	tb.Helper()
	req, err := store.NewMultiPartMetaRequest("https://localhost:4443/v2/localhost:4443/prod/app/_trust/tuf/", metas)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return req.Header.Get("Content-Type"), body
}

// FuzzReadUpload reads update bodies: real ones (a notary client's upload of
// metadata a real repository holds) and the near misses of hand-made ones.
// Every refusal is a 4xx; what is read names valid roles with their bytes,
// and the notary client sending it again yields the same.
func FuzzReadUpload(f *testing.F) {
	gun := "localhost:4443/prod/app"
	e := newTestEnv(f)
	r, cs := e.initRepo(gun)
	e.addDelegation(r, "targets/releases", cs)
	e.addTarget(r, "targets/releases", "v1", "the image")
	metas := map[string][]byte{}
	for _, role := range []string{"root", "targets", "snapshot", "targets/releases"} {
		metas[role] = e.current(gun, role)
	}
	ct, body := notaryClientUpload(f, metas)
	f.Add(ct, body)
	oneCT, one := notaryClientUpload(f, map[string][]byte{"targets/releases": metas["targets/releases"]})
	f.Add(oneCT, one)
	releases := metas["targets/releases"]
	for _, parts := range [][]part{
		{{filename: "targets.json", body: metas["targets"]}},
		{{disposition: `form-data; name="files"; filename*=utf-8''targets%2Freleases`, body: releases}},
		{{disposition: `form-data; name="files"`, body: releases}},
		{{disposition: `form-data; name="files"; filename="targets/releases`, body: releases}},
		{{filename: "targets/../root", body: releases}},
		{{filename: "targets/Releases", body: releases}},
		{{filename: "targets/releases", body: releases}, {filename: "targets/releases.json", body: releases}},
		{{filename: "targets", body: []byte(`{"signed":{"version":"2"}}`)}},
		{{filename: "targets", body: []byte(`{"signed":{"version":-1},"signatures":[]}`)}},
		{{filename: "timestamp", body: []byte(`[]`)}},
		{{filename: "targets", body: append(bytes.Repeat([]byte(" "), fuzzMaxUpload), metas["targets"]...)}},
		{},
	} {
		b, ct := multipartBody(f, parts...)
		f.Add(ct, b.Bytes())
	}
	f.Add("text/plain", body)
	f.Add("multipart/form-data", body)
	f.Add("multipart/form-data; boundary=other", body)
	f.Add(ct, body[:len(body)/2])
	f.Add("", []byte{})

	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		uploaded, err := readFuzzUpload(contentType, body)
		if err != nil {
			if status := statusOf(err); status < 400 || status >= 500 {
				t.Fatalf("refused with %d: %v", status, err)
			}
			if uploaded != nil {
				t.Fatalf("refused with %v, but read %d roles", err, len(uploaded))
			}
			return
		}
		if len(uploaded) == 0 {
			t.Fatal("read an update of no roles")
		}
		metas := map[string][]byte{}
		for role, u := range uploaded {
			if role != u.Role || !data.ValidRole(role) {
				t.Fatalf("read role %q as %q", u.Role, role)
			}
			var meta data.SignedMeta
			if err := json.Unmarshal(u.Data, &meta); err != nil || meta.Signed.Version != u.Version {
				t.Fatalf("%s: version %d of %q (%v)", role, u.Version, u.Data, err)
			}
			metas[role.String()] = u.Data
		}
		again, err := readFuzzUpload(notaryClientUpload(t, metas))
		if err != nil || !reflect.DeepEqual(again, uploaded) {
			t.Fatalf("read %v; sent again by the notary client: %v, %v", uploaded, again, err)
		}
	})
}

// FuzzPartFilename reads the role name of an update part from its
// Content-Disposition. A name the update reader accepts comes back the same
// from the header a client formats for it, and agrees with the standard
// library wherever that does not cut the name at a slash.
func FuzzPartFilename(f *testing.F) {
	for _, d := range []string{
		`form-data; name="files"; filename="targets/releases"`, `form-data; name="files"; filename="root.json"`,
		`form-data; name="files"; filename*=utf-8''targets%2Freleases`, `form-data; name="files"; filename*=UTF-8''t%C3%A4rgets`,
		`form-data; name="files"; filename="a\"b"`, `form-data; name="files"; filename=targets`, `form-data; name="files"`,
		`form-data; filename="targets"; filename="root"`, `form-data; name="files"; filename="targets`, `attachment; filename="x"`,
		`form-data; name="files"; filename*0="targets/"; filename*1="releases"`, ``,
	} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, disposition string) {
		p := &multipart.Part{Header: textproto.MIMEHeader{"Content-Disposition": {disposition}}}
		name := partFilename(p)
		if name != "" && !strings.Contains(name, "/") && p.FileName() != name {
			t.Fatalf("partFilename(%q) = %q, the standard library reads %q", disposition, name, p.FileName())
		}
		if !data.ValidRole(data.RoleName(strings.TrimSuffix(name, ".json"))) {
			return
		}
		formatted := mime.FormatMediaType("form-data", map[string]string{"name": "files", "filename": name})
		again := &multipart.Part{Header: textproto.MIMEHeader{"Content-Disposition": {formatted}}}
		if got := partFilename(again); got != name {
			t.Fatalf("role file %q, formatted as %q, reads back as %q", name, formatted, got)
		}
	})
}

// metadataNameRE is the grammar of a metadata file's name in notary-server's
// routes, written out independently of parseMetadataName: {role}.json,
// {role}.{sha256|sha384|sha512 hex}.json or {version}.{role}.json, where a
// role is a base role or targets/ followed by segments free of '/' and
// whitespace.
var metadataNameRE = func() *regexp.Regexp {
	role := `(?:root|snapshot|timestamp|targets(?:/[^/\s]+)*)`
	checksum := `(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{96}|[0-9a-fA-F]{128})`
	return regexp.MustCompile(`^(?:` + role + `\.` + checksum + `|[0-9]+\.` + role + `|` + role + `)$`)
}()

// metadataName writes a metadata file name (without .json) from its parts.
func metadataName(role, checksum, version string) string {
	switch {
	case checksum != "":
		return role + "." + checksum
	case version != "":
		return version + "." + role
	}
	return role
}

// FuzzMetadataName parses the names of metadata files in GET paths: it
// accepts exactly notary-server's grammar, and the parts it returns write
// the same name again.
func FuzzMetadataName(f *testing.F) {
	sum := strings.Repeat("ab", 32)
	for _, s := range []string{
		"root", "targets", "snapshot", "timestamp", "targets/releases", "targets/a/b.c", "root." + sum,
		"targets/releases." + strings.Repeat("F0", 48), "snapshot." + strings.Repeat("0", 128), "12.root", "3.targets/releases",
		"0.timestamp", "1.2.targets", "root." + sum[:63], "targets/", "targets//a", "targets/a b", "targets/a\tb",
		".root", "root.", "x.root", "-1.root", "Root", "targets/releases." + sum + ".x", "12." + sum, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		role, checksum, version, ok := parseMetadataName(name)
		if ok != metadataNameRE.MatchString(name) {
			t.Fatalf("parseMetadataName(%q) ok = %v, the grammar says %v", name, ok, !ok)
		}
		if !ok {
			if role != "" || checksum != "" || version != "" {
				t.Fatalf("parseMetadataName(%q) refused with parts %q, %q, %q", name, role, checksum, version)
			}
			return
		}
		if !isRouteRole(role) || (checksum != "" && version != "") || metadataName(role, checksum, version) != name {
			t.Fatalf("parseMetadataName(%q) = %q, %q, %q", name, role, checksum, version)
		}
	})
}

// FuzzMatch maps request paths to endpoints: a matched route names a GUN
// and parts that write the same path again, with the method and the
// authorisation its endpoint needs; anything else matches nothing.
func FuzzMatch(f *testing.F) {
	sum := strings.Repeat("0f", 32)
	g := "/v2/localhost:4443/prod/app/_trust/"
	for _, c := range [][2]string{
		{"GET", "/v2/"}, {"GET", "/v2/_trust/changefeed"}, {"GET", g + "changefeed"}, {"POST", g + "tuf/"},
		{"DELETE", g + "tuf/"}, {"GET", g + "tuf/root.json"}, {"GET", g + "tuf/targets/releases.json"},
		{"GET", g + "tuf/root." + sum + ".json"}, {"GET", g + "tuf/3.snapshot.json"}, {"GET", g + "tuf/timestamp.key"},
		{"POST", g + "tuf/snapshot.key"}, {"GET", g + "tuf/targets.key"}, {"PUT", g + "tuf/"}, {"POST", "/v2/"},
		{"GET", "/v2/a*b/_trust/tuf/root.json"}, {"GET", "/v2//_trust/tuf/root.json"}, {"GET", "/v2/a/../b/_trust/tuf/root.json"},
		{"GET", "/v2/a//b/_trust/tuf/root.json"}, {"GET", "/v2/a/_trust/_trust/tuf/root.json"}, {"GET", g + "tuf/targets/.json"},
		{"GET", "/v2"}, {"GET", "/v1/a/_trust/tuf/root.json"}, {"GET", ""},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, method, p string) {
		rt := match(method, p)
		if rt.endpoint == notFound {
			if !reflect.DeepEqual(rt, route{}) {
				t.Fatalf("match(%q, %q) = %+v for no endpoint", method, p, rt)
			}
			return
		}
		if !isClean(p) {
			t.Fatalf("match(%q, %q) matched a path that is not clean", method, p)
		}
		base := "/v2/" + rt.gun + trustSep
		var path, wantMethod string
		var wantActions []string
		switch rt.endpoint {
		case ping:
			path, wantMethod = "/v2/", http.MethodGet
		case globalChangefeed:
			path, wantMethod, wantActions = "/v2/_trust/changefeed", http.MethodGet, []string{"*"}
		case changefeed:
			path, wantMethod, wantActions = base+"changefeed", http.MethodGet, []string{"pull"}
		case update:
			path, wantMethod, wantActions = base+"tuf/", http.MethodPost, []string{"push", "pull"}
		case deleteGUN:
			path, wantMethod, wantActions = base+"tuf/", http.MethodDelete, []string{"*"}
		case getKey:
			path, wantMethod, wantActions = base+"tuf/"+rt.role+".key", http.MethodGet, []string{"push", "pull"}
		case rotateKey:
			path, wantMethod, wantActions = base+"tuf/"+rt.role+".key", http.MethodPost, []string{"*"}
		case getMetadata:
			path, wantMethod, wantActions = base+"tuf/"+metadataName(rt.role, rt.checksum, rt.version)+".json", http.MethodGet, []string{"pull"}
		default:
			t.Fatalf("match(%q, %q): endpoint %d", method, p, rt.endpoint)
		}
		if path != p || method != wantMethod || !reflect.DeepEqual(rt.actions, wantActions) || rt.write != (method != http.MethodGet) {
			t.Fatalf("match(%q, %q) = %+v, which is %s %s", method, p, rt, wantMethod, path)
		}
		switch rt.endpoint {
		case ping, globalChangefeed:
			if rt.gun != "" {
				t.Fatalf("match(%q, %q) names GUN %q", method, p, rt.gun)
			}
		default:
			if rt.gun == "" || strings.Contains(rt.gun, "*") || strings.Contains(rt.gun, trustSep) {
				t.Fatalf("match(%q, %q) names GUN %q", method, p, rt.gun)
			}
		}
		if (rt.endpoint == getKey || rt.endpoint == rotateKey) && rt.role != "timestamp" && rt.role != "snapshot" {
			t.Fatalf("match(%q, %q) names key role %q", method, p, rt.role)
		}
	})
}

package names

import (
	"path"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// wantInvalid fails unless err is the Invalid domain error with code: bad
// names are the client's fault (400), never a server error.
func wantInvalid(t *testing.T, err error, code, input string) {
	t.Helper()
	if e, ok := errs.As(err); !ok || e.Kind != errs.Invalid || e.Code != code {
		t.Fatalf("%q refused with %v (%T), want errs.Invalid %q", input, err, err, code)
	}
}

// hostChars are the characters a registry host[:port] may hold.
func hostChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == ':'
}

func FuzzGUN(f *testing.F) {
	for _, s := range []string{
		"alpine", "library/alpine", "docker.io/library/alpine", "localhost/a", "localhost:5000/a/b",
		"localhost:4443/prod/nginx", "registry.example.com:5000/team/app", "10.0.0.1:443/x/y/z",
		"reg-1.example/a__b/c-d.e", "Reg.Example:4443/a", "reg.example/A", "reg.example//a", "reg.example/",
		"reg.example/a/", "/a", "a/../b", "reg.example/./a", "reg.example:port/a", "[::1]:5000/a",
		"reg.example/a*", "reg.example/a:tag", "reg.example/a@sha256:00", "reg.example/a b", "reg.example/a+b",
		"a___b", "a--b", "a..b", "-a", "a-", "é/a", strings.Repeat("a", 255), strings.Repeat("a", 256), "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, gun string) {
		if err := GUN(gun); err != nil {
			wantInvalid(t, err, "invalid_gun", gun)
			return
		}
		if gun == "" || len(gun) > MaxRepositoryLength {
			t.Fatalf("GUN accepted %q of length %d", gun, len(gun))
		}
		// Every path component is a valid component; only the first may
		// instead be a registry host (which alone may hold upper case and
		// a port).
		parts := strings.Split(gun, "/")
		for i, p := range parts {
			if err := Component("path component", p); err != nil {
				if i > 0 || len(parts) == 1 || strings.IndexFunc(p, func(r rune) bool { return !hostChar(r) }) >= 0 ||
					p == "" || strings.HasPrefix(p, "-") || strings.HasSuffix(p, "-") {
					t.Fatalf("GUN accepted %q, but component %d %q is invalid: %v", gun, i, p, err)
				}
			}
		}
		// Notary routes and URLs take it as it is: no empty, "." or ".."
		// segment, nothing the routes split on or a URL would escape.
		if path.Clean("/"+gun) != "/"+gun || strings.ContainsAny(gun, "*@ +?#%\\") {
			t.Fatalf("GUN accepted %q, which is no clean path", gun)
		}
		// As a foreign catalog name it survives the trip through a page path.
		p := RepoPath(Foreign, gun)
		seg, ok := strings.CutPrefix(p, "/repositories/"+Foreign+"/")
		if !ok || strings.Contains(seg, "/") || NameFromPath(Foreign, seg) != gun || Display(Foreign, gun) != gun {
			t.Fatalf("RepoPath(Foreign, %q) = %q does not lead back to it", gun, p)
		}
	})
}

func FuzzRepository(f *testing.F) {
	for _, s := range [][2]string{
		{"prod", "nginx"}, {"team-a", "app.v2"}, {"a__b", "c_d"}, {"library", "alpine"}, {"a.b", "c"},
		{"Prod", "nginx"}, {"prod", "ngi nx"}, {"prod", "a/b"}, {"", "a"}, {"a", ""}, {"~", "a"}, {"a_", "b"},
		{strings.Repeat("a", 127), strings.Repeat("b", 127)}, {strings.Repeat("a", 128), strings.Repeat("b", 127)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, namespace, name string) {
		if err := Repository(namespace, name); err != nil {
			wantInvalid(t, err, "invalid_name", namespace+"/"+name)
			return
		}
		if Component("namespace", namespace) != nil || Component("name", name) != nil {
			t.Fatalf("Repository accepted %q/%q with an invalid component", namespace, name)
		}
		full := namespace + "/" + name
		if Display(namespace, name) != full || len(full) > MaxRepositoryLength {
			t.Fatalf("Repository accepted %q", full)
		}
		// Each component is a GUN by itself, and the repository is a GUN
		// under a registry host (as the catalog names it) when short enough.
		if GUN(namespace) != nil || GUN(name) != nil {
			t.Fatalf("component of %q is no GUN", full)
		}
		if gun := "localhost:4443/" + full; len(gun) <= MaxRepositoryLength {
			if err := GUN(gun); err != nil {
				t.Fatalf("repository %q is valid, but GUN %q is not: %v", full, gun, err)
			}
		}
		p := RepoPath(namespace, name)
		if p != "/repositories/"+full || NameFromPath(namespace, name) != name {
			t.Fatalf("RepoPath(%q, %q) = %q", namespace, name, p)
		}
	})
}

package catalog

import (
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/names"
)

// FuzzParseGUN reads GUNs as people type them (search, forms, the API)
// into catalog names, with and without foreign repositories.
func FuzzParseGUN(f *testing.F) {
	for _, s := range []string{
		"localhost:4443/prod/nginx", " localhost:4443/prod/nginx\n", "localhost:4443/prod/a.b__c-d",
		"localhost:4443/prod", "localhost:4443/prod/nginx/extra", "localhost:4443//nginx", "localhost:4443/Prod/nginx",
		"localhost:4443/~/nginx", "elsewhere.test:5000/team/app", "docker.io/library/alpine", "alpine",
		"localhost:4443", "LOCALHOST:4443/prod/nginx", "localhost:4443/prod/nginx:v1", "",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, gun string, foreign bool) {
		cat := New(nil, "localhost:4443") // parsing needs no store
		if foreign {
			cat.ListForeign()
		}
		ns, name, err := cat.ParseGUN(gun)
		if err != nil {
			if e, ok := errs.As(err); !ok || e.Kind != errs.Invalid {
				t.Fatalf("ParseGUN(%q) refused with %v (%T), want errs.Invalid", gun, err, err)
			}
			return
		}
		trimmed := strings.TrimSpace(gun)
		if got := cat.GUN(ns, name); got != trimmed {
			t.Fatalf("ParseGUN(%q) = %q, %q, whose GUN is %q", gun, ns, name, got)
		}
		if err := cat.validName(ns, name); err != nil {
			t.Fatalf("ParseGUN(%q) = %q, %q, which Create refuses: %v", gun, ns, name, err)
		}
		if err := names.GUN(trimmed); err != nil {
			t.Fatalf("ParseGUN accepted %q: %v", gun, err)
		}
		if ns == names.Foreign && !foreign {
			t.Fatalf("ParseGUN(%q) is foreign in a catalog without foreign repositories", gun)
		}
		// The repository's page names it again.
		r := Repository{Namespace: ns, Name: name}
		seg := r.Path()[strings.LastIndexByte(r.Path(), '/')+1:]
		if names.NameFromPath(ns, seg) != name {
			t.Fatalf("page %q of %q/%q names another repository", r.Path(), ns, name)
		}
	})
}

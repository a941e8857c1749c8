package catalog

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/trustdeck/trustdeck/internal/store"
)

// TestLookupGUN: the catalog's answer for a GUN is remembered (the store is
// not asked again) until Create or Delete change the catalog.
func TestLookupGUN(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "trustdeck.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := New(st, "reg.test")
	lookup := func(gun string) GUNEntry {
		t.Helper()
		e, err := cat.LookupGUN(ctx, gun)
		if err != nil {
			t.Fatalf("LookupGUN(%s): %v", gun, err)
		}
		return e
	}
	const gun = "reg.test/prod/app"
	if e := lookup(gun); !e.OK || e.Exists || e.Namespace != "prod" || e.Name != "app" {
		t.Fatalf("before Create: %+v", e)
	}
	if _, err := cat.Create(ctx, "prod", "app", "admin"); err != nil {
		t.Fatal(err)
	}
	if e := lookup(gun); !e.Exists {
		t.Fatalf("after Create: %+v", e)
	}
	for _, bad := range []string{"other.test/prod/app", "reg.test/Prod/app", "reg.test/prod"} {
		if e := lookup(bad); e.OK || e.Exists {
			t.Errorf("%s: %+v, want not a GUN of this catalog", bad, e)
		}
	}

	if err := cat.Delete(ctx, "prod", "app"); err != nil {
		t.Fatal(err)
	}
	if e := lookup(gun); e.Exists {
		t.Fatalf("after Delete: %+v", e)
	}
	if _, err := cat.Create(ctx, "prod", "app", "admin"); err != nil {
		t.Fatal(err)
	}
	if e := lookup(gun); !e.Exists {
		t.Fatalf("after Create again: %+v", e)
	}

	// Remembered: answered without the store.
	st.Close()
	if e := lookup(gun); !e.Exists {
		t.Fatalf("the answer was not remembered: %+v", e)
	}
	if _, err := cat.LookupGUN(ctx, "reg.test/prod/other"); err == nil {
		t.Fatal("a GUN never looked up was answered without the store")
	}
}

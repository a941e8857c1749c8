package catalog

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testpg"
)

// TestLookupGUN: the catalog's answer for a GUN is remembered (the store is
// not asked again) until Create or Delete change the catalog.
func TestLookupGUN(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, testpg.Location(t, filepath.Join(t.TempDir(), "trustdeck.db")))
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

// TestListRegistryCounts: list rows carry the registry's counts once they
// are counted (and the cause while the registry cannot be read), and the
// unsigned-or-drifted filter selects on them.
func TestListRegistryCounts(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, testpg.Location(t, filepath.Join(t.TempDir(), "trustdeck.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := New(st, "reg.test")
	for _, n := range []string{"clean", "drifted", "down", "unread"} {
		if _, err := cat.Create(ctx, "prod", n, "admin"); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	tags := []store.RegistryTag{{Tag: "v1", Digest: "sha256:aa"}}
	st.SaveRegistryTags(ctx, "prod", "clean", tags, nil, at)
	st.PutRegistryCounts(ctx, "prod", "clean", store.RegistryCounts{Signed: 1})
	st.SaveRegistryTags(ctx, "prod", "drifted", tags, nil, at)
	st.PutRegistryCounts(ctx, "prod", "drifted", store.RegistryCounts{Drifted: 1})
	st.RegistryFailed(ctx, "prod", "down", "the registry is unreachable: the connection was refused", at)

	p, err := cat.List(ctx, ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*RegistryCounts{}
	for _, r := range p.Repositories {
		byName[r.Name] = r.Registry
	}
	if c := byName["clean"]; c == nil || c.Signed != 1 || c.Tags != 1 || c.CheckedAt == nil || !c.CheckedAt.Equal(at) || c.UnknownSince != nil {
		t.Errorf("clean: %+v", c)
	}
	if c := byName["drifted"]; c == nil || c.Drifted != 1 {
		t.Errorf("drifted: %+v", c)
	}
	if c := byName["down"]; c == nil || c.Error == "" || c.UnknownSince == nil || c.CheckedAt != nil {
		t.Errorf("down: %+v", c)
	}
	if c := byName["unread"]; c != nil {
		t.Errorf("unread: %+v, want none", c)
	}
	p, err = cat.List(ctx, ListQuery{Filter: FilterUnsignedOrDrifted})
	if err != nil || p.Total != 1 || p.Repositories[0].Name != "drifted" {
		t.Errorf("filter: %+v %v", p, err)
	}
}

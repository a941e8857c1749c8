package registry

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testpg"
)

// TestStateCache: reads are answered from memory until a write, never
// across a write, and a repository deleted and created again is read anew.
func TestStateCache(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, testpg.Location(t, filepath.Join(t.TempDir(), "trustdeck.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := newStateCache(st)
	if _, err := st.CreateRepository(ctx, "prod", "app", "admin"); err != nil {
		t.Fatal(err)
	}
	tag := func(name, digest string) store.RegistryTag { return store.RegistryTag{Tag: name, Digest: digest} }
	read := func(what string) *store.RegistryState {
		t.Helper()
		s, err := c.RegistryState(ctx, "prod", "app")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return s
	}
	if s := read("before any read of the registry"); s.Seen {
		t.Fatal("a repository never read is seen")
	}
	if err := c.SaveRegistryTags(ctx, "prod", "app", []store.RegistryTag{tag("v1", "sha256:aa")}, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	s := read("after the first save")
	if !s.Seen || len(s.Tags) != 1 || s.Tags[0].Digest != "sha256:aa" {
		t.Fatalf("after the save: %+v", s)
	}
	s.Error = "changed by the caller" // callers get a copy
	if read("again").Error != "" {
		t.Fatal("a caller's change to the state it got reached the cache")
	}
	if err := c.ChangeRegistryTags(ctx, "prod", "app", []store.RegistryTag{tag("v1", "sha256:bb")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if s := read("after a change"); len(s.Tags) != 1 || s.Tags[0].Digest != "sha256:bb" {
		t.Fatalf("after the change the cache answers %+v", s.Tags)
	}
	// Deleted (its registry rows with it) and created again: not the old state.
	if err := st.DeleteRepository(ctx, "prod", "app", "example.com/prod/app"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegistryState(ctx, "prod", "app"); err == nil {
		t.Fatal("a deleted repository still has a registry state")
	}
	if _, err := st.CreateRepository(ctx, "prod", "app", "admin"); err != nil {
		t.Fatal(err)
	}
	if s := read("after re-creation"); s.Seen || len(s.Tags) != 0 {
		t.Fatalf("a repository created again has the old registry state: %+v", s)
	}
}

package store

import (
	"context"
	"errors"
	"github.com/trustdeck/trustdeck/internal/testpg"
	"path/filepath"
	"slices"
	"testing"
)

func openServerKeysTestStore(t *testing.T) *Store {
	t.Helper()
	st, err := Open(context.Background(), testpg.Location(t, filepath.Join(t.TempDir(), "trustdeck.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func serverKeyIDs(keys []ServerKey) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.KeyID
	}
	return ids
}

func TestServerKeys(t *testing.T) {
	ctx := context.Background()
	st := openServerKeysTestStore(t)

	keys := []ServerKey{
		{KeyID: "k1", GUN: "example.com/a/app", Role: "timestamp", Algorithm: "ecdsa", Public: []byte("pub1"), PrivateSealed: []byte("sealed1")},
		{KeyID: "k2", GUN: "example.com/a/app", Role: "snapshot", Algorithm: "ecdsa", Public: []byte("pub2"), PrivateSealed: []byte("sealed2")},
		{KeyID: "k3", GUN: "example.com/a/app2", Role: "timestamp", Algorithm: "ed25519", Public: []byte("pub3"), PrivateSealed: []byte("sealed3")},
		{KeyID: "k0", GUN: "example.com/a/app", Role: "timestamp", Algorithm: "ecdsa", Public: []byte("pub0"), PrivateSealed: []byte("sealed0")},
	}
	for _, k := range keys {
		if err := st.InsertServerKey(ctx, k); err != nil {
			t.Fatalf("insert %s: %v", k.KeyID, err)
		}
	}
	if err := st.InsertServerKey(ctx, keys[0]); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate insert: got %v, want ErrConflict", err)
	}

	got, err := st.GetServerKey(ctx, "k3")
	if err != nil {
		t.Fatal(err)
	}
	if got.GUN != "example.com/a/app2" || got.Role != "timestamp" || got.Algorithm != "ed25519" ||
		string(got.Public) != "pub3" || string(got.PrivateSealed) != "sealed3" || got.CreatedAt.IsZero() {
		t.Fatalf("GetServerKey = %+v", got)
	}
	if _, err := st.GetServerKey(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetServerKey(nope): got %v, want ErrNotFound", err)
	}

	for _, tc := range []struct {
		gun, role string
		want      []string
	}{
		{"", "", []string{"k1", "k2", "k3", "k0"}}, // insertion order, not key ID order
		{"", "timestamp", []string{"k1", "k3", "k0"}},
		{"example.com/a/app", "", []string{"k1", "k2", "k0"}},
		{"example.com/a/app", "timestamp", []string{"k1", "k0"}},
		{"example.com/a", "", nil},
		{"", "root", nil},
	} {
		list, err := st.ListServerKeys(ctx, tc.gun, tc.role)
		if err != nil {
			t.Fatal(err)
		}
		if ids := serverKeyIDs(list); !slices.Equal(ids, tc.want) {
			t.Errorf("ListServerKeys(%q, %q) = %v, want %v", tc.gun, tc.role, ids, tc.want)
		}
		for _, k := range list {
			if k.PrivateSealed != nil || len(k.Public) == 0 {
				t.Errorf("ListServerKeys row %s: sealed %q, public %q", k.KeyID, k.PrivateSealed, k.Public)
			}
		}
	}

	if err := st.DeleteServerKey(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteServerKey(ctx, "k2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: got %v, want ErrNotFound", err)
	}

	// Deleting by GUN matches exactly: a/app must not take a/app2 with it.
	ids, err := st.DeleteServerKeysOfGUN(ctx, "example.com/a/app")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"k0", "k1"}) {
		t.Fatalf("DeleteServerKeysOfGUN = %v", ids)
	}
	list, err := st.ListServerKeys(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if ids := serverKeyIDs(list); !slices.Equal(ids, []string{"k3"}) {
		t.Fatalf("after deletes: %v", ids)
	}
	if ids, err := st.DeleteServerKeysOfGUN(ctx, "example.com/none"); err != nil || len(ids) != 0 {
		t.Fatalf("DeleteServerKeysOfGUN(none) = %v, %v", ids, err)
	}
}

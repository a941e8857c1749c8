package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func vaultKeyIDs(keys []VaultKey) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.KeyID
	}
	return ids
}

func TestVaultKeys(t *testing.T) {
	ctx := context.Background()
	st := openServerKeysTestStore(t)

	rows := []VaultKey{
		{KeyID: "t1", Role: "targets", GUN: "example.com/a/app", Algorithm: "ECDSA P-256", SealedPEM: []byte("s1"), CreatedBy: "alice"},
		{KeyID: "r1", Role: "root", GUN: "", Algorithm: "ECDSA P-256", SealedPEM: []byte("s2"), CreatedBy: "alice"},
		{KeyID: "t2", Role: "targets", GUN: "example.com/a/app2", Algorithm: "ECDSA P-256", SealedPEM: []byte("s3"), CreatedBy: "bob"},
		{KeyID: "d1", Role: "alice", GUN: "", Algorithm: "RSA 2048", SealedPEM: []byte("s4"), CreatedBy: "alice"},
		{KeyID: "t0", Role: "targets", GUN: "example.com/a/app", Algorithm: "ECDSA P-256", SealedPEM: []byte("s5"), CreatedBy: "bob"},
	}
	for _, k := range rows {
		if err := st.InsertVaultKey(ctx, k); err != nil {
			t.Fatalf("insert %s: %v", k.KeyID, err)
		}
	}
	if err := st.InsertVaultKey(ctx, rows[0]); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate insert: got %v, want ErrConflict", err)
	}

	got, err := st.GetVaultKey(ctx, "t2")
	if err != nil {
		t.Fatal(err)
	}
	if got.Role != "targets" || got.GUN != "example.com/a/app2" || got.Algorithm != "ECDSA P-256" ||
		string(got.SealedPEM) != "s3" || got.CreatedBy != "bob" || time.Since(got.CreatedAt) > time.Minute {
		t.Fatalf("GetVaultKey = %+v", got)
	}
	if _, err := st.GetVaultKey(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetVaultKey(nope): got %v, want ErrNotFound", err)
	}

	for _, tc := range []struct {
		gun  string
		want []string
	}{
		{"", []string{"d1", "r1", "t1", "t0", "t2"}}, // by GUN, role, then insertion
		{"example.com/a/app", []string{"t1", "t0"}},
		{"example.com/a", nil},
	} {
		list, err := st.ListVaultKeys(ctx, tc.gun)
		if err != nil {
			t.Fatal(err)
		}
		if ids := vaultKeyIDs(list); !slices.Equal(ids, tc.want) {
			t.Errorf("ListVaultKeys(%q) = %v, want %v", tc.gun, ids, tc.want)
		}
		for _, k := range list {
			if k.SealedPEM != nil {
				t.Errorf("ListVaultKeys row %s carries the sealed file", k.KeyID)
			}
		}
	}

	byID, err := st.VaultKeysByID(ctx, []string{"t2", "missing", "r1"})
	if err != nil {
		t.Fatal(err)
	}
	ids := vaultKeyIDs(byID)
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"r1", "t2"}) {
		t.Fatalf("VaultKeysByID = %v", ids)
	}
	if none, err := st.VaultKeysByID(ctx, nil); err != nil || len(none) != 0 {
		t.Fatalf("VaultKeysByID(nil) = %v, %v", none, err)
	}

	if err := st.DeleteVaultKey(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteVaultKey(ctx, "t1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: got %v, want ErrNotFound", err)
	}
}

func TestUserKeys(t *testing.T) {
	ctx := context.Background()
	st := openServerKeysTestStore(t)
	alice, err := st.CreateUser(ctx, "alice", "x", false)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.CreateUser(ctx, "bob", "x", false)
	if err != nil {
		t.Fatal(err)
	}
	expiry := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, k := range []UserKey{
		{UserID: alice.ID, KeyID: "k1", KeyType: "x509 certificate", Algorithm: "ECDSA P-256", Subject: "alice", NotAfter: expiry, PEM: []byte("pem1")},
		{UserID: alice.ID, KeyID: "k2", KeyType: "public key", Algorithm: "RSA 2048", PEM: []byte("pem2")},
		{UserID: bob.ID, KeyID: "k3", KeyType: "public key", Algorithm: "ECDSA P-256", PEM: []byte("pem3")},
		{UserID: bob.ID, KeyID: "k1", KeyType: "x509 certificate", Algorithm: "ECDSA P-256", Subject: "alice", NotAfter: expiry, PEM: []byte("pem1")},
	} {
		if err := st.InsertUserKey(ctx, k); err != nil {
			t.Fatalf("insert %d/%s: %v", k.UserID, k.KeyID, err)
		}
	}
	if err := st.InsertUserKey(ctx, UserKey{UserID: alice.ID, KeyID: "k2", PEM: []byte("x")}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate: got %v, want ErrConflict", err)
	}
	if err := st.InsertUserKey(ctx, UserKey{UserID: 9999, KeyID: "k9", PEM: []byte("x")}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user: got %v, want ErrNotFound", err)
	}

	k1, err := st.GetUserKey(ctx, alice.ID, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if !k1.NotAfter.Equal(expiry) || k1.Subject != "alice" || string(k1.PEM) != "pem1" || k1.CreatedAt.IsZero() {
		t.Fatalf("GetUserKey = %+v", k1)
	}
	k2, err := st.GetUserKey(ctx, alice.ID, "k2")
	if err != nil || !k2.NotAfter.IsZero() {
		t.Fatalf("GetUserKey(k2) = %+v, %v (a bare key has no expiry)", k2, err)
	}
	if _, err := st.GetUserKey(ctx, bob.ID, "k2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another user's key: got %v, want ErrNotFound", err)
	}

	list, err := st.ListUserKeys(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].KeyID != "k1" || list[1].KeyID != "k2" || list[0].Username != "alice" {
		t.Fatalf("ListUserKeys(alice) = %+v", list)
	}
	all, err := st.ListAllUserKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range all {
		got = append(got, k.Username+"/"+k.KeyID)
	}
	if !slices.Equal(got, []string{"alice/k1", "alice/k2", "bob/k3", "bob/k1"}) {
		t.Fatalf("ListAllUserKeys = %v", got)
	}
	if k, err := st.GetUserKeyByUsername(ctx, "bob", "k3"); err != nil || k.UserID != bob.ID || string(k.PEM) != "pem3" {
		t.Fatalf("GetUserKeyByUsername = %+v, %v", k, err)
	}
	if _, err := st.GetUserKeyByUsername(ctx, "alice", "k3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetUserKeyByUsername(alice, k3): got %v, want ErrNotFound", err)
	}

	owners, err := st.UserKeyOwners(ctx, []string{"k1", "k3", "unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if len(owners) != 2 || !slices.Equal(owners["k1"], []string{"alice", "bob"}) || !slices.Equal(owners["k3"], []string{"bob"}) {
		t.Fatalf("UserKeyOwners = %v", owners)
	}
	if o, err := st.UserKeyOwners(ctx, nil); err != nil || len(o) != 0 {
		t.Fatalf("UserKeyOwners(nil) = %v, %v", o, err)
	}

	if err := st.DeleteUserKey(ctx, alice.ID, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteUserKey(ctx, alice.ID, "k1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: got %v, want ErrNotFound", err)
	}
	if _, err := st.GetUserKey(ctx, bob.ID, "k1"); err != nil {
		t.Fatalf("deleting alice's registration removed bob's: %v", err)
	}

	// Deleting a user deletes their keys.
	if _, err := st.db.ExecContext(ctx, "DELETE FROM users WHERE id = ?", bob.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := st.ListUserKeys(ctx, bob.ID); err != nil || len(list) != 0 {
		t.Fatalf("keys of a deleted user: %v, %v", list, err)
	}
}

package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
)

func TestArchives(t *testing.T) {
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "db"))
	defer st.Close()
	const gun = "registry.test:5000/prod/app"
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	files := map[string][]byte{"root": []byte(`{"root":1}`), "targets/releases": []byte{0, 1, 2, 255}}
	first := store.Archive{GUN: gun, Source: "capture", NotaryURL: "https://notary.test", CapturedAt: at,
		CreatedBy: "admin", Valid: true, TrustAnchor: "trust on first use", RootKeyIDs: []string{"aa", "bb"},
		RootCanonicalIDs: []string{"cc", "dd"}, RootChain: "first", SignedTags: 3, Signers: 2}
	id1, err := st.InsertArchive(ctx, first, files)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetArchive(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	first.ID, first.CreatedAt = id1, got.CreatedAt
	if got.CreatedAt.IsZero() || !reflect.DeepEqual(*got, first) {
		t.Errorf("read back\n%+v\nwant\n%+v", *got, first)
	}
	if f, err := st.ArchiveFiles(ctx, id1); err != nil || !reflect.DeepEqual(f, files) {
		t.Errorf("files %q %v, want %q", f, err, files)
	}

	// A later capture of the same GUN, and one of another.
	second := first
	second.CapturedAt, second.PreviousID, second.RootChain, second.RootChainDetail = at.Add(time.Hour), id1, "rotated", "root 2 signed by root 1's key"
	id2, err := st.InsertArchive(ctx, second, map[string][]byte{"root": []byte("r2")})
	if err != nil {
		t.Fatal(err)
	}
	other := first
	other.GUN, other.CapturedAt = "docker.io/library/x", at.Add(30*time.Minute)
	id3, err := st.InsertArchive(ctx, other, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(as []store.Archive) []int64 {
		var out []int64
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	if all, err := st.ListArchives(ctx, ""); err != nil || !reflect.DeepEqual(ids(all), []int64{id2, id3, id1}) {
		t.Errorf("every archive, newest capture first: %v %v", ids(all), err)
	}
	if of, err := st.ListArchives(ctx, gun); err != nil || !reflect.DeepEqual(ids(of), []int64{id2, id1}) {
		t.Errorf("the GUN's archives: %v %v", ids(of), err)
	}
	for _, tt := range []struct {
		at   time.Time
		want int64
	}{{at.Add(-time.Second), 0}, {at, id1}, {at.Add(59 * time.Minute), id1}, {at.Add(2 * time.Hour), id2}} {
		a, err := st.LatestArchive(ctx, gun, tt.at)
		switch {
		case tt.want == 0 && !errors.Is(err, store.ErrNotFound):
			t.Errorf("latest at %s: %v %v, want none", tt.at, a, err)
		case tt.want != 0 && (err != nil || a.ID != tt.want):
			t.Errorf("latest at %s: %v %v, want %d", tt.at, a, err, tt.want)
		}
	}

	// Deleting the first keeps the second, without its link; the files go.
	if err := st.DeleteArchive(ctx, id1); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteArchive(ctx, id1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting again: %v", err)
	}
	if _, err := st.GetArchive(ctx, id1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted archive read: %v", err)
	}
	if f, err := st.ArchiveFiles(ctx, id1); err != nil || len(f) != 0 {
		t.Errorf("files of a deleted archive: %q %v", f, err)
	}
	if a, err := st.GetArchive(ctx, id2); err != nil || a.PreviousID != 0 || a.RootChain != "rotated" {
		t.Errorf("the later capture after deleting its previous one: %+v %v", a, err)
	}
}

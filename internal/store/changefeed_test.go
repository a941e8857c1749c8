package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
)

func TestChangefeedCursorAndGUNChanges(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	st := open(t, path)
	const a, b = "https://a.example", "https://b.example"
	if id, err := st.ChangefeedCursor(ctx, a); err != nil || id != "" {
		t.Fatalf("fresh cursor %q, %v", id, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	err := st.SaveChangefeed(ctx, a, "7", []store.GUNChange{
		{GUN: "reg/x/one", ChangeID: "5", ChangedAt: at, Category: "update"},
		{GUN: "reg/x/two", ChangeID: "7", ChangedAt: at, Category: "deletion"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := st.ChangefeedCursor(ctx, a); id != "7" {
		t.Errorf("cursor %q, want 7", id)
	}
	if id, _ := st.ChangefeedCursor(ctx, b); id != "" {
		t.Errorf("another server's cursor %q, want empty", id)
	}
	if got, err := st.LastGUNChange(ctx, a, "reg/x/one"); err != nil || !got.Equal(at) {
		t.Errorf("last change %s, %v; want %s", got, err, at)
	}
	for _, gun := range []string{"reg/x/two", "reg/x/none"} {
		if got, err := st.LastGUNChange(ctx, a, gun); err != nil || !got.IsZero() {
			t.Errorf("%s: last change %s, %v; want zero", gun, got, err)
		}
	}
	// A later batch moves the cursor and replaces a GUN's record; it survives a reopen.
	later := at.Add(time.Hour)
	if err := st.SaveChangefeed(ctx, a, "9", []store.GUNChange{{GUN: "reg/x/two", ChangeID: "9", ChangedAt: later, Category: "update"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = open(t, path)
	defer st.Close()
	if id, _ := st.ChangefeedCursor(ctx, a); id != "9" {
		t.Errorf("cursor after reopen %q, want 9", id)
	}
	if got, _ := st.LastGUNChange(ctx, a, "reg/x/two"); !got.Equal(later) {
		t.Errorf("re-created GUN: last change %s, want %s", got, later)
	}
}

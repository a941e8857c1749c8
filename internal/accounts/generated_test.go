package accounts

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/trustdeck/trustdeck/internal/store"
)

// The first admin's generated password is marked until it is changed; a
// password given by the operator is not.
func TestGeneratedAdminPasswordIsMarkedUntilChanged(t *testing.T) {
	ctx := context.Background()
	for _, given := range []string{"", "operator-password-1"} {
		st, err := store.Open(ctx, filepath.Join(t.TempDir(), "trustdeck.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s := New(st)
		var logs bytes.Buffer
		if err := s.EnsureAdmin(ctx, given, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatal(err)
		}
		password := given
		if given == "" {
			password = regexp.MustCompile(`password=(\S+)`).FindStringSubmatch(logs.String())[1]
		}
		u, err := s.Authenticate(ctx, "admin", password, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if generated, err := s.PasswordGenerated(ctx, u); err != nil || generated != (given == "") {
			t.Fatalf("given %q: generated %v (%v)", given, generated, err)
		}
		if err := s.ChangePassword(ctx, u, password, "a-new-password-2", "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		if generated, err := s.PasswordGenerated(ctx, u); err != nil || generated {
			t.Errorf("given %q: still marked generated after a change (%v)", given, err)
		}
	}
}

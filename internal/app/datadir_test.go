package app_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testpg"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

// A data directory that others may read (one made before trustdeck, with
// the usual umask) is reported at every start, and the database files in it
// are the owner's alone all the same.
func TestDataDirModes(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022))
	const warning = "the data directory is open to other users"
	s := testserver.Start(t) // its data directory exists beforehand, mode 0755
	if fi, err := os.Stat(s.DataDir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("data directory: %v %v, want mode 0755", fi.Mode(), err)
	}
	s.MustCreateUser(t, "alice", "alice-password-1", "prod", "write") // a write
	if !strings.Contains(s.Logs.String(), warning) {
		t.Errorf("no warning about a data directory of mode 0755:\n%s", s.Logs.String())
	}
	if testpg.Enabled() {
		// With --database, nothing but secrets/ and tls/ is kept there.
		entries, err := os.ReadDir(s.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{"secrets", "tls"}) {
			t.Errorf("data directory with --database holds %v, want [secrets tls]", names)
		}
	}
	for _, f := range sqliteFiles() {
		fi, err := os.Stat(filepath.Join(s.DataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s has mode %o, want 600", f, got)
		}
	}

	s.Stop()
	if err := os.Chmod(s.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	seen := len(s.Logs.String())
	s.Restart()
	if logs := s.Logs.String()[seen:]; strings.Contains(logs, warning) {
		t.Errorf("warned about a data directory of mode 0700:\n%s", logs)
	}
}

// sqliteFiles are the database files in the data directory: none with
// --database (PostgreSQL).
func sqliteFiles() []string {
	if testpg.Enabled() {
		return nil
	}
	return []string{"trustdeck.db", "trustdeck.db-wal", "trustdeck.db-shm"}
}

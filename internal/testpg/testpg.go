// Package testpg runs throwaway PostgreSQL clusters for tests: Debian's
// postgresql package (installed with apt-get when missing, as root), a
// cluster in a temporary directory run as the postgres OS user on a free
// loopback port. Tests of notary-server on PostgreSQL start their own
// (Start); the trustdeck suite's second pass (TRUSTDECK_TEST_DATABASE=postgres)
// gives every store and server its own database on one cluster per test
// process (Database, Location).
package testpg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// EnvDatabase selects the database of the trustdeck servers and stores the
// tests start: "postgres" for a fresh PostgreSQL database each, anything
// else for SQLite in their data directory.
const EnvDatabase = "TRUSTDECK_TEST_DATABASE"

// Enabled reports whether this test process runs trustdeck on PostgreSQL.
func Enabled() bool { return os.Getenv(EnvDatabase) == "postgres" }

// binGlob finds the server programs of Debian's postgresql package.
const binGlob = "/usr/lib/postgresql/*/bin/initdb"

// binDir is the bin directory of the newest installed PostgreSQL ("" when
// there is none).
func binDir() string {
	m, _ := filepath.Glob(binGlob)
	if len(m) == 0 {
		return ""
	}
	slices.SortFunc(m, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return va - vb
	})
	return filepath.Dir(m[len(m)-1])
}

var installMu sync.Mutex

// Available installs Debian's postgresql package when its server programs
// are missing (as root, with apt-get) and says why a cluster cannot be run
// ("" when it can). The cluster runs as the postgres OS user, so the tests
// must be root.
func Available() string {
	installMu.Lock()
	defer installMu.Unlock()
	if os.Geteuid() != 0 {
		return "the throwaway cluster runs as the postgres OS user and we are not root"
	}
	if binDir() == "" {
		apt, err := exec.LookPath("apt-get")
		if err != nil {
			return "no " + binGlob + " and apt-get is not available"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", apt+" install -y -q --no-install-recommends postgresql || ("+
			apt+" update -q && "+apt+" install -y -q --no-install-recommends postgresql)")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Sprintf("apt-get install postgresql failed: %v\n%s", err, out)
		}
		if binDir() == "" {
			return "the postgresql package installed no " + binGlob
		}
	}
	if _, err := user.Lookup("postgres"); err != nil {
		return "there is no postgres OS user: " + err.Error()
	}
	return ""
}

// Require makes PostgreSQL available or skips the test loudly (what is
// missing and how to install it).
func Require(t testing.TB) {
	t.Helper()
	if why := Available(); why != "" {
		msg := "SKIPPING a test on PostgreSQL: " + why +
			"; install it with: sudo apt-get install postgresql (or run `make deps-postgres` as root), and run the tests as root"
		fmt.Fprintf(os.Stderr, "\n!!! %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
}

// Cluster is a running throwaway PostgreSQL cluster. Local (socket)
// connections of the postgres user are trusted; TCP connections need a
// password.
type Cluster struct {
	Dir  string // its directory: data/, postgres.log and the socket
	Port string // on 127.0.0.1
	bin  string
	cred *syscall.Credential
	// stdin of the supervisor (start): closing it stops the cluster and
	// removes Dir, which also happens when this process exits.
	stdin   *os.File
	waitErr chan error
	dbs     atomic.Int64
	mu      sync.Mutex // one createDatabase at a time: users are created once
}

// Start starts a cluster for this test (Require first); it is stopped and
// removed when the test ends, its log shown if the test failed.
func Start(t testing.TB) *Cluster {
	t.Helper()
	c, err := StartCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(c.Dir, "postgres.log"))
			t.Logf("postgres log (last 4000 bytes):\n%s", log[max(0, len(log)-4000):])
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stop the PostgreSQL cluster: %v", err)
		}
	})
	return c
}

// StartCluster initialises a cluster in a new temporary directory and
// starts it under a supervisor shell that stops it and removes the
// directory once its standard input closes: when Stop closes it, or when
// this process ends, however it ends (a test binary killed at its timeout
// included). Call Available first.
func StartCluster() (*Cluster, error) {
	bin := binDir()
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	// Not under t.TempDir: its parents are root's, mode 0700.
	dir, err := os.MkdirTemp("", "trustdeck-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin, cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	fail := func(err error) (*Cluster, error) {
		log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w\npostgres log:\n%s", err, log)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return fail(err)
	}
	if _, err := c.run(nil, "initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "-E", "UTF8",
		"--locale=C", "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256"); err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	c.Port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	const supervisor = `set -e
"$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/postgres.log" -w -t 60 -o "$PGOPTS" start >/dev/null
echo ready
cat >/dev/null || true
"$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
rm -rf "$PGDIR"`
	cmd := exec.Command("/bin/sh", "-c", supervisor)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin", "LC_ALL=C", "PGBIN=" + bin, "PGDIR=" + dir,
		// Throwaway data: no durability; room for the connections of many
		// servers of one test process.
		"PGOPTS=-p " + c.Port + " -k " + dir + " -c listen_addresses=127.0.0.1 -c fsync=off" +
			" -c synchronous_commit=off -c full_page_writes=off -c max_connections=500"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	cmd.Stdin = stdinR
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	stdinR.Close()
	c.stdin, c.waitErr = stdinW, make(chan error, 1)
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		stdinW.Close()
		return fail(fmt.Errorf("start PostgreSQL: %v", cmd.Wait()))
	}
	go func() { c.waitErr <- cmd.Wait() }()
	return c, nil
}

// Stop stops the cluster and removes its directory.
func (c *Cluster) Stop() error {
	if c.stdin == nil {
		return nil
	}
	c.stdin.Close()
	c.stdin = nil
	select {
	case err := <-c.waitErr:
		return err
	case <-time.After(time.Minute):
		return errors.New("the PostgreSQL cluster did not stop within a minute")
	}
}

// BinDir is the directory of PostgreSQL's programs (psql, pg_dump, …).
func (c *Cluster) BinDir() string { return c.bin }

// run runs one of PostgreSQL's programs as the postgres OS user.
func (c *Cluster) run(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append([]string{"HOME=" + c.Dir, "PATH=" + c.bin + ":/usr/bin:/bin", "LC_ALL=C"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Psql runs SQL statements in database db as the postgres superuser
// (over the socket) and returns the unaligned, tuples-only output.
func (c *Cluster) Psql(t testing.TB, db string, sql ...string) string {
	t.Helper()
	out, err := c.psql(db, sql...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (c *Cluster) psql(db string, sql ...string) (string, error) {
	args := []string{"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", c.Dir, "-p", c.Port, "-U", "postgres", "-d", db}
	for _, s := range sql {
		args = append(args, "-c", s)
	}
	out, err := c.run(nil, "psql", args...)
	return strings.TrimSpace(out), err
}

// NewDatabase creates a user with password (unless it exists; it may
// create databases) and a database db it owns, and returns the database's
// URL over TCP.
func (c *Cluster) NewDatabase(user, password, db string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.psql("postgres",
		"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '"+user+"') THEN CREATE USER "+user+
			" CREATEDB PASSWORD '"+password+"'; END IF; END$$",
		"CREATE DATABASE "+db+" OWNER "+user); err != nil {
		return "", err
	}
	return "postgres://" + user + ":" + password + "@127.0.0.1:" + c.Port + "/" + db + "?sslmode=disable", nil
}

var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Database returns the URL of a new, empty database on this test
// process's cluster (started at the first call; it stops and is removed
// when the process ends). It fails the test when PostgreSQL cannot be run.
func Database(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		if why := Available(); why != "" {
			shared.err = errors.New(why)
			return
		}
		shared.c, shared.err = StartCluster()
	})
	if shared.err != nil {
		t.Fatalf("%s=postgres: no PostgreSQL cluster: %v", EnvDatabase, shared.err)
	}
	c := shared.c
	url, err := c.NewDatabase("trustdeck", "trustdeck-test-pass", fmt.Sprintf("trustdeck_%d", c.dbs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// Location is where a test's store lives: a new PostgreSQL database when
// the process runs on PostgreSQL (Enabled), else sqlitePath.
func Location(t testing.TB, sqlitePath string) string {
	t.Helper()
	if Enabled() {
		return Database(t)
	}
	return sqlitePath
}

// ServeArgs are the flags of `trustdeck serve` that give a server of this
// test its store: --database and a new database when the process runs on
// PostgreSQL (Enabled), none (SQLite in --data) otherwise.
func ServeArgs(t testing.TB) []string {
	t.Helper()
	if Enabled() {
		return []string{"--database", Database(t)}
	}
	return nil
}

// ClusterFiles checkpoints this process's cluster (Database) and lists
// every file of it, for tests that look for what must never be stored in
// clear.
func ClusterFiles(t testing.TB) []string {
	t.Helper()
	if shared.c == nil {
		t.Fatal("testpg: ClusterFiles before Database")
	}
	shared.c.Psql(t, "postgres", "CHECKPOINT")
	var out []string
	err := filepath.WalkDir(shared.c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

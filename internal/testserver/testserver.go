// Package testserver starts a real trustdeck (the same wiring as `trustdeck
// serve`) on a free loopback port with a temporary data directory, for
// integration tests in any package.
package testserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/app"
	"github.com/trustdeck/trustdeck/internal/config"
	"github.com/trustdeck/trustdeck/internal/testpg"
)

// AdminPassword is the password of the first account, admin.
const AdminPassword = "admin-password-123"

// Server is a running trustdeck.
type Server struct {
	t       testing.TB
	Addr    string // 127.0.0.1:port
	URL     string // https://127.0.0.1:port
	DataDir string
	// Database is the server's PostgreSQL URL (--database); "" when its
	// store is SQLite in DataDir.
	Database string
	CAFile   string
	App      *app.App
	Logs     *SyncBuffer
	args     []string
	opts     []app.Option
	cancel   context.CancelFunc
	done     chan error
}

// Start runs trustdeck with extra `serve` flags; it stops at test cleanup.
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	return StartWith(t, nil, extraArgs...)
}

// StartWith is Start with options of the wiring (app.Option). When the
// tests run on PostgreSQL (TRUSTDECK_TEST_DATABASE=postgres), the server's
// store is a new database of its own (unless extraArgs name one): a
// restart keeps it.
func StartWith(t testing.TB, opts []app.Option, extraArgs ...string) *Server {
	t.Helper()
	if !slices.Contains(extraArgs, "--database") {
		extraArgs = append(testpg.ServeArgs(t), extraArgs...)
	}
	s := &Server{t: t, DataDir: t.TempDir(), Database: argValue(extraArgs, "--database"), Logs: &SyncBuffer{},
		args: extraArgs, opts: opts}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.URL = "https://" + s.Addr
	s.start(ln)
	t.Cleanup(s.Stop)
	return s
}

// Attach is a Server for a trustdeck that runs elsewhere (the built
// binary, in another process) on addr, whose clients trust caFile: the API
// and browser helpers work against it. App is nil; Stop and Restart are
// the other process's business.
func Attach(t testing.TB, addr, caFile, dataDir string) *Server {
	return &Server{t: t, Addr: addr, URL: "https://" + addr, CAFile: caFile, DataDir: dataDir, Logs: &SyncBuffer{}}
}

func (s *Server) start(ln net.Listener) {
	s.t.Helper()
	args := append([]string{"--addr", s.Addr, "--data", s.DataDir, "--public-host", s.Addr}, s.args...)
	env := func(k string) string {
		switch k {
		case "TRUSTDECK_ADMIN_PASSWORD":
			return AdminPassword
		case "TRUSTDECK_REGISTRY_PASSWORD", "TRUSTDECK_REGISTRY_EVENTS_TOKEN":
			// Secrets the configuration takes from the environment only
			// (tests set them with t.Setenv).
			return os.Getenv(k)
		}
		return ""
	}
	cfg, err := config.ParseServe(args, env, io.Discard)
	if err != nil {
		s.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(context.Background(), cfg, log, s.opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.App, s.CAFile = a, a.CAFile
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan error, 1)
	go func() {
		err := a.ServeListener(ctx, ln, nil)
		a.Close()
		s.done <- err
	}()
}

// Stop shuts the server down (idempotent).
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("server stopped with error: %v", err)
		}
	case <-time.After(30 * time.Second):
		s.t.Error("server did not stop within 30s")
	}
}

// Restart stops the server and starts it again on the same port and data.
func (s *Server) Restart() {
	s.t.Helper()
	if s.App == nil && s.cancel == nil {
		s.t.Fatal("testserver: Restart of a trustdeck Attach'ed to: restart its process")
	}
	s.Stop()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.start(ln)
}

// TLSConfig trusts the server's generated CA.
func (s *Server) TLSConfig() *tls.Config {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool}
}

// Client returns an HTTP client that trusts the CA, keeps cookies and does
// not follow redirects (tests assert them).
func (s *Server) Client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: s.TLSConfig()},
		Jar:       jar,
		Timeout:   60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// SyncBuffer is a goroutine-safe log sink.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything logged so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

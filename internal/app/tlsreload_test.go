package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustdeck/trustdeck/internal/config"
	"github.com/trustdeck/trustdeck/internal/testpg"
)

// A running server serves a reissued certificate without a restart: the
// generated one when it is due (here: removed), one given with --tls-cert
// when its files are replaced; a broken replacement keeps the current one.
func TestReloadTLS(t *testing.T) {
	t.Setenv("TRUSTDECK_ADMIN_PASSWORD", "reload-test-password-1")
	served := func(a *App) []byte {
		t.Helper()
		c, err := a.TLS.GetCertificate(&tls.ClientHelloInfo{ServerName: "localhost"})
		if err != nil || c == nil || len(c.Certificate) == 0 {
			t.Fatalf("GetCertificate: %v %v", c, err)
		}
		return c.Certificate[0]
	}
	start := func(args ...string) *App {
		t.Helper()
		cfg, err := config.ParseServe(append(append([]string{"--data", t.TempDir(), "--addr", "127.0.0.1:0"}, testpg.ServeArgs(t)...), args...),
			func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}

	// Generated: the server certificate is reissued from the same CA.
	a := start()
	before := served(a)
	if err := os.Remove(a.certFile); err != nil {
		t.Fatal(err)
	}
	a.reloadTLS()
	after := served(a)
	if bytes.Equal(before, after) {
		t.Fatal("the reissued certificate is not served")
	}
	if _, err := os.Stat(a.certFile); err != nil {
		t.Fatalf("not written again: %v", err)
	}

	// Given: the files are read again; garbage in them changes nothing.
	certFile, keyFile := filepath.Join(t.TempDir(), "c.pem"), filepath.Join(t.TempDir(), "k.pem")
	copyFile(t, a.certFile, certFile)
	copyFile(t, a.keyFile, keyFile)
	b := start("--tls-cert", certFile, "--tls-key", keyFile)
	if !bytes.Equal(served(b), after) {
		t.Fatal("the given certificate is not served")
	}
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.reloadTLS()
	if !bytes.Equal(served(b), after) {
		t.Fatal("a broken replacement replaced the certificate")
	}
	other := start()
	copyFile(t, other.certFile, certFile)
	copyFile(t, other.keyFile, keyFile)
	b.reloadTLS()
	if got := served(b); bytes.Equal(got, after) || !bytes.Equal(got, served(other)) {
		t.Fatal("the replaced certificate is not served")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

package app_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// TestPprof: --pprof-addr serves Go's profiler on its own loopback listener,
// never on the public one; without it there is no profiler at all.
func TestPprof(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	s := testserver.Start(t, "--pprof-addr", addr)
	// The server starts serving in the background.
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err = http.Get("http://" + addr + "/debug/pprof/cmdline"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("profiler: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("GET /debug/pprof/cmdline: %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(s.Logs.String(), "profiler on") {
		t.Errorf("the log does not warn that the profiler is on:\n%s", s.Logs.String())
	}

	for _, srv := range []*testserver.Server{s, testserver.Start(t)} {
		resp, err := srv.Client().Get(srv.URL + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s/debug/pprof/: %d, want 404", srv.URL, resp.StatusCode)
		}
	}
	s.Stop()
	if _, err := http.Get("http://" + addr + "/debug/pprof/cmdline"); err == nil {
		t.Error("the profiler still answers after the server stopped")
	}
}

// Package testregistry runs Debian's docker-registry (distribution 2.8) for
// tests: on a free loopback port with TLS from a test CA, storage in a
// temporary directory with deletion enabled, token auth whose realm is a
// trustdeck, and notifications pointed at a trustdeck. Client helpers push
// random images and multi-platform indexes and seed many tags fast.
//
// The order of a test: New (the address and CA are known, nothing runs),
// start trustdeck with --registry-host r.Addr, then r.Start(ForTrustdeck(…)).
// Stop and Restart keep the port and the storage.
package testregistry

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/app"
	"github.com/trustdeck/trustdeck/internal/testserver"
	"github.com/trustdeck/trustdeck/internal/tlsutil"
)

// Bin is Debian's registry binary (package docker-registry).
const Bin = "/usr/bin/docker-registry"

// StrictEnv, when set (CI sets it), turns a missing registry from a skip
// into a failure.
const StrictEnv = "TRUSTDECK_E2E_STRICT"

// CatalogMaxEntries is the registry's largest catalog page: above the 1000
// that go-containerregistry asks for by default (a smaller maximum answers
// 400 to such a page).
const CatalogMaxEntries = 10000

// Options configure a registry. The zero value is a registry without
// authentication and without notifications.
type Options struct {
	// Realm is the token service URL (trustdeck's https://<addr>/auth/token);
	// "" turns authentication off.
	Realm string
	// Service and Issuer of the tokens the registry accepts (default
	// "trustdeck", what trustdeck issues).
	Service, Issuer string
	// RootCertBundle is the PEM certificate of the token signing key
	// (trustdeck's <data>/tls/token-signing.crt).
	RootCertBundle string
	// NotifyURL is the notification endpoint (trustdeck's POST
	// /api/v1/registry/events); "" sends none. NotifyToken, when set, goes in
	// `Authorization: Bearer <token>`.
	NotifyURL, NotifyToken string
	// TrustCAFile is the CA of the realm and of the notification endpoint
	// (trustdeck's): the registry process trusts it for notifications
	// (SSL_CERT_FILE), and Client and CABundle trust it beside the
	// registry's own CA.
	TrustCAFile string
	// LogLevel of the registry (default "warn"; its log is printed when a
	// test fails).
	LogLevel string
}

// ForTrustdeck is the configuration of a registry whose token realm and
// notification endpoint are s, notifications authenticated with
// eventsToken (trustdeck's --registry-events-token; "" sends no
// Authorization header).
//
// The realm names trustdeck by the host name localhost (its certificate
// holds it), not 127.0.0.1: go-containerregistry (crane, and the clients
// built on it) refuses a token realm on a private or loopback IP address
// unless it is the registry's own host:port.
func ForTrustdeck(s *testserver.Server, eventsToken string) Options {
	_, port, _ := net.SplitHostPort(s.Addr)
	return Options{
		Realm:          "https://localhost:" + port + "/auth/token",
		Service:        app.TokenService,
		Issuer:         app.TokenIssuer,
		RootCertBundle: s.App.TokenCert,
		NotifyURL:      s.URL + "/api/v1/registry/events",
		NotifyToken:    eventsToken,
		TrustCAFile:    s.CAFile,
	}
}

// Registry is one docker-registry process, running or not.
type Registry struct {
	t testing.TB
	// Addr is 127.0.0.1:<port>: the registry host of image names.
	Addr string
	// URL is https://127.0.0.1:<port>.
	URL string
	// CAFile is the PEM certificate of the CA that signed the registry's
	// TLS certificate.
	CAFile string
	// Dir holds the configuration, certificates and the log; StorageDir
	// the registry's storage (kept across Stop and Restart).
	Dir, StorageDir string

	opts    Options
	tlsCert string
	tlsKey  string
	mu      sync.Mutex
	cmd     *exec.Cmd
	stopped chan struct{}
	log     *testserver.SyncBuffer
}

// Require makes sure Bin exists: as root it installs Debian's
// docker-registry package with apt-get (as `make deps` does); otherwise it
// skips the test loudly, or fails it when StrictEnv is set.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Bin); err == nil {
		return
	}
	skip := func(why string) {
		msg := "SKIPPING the registry tests: " + why +
			"; install it with: sudo apt-get install --no-install-recommends docker-registry (or run `make deps-registry` as root)"
		fmt.Fprintf(os.Stderr, "\n!!! %s: %s\n\n", t.Name(), msg)
		if os.Getenv(StrictEnv) != "" {
			t.Fatalf("%s (%s is set: a missing registry fails)", msg, StrictEnv)
		}
		t.Skip(msg)
	}
	if os.Geteuid() != 0 {
		skip(Bin + " is not installed and we are not root")
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil {
		skip(Bin + " is not installed and apt-get is not available")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	install := apt + " install -y -q --no-install-recommends docker-registry"
	cmd := exec.CommandContext(ctx, "sh", "-c", install+" || ("+apt+" update -q && "+install+")")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		skip(fmt.Sprintf("apt-get install docker-registry failed: %v\n%s", err, out))
	}
	if _, err := os.Stat(Bin); err != nil {
		skip("the docker-registry package installed no " + Bin)
	}
}

// New prepares a registry without starting it (Require first): a free
// loopback port, a test CA and a certificate for 127.0.0.1, an empty
// storage directory. The registry is stopped at test cleanup, and its log
// printed when the test failed.
func New(t testing.TB) *Registry {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	files, err := tlsutil.Ensure(filepath.Join(dir, "tls"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &Registry{t: t, Addr: addr, URL: "https://" + addr, CAFile: files.CACert, Dir: dir,
		StorageDir: filepath.Join(dir, "storage"), tlsCert: files.Cert, tlsKey: files.Key, log: &testserver.SyncBuffer{}}
	if err := os.Mkdir(r.StorageDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() {
			l := r.log.String()
			t.Logf("docker-registry log (last 8000 bytes):\n%s", l[max(0, len(l)-8000):])
		}
	})
	return r
}

// Start writes the configuration for o and starts the registry, waiting
// until it answers on /v2/. It fails the test if the registry runs already.
func (r *Registry) Start(o Options) {
	r.t.Helper()
	if o.Service == "" {
		o.Service = app.TokenService
	}
	if o.Issuer == "" {
		o.Issuer = app.TokenIssuer
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	r.opts = o
	conf, err := json.MarshalIndent(r.config(), "", "  ")
	if err != nil {
		r.t.Fatal(err)
	}
	// JSON is YAML: the registry reads it as its config.yml.
	if err := os.WriteFile(r.ConfigFile(), conf, 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.run()
}

// Restart starts the registry again, after Stop, with the last options, on
// the same port and storage.
func (r *Registry) Restart() {
	r.t.Helper()
	r.Stop()
	r.run()
}

// ConfigFile is the path of the registry's configuration.
func (r *Registry) ConfigFile() string { return filepath.Join(r.Dir, "config.yml") }

// Options returns the options of the last Start.
func (r *Registry) Options() Options { return r.opts }

// Log returns what the registry logged so far.
func (r *Registry) Log() string { return r.log.String() }

// config is distribution's configuration for r.opts.
func (r *Registry) config() map[string]any {
	return Config(r.opts, r.Addr, r.StorageDir, r.tlsCert, r.tlsKey, "trustdeck-test-registry-"+filepath.Base(r.Dir))
}

// Config is distribution's configuration of a registry on addr, storing in
// storageDir, serving TLS with certFile and keyFile, for o (Service, Issuer
// and LogLevel set); secret signs upload state (keep it across restarts).
// JSON is YAML: marshalled, it is the registry's config.yml.
func Config(o Options, addr, storageDir, certFile, keyFile, secret string) map[string]any {
	c := map[string]any{
		"version": "0.1",
		"log": map[string]any{"level": o.LogLevel, "formatter": "text",
			"accesslog": map[string]any{"disabled": true}},
		"storage": map[string]any{
			"filesystem": map[string]any{"rootdirectory": storageDir},
			"delete":     map[string]any{"enabled": true},
			"maintenance": map[string]any{
				"uploadpurging": map[string]any{"enabled": false},
			},
		},
		"http": map[string]any{
			"addr": addr,
			"tls":  map[string]any{"certificate": certFile, "key": keyFile},
			// One secret across restarts: upload state signed before a
			// restart stays valid.
			"secret":  secret,
			"headers": map[string]any{"X-Content-Type-Options": []string{"nosniff"}},
		},
		"catalog": map[string]any{"maxentries": CatalogMaxEntries},
	}
	if o.Realm != "" {
		c["auth"] = map[string]any{"token": map[string]any{
			"realm": o.Realm, "service": o.Service, "issuer": o.Issuer, "rootcertbundle": o.RootCertBundle}}
	}
	if o.NotifyURL != "" {
		headers := map[string][]string{}
		if o.NotifyToken != "" {
			headers["Authorization"] = []string{"Bearer " + o.NotifyToken}
		}
		c["notifications"] = map[string]any{"endpoints": []any{map[string]any{
			"name": "trustdeck", "url": o.NotifyURL, "headers": headers,
			"timeout": "5s", "threshold": 3, "backoff": "1s",
			// distribution 2.8 applies ignore.actions only when
			// ignoredmediatypes is not empty: blobs (octet-stream) are
			// not wanted either.
			"ignoredmediatypes": []string{"application/octet-stream"},
			"ignore":            map[string]any{"actions": []string{"pull"}},
		}}}
	}
	return c
}

func (r *Registry) run() {
	r.t.Helper()
	r.mu.Lock()
	if r.cmd != nil {
		r.mu.Unlock()
		r.t.Fatal("testregistry: the registry runs already")
	}
	cmd := exec.Command(Bin, "serve", r.ConfigFile())
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + r.Dir}
	if r.opts.TrustCAFile != "" {
		// Notifications go out through Go's default transport: it trusts
		// the system's roots, which SSL_CERT_FILE replaces.
		cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+r.opts.TrustCAFile)
	}
	cmd.Stdout, cmd.Stderr = r.log, r.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.mu.Unlock()
		r.t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() { cmd.Wait(); close(stopped) }()
	r.cmd, r.stopped = cmd, stopped
	r.mu.Unlock()

	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: r.TLSConfig()}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(r.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		select {
		case <-stopped:
			r.t.Fatalf("docker-registry exited at start:\n%s", r.log.String())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("docker-registry did not answer within 20s (last error %v):\n%s", err, r.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the registry (idempotent): SIGTERM, then SIGKILL after 5 s.
func (r *Registry) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.stopped:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-r.stopped
	}
	r.cmd = nil
}

// Running reports whether the registry process runs.
func (r *Registry) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd != nil
}

// TLSConfig trusts the registry's CA and Options.TrustCAFile.
func (r *Registry) TLSConfig() *tls.Config {
	r.t.Helper()
	pool, err := tlsutil.CAPool(r.CABundle())
	if err != nil {
		r.t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool}
}

// CABundle returns the path of a PEM file holding the registry's CA and
// Options.TrustCAFile (trustdeck's, the realm's): SSL_CERT_FILE for clients
// such as crane and docker login, which talk to both.
func (r *Registry) CABundle() string {
	r.t.Helper()
	var b bytes.Buffer
	for _, f := range []string{r.CAFile, r.opts.TrustCAFile} {
		if f == "" {
			continue
		}
		pem, err := os.ReadFile(f)
		if err != nil {
			r.t.Fatal(err)
		}
		b.Write(bytes.TrimSpace(pem))
		b.WriteByte('\n')
	}
	p := filepath.Join(r.Dir, "ca-bundle.pem")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		r.t.Fatal(err)
	}
	return p
}

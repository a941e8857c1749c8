package tlsutil

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustEnsure(t *testing.T, dir string, hosts []string) Files {
	t.Helper()
	f, err := Ensure(dir, hosts)
	if err != nil {
		t.Fatalf("Ensure(%q): %v", hosts, err)
	}
	return f
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := readCert(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func verifyFor(t *testing.T, f Files, name string) error {
	t.Helper()
	pool, err := CAPool(f.CACert)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mustCert(t, f.Cert).Verify(x509.VerifyOptions{
		DNSName:   name,
		Roots:     pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

func TestEnsureGeneratesVerifiableCertificates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	f := mustEnsure(t, dir, []string{"notary.example.com:4443", "10.1.2.3", "[fd00::5]:443", "Registry.Local."})

	for _, name := range []string{"localhost", "127.0.0.1", "::1", "notary.example.com", "10.1.2.3", "fd00::5", "registry.local"} {
		t.Run(name, func(t *testing.T) {
			if err := verifyFor(t, f, name); err != nil {
				t.Errorf("server certificate does not verify for %s: %v", name, err)
			}
		})
	}
	for _, name := range []string{"example.com", "10.1.2.4", "notary.example.com.evil"} {
		if err := verifyFor(t, f, name); err == nil {
			t.Errorf("server certificate verifies for unrequested name %s", name)
		}
	}

	ca := mustCert(t, f.CACert)
	if !ca.IsCA || ca.Subject.CommonName != "trustdeck local CA" {
		t.Errorf("CA: IsCA=%v CN=%q", ca.IsCA, ca.Subject.CommonName)
	}
	if got := ca.NotAfter.Sub(time.Now()); got < 729*24*time.Hour || got > 731*24*time.Hour {
		t.Errorf("CA valid for %v more, want 2 years", got)
	}
	srv := mustCert(t, f.Cert)
	if got := srv.NotAfter.Sub(time.Now()); got < 364*24*time.Hour || got > 366*24*time.Hour {
		t.Errorf("server certificate valid for %v more, want 1 year", got)
	}
	if srv.IsCA {
		t.Error("server certificate is a CA")
	}
	if srv.Subject.CommonName != "notary.example.com" {
		t.Errorf("server CN %q, want the first requested host", srv.Subject.CommonName)
	}
}

func TestEnsureFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	mustEnsure(t, dir, nil)
	want := map[string]os.FileMode{
		"":             0o700 | os.ModeDir,
		CACertFile:     0o644,
		CAKeyFile:      0o600,
		ServerCertFile: 0o644,
		ServerKeyFile:  0o600,
	}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", filepath.Join(dir, name), fi.Mode(), mode)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Errorf("directory holds %d entries, want 4 (no temporary files left)", len(entries))
	}
}

func TestEnsureReusesFiles(t *testing.T) {
	dir := t.TempDir()
	hosts := []string{"trust.example", "192.168.1.10:4443"}
	f1 := mustEnsure(t, dir, hosts)
	before := map[string][]byte{}
	for _, p := range []string{f1.CACert, f1.Cert, f1.Key, filepath.Join(dir, CAKeyFile)} {
		before[p] = mustRead(t, p)
	}

	for _, again := range [][]string{hosts, {"192.168.1.10", "TRUST.example:443"}, nil, {"localhost"}} {
		f2 := mustEnsure(t, dir, again)
		if f2 != f1 {
			t.Errorf("paths changed: %+v then %+v", f1, f2)
		}
		for p, b := range before {
			if !bytes.Equal(mustRead(t, p), b) {
				t.Errorf("Ensure(%q) rewrote %s", again, p)
			}
		}
	}
}

// A host the CA's name constraints permit (a subdomain of its host, a
// loopback address) gets a server certificate from the same CA.
func TestEnsureReissuesServerCertForNewHost(t *testing.T) {
	dir := t.TempDir()
	f := mustEnsure(t, dir, []string{"a.example"})
	caBefore := mustRead(t, f.CACert)
	caKeyBefore := mustRead(t, filepath.Join(dir, CAKeyFile))
	certBefore := mustRead(t, f.Cert)
	keyBefore := mustRead(t, f.Key)

	mustEnsure(t, dir, []string{"a.example", "api.a.example:4443", "127.0.0.2", "app.localhost"})

	if !bytes.Equal(mustRead(t, f.CACert), caBefore) || !bytes.Equal(mustRead(t, filepath.Join(dir, CAKeyFile)), caKeyBefore) {
		t.Fatal("the CA changed")
	}
	if bytes.Equal(mustRead(t, f.Cert), certBefore) || bytes.Equal(mustRead(t, f.Key), keyBefore) {
		t.Fatal("the server certificate was not reissued")
	}
	for _, name := range []string{"a.example", "api.a.example", "127.0.0.2", "app.localhost", "localhost"} {
		if err := verifyFor(t, f, name); err != nil {
			t.Errorf("reissued certificate does not verify for %s: %v", name, err)
		}
	}
}

// A host outside the CA's name constraints cannot be served from it: Ensure
// fails and says what to do, and changes nothing.
func TestEnsureRefusesHostOutsideTheCA(t *testing.T) {
	dir := t.TempDir()
	f := mustEnsure(t, dir, []string{"a.example"})
	before := map[string][]byte{}
	for _, p := range []string{f.CACert, f.Cert, f.Key, filepath.Join(dir, CAKeyFile)} {
		before[p] = mustRead(t, p)
	}
	for _, hosts := range [][]string{{"b.example"}, {"a.example", "10.0.0.1"}, {"example"}} {
		_, err := Ensure(dir, hosts)
		if err == nil || !strings.Contains(err.Error(), "move the directory") {
			t.Errorf("Ensure(%q) = %v, want an error saying to move the directory away", hosts, err)
		}
		for p, b := range before {
			if !bytes.Equal(mustRead(t, p), b) {
				t.Errorf("Ensure(%q) rewrote %s", hosts, p)
			}
		}
	}
}

// signLeaf makes a server certificate for hosts signed by the CA in dir,
// as whoever holds ca.key could.
func signLeaf(t *testing.T, dir string, hosts ...string) *x509.Certificate {
	t.Helper()
	now := time.Now()
	_, der := newCertFromCA(t, dir, hosts, now.Add(-time.Hour), now.Add(time.Hour))
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// The generated CA can sign only for the public host and loopback names:
// a certificate its key makes for another name does not verify.
func TestCANameConstraints(t *testing.T) {
	dir := t.TempDir()
	f := mustEnsure(t, dir, []string{"notary.example.com:4443", "10.1.2.3"})
	ca := mustCert(t, f.CACert)
	critical := false
	for _, ext := range ca.Extensions {
		if ext.Id.Equal([]int{2, 5, 29, 30}) { // nameConstraints
			critical = ext.Critical
		}
	}
	if !critical {
		t.Error("the CA has no critical name constraints extension")
	}
	pool, err := CAPool(f.CACert)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(leaf *x509.Certificate) error {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}

	for _, hosts := range [][]string{
		{"evil.example.org"}, {"example.com"}, {"notary.example.com.evil"}, {"localhost.evil"},
		{"10.1.2.4"}, {"192.168.0.1"}, {"::2"}, {"notary.example.com", "www.bank.example"},
	} {
		err := verify(signLeaf(t, dir, hosts...))
		var invalid x509.CertificateInvalidError
		if !errors.As(err, &invalid) || invalid.Reason != x509.CANotAuthorizedForThisName {
			t.Errorf("a certificate for %q verified (%v), want CANotAuthorizedForThisName", hosts, err)
		}
	}
	for _, hosts := range [][]string{
		{"notary.example.com"}, {"api.notary.example.com"}, {"localhost"}, {"app.localhost"},
		{"127.0.0.1"}, {"127.9.9.9"}, {"::1"}, {"10.1.2.3"},
	} {
		if err := verify(signLeaf(t, dir, hosts...)); err != nil {
			t.Errorf("a certificate for %q does not verify: %v", hosts, err)
		}
	}
	// and the server certificate itself
	for _, name := range []string{"notary.example.com", "10.1.2.3", "localhost", "127.0.0.1", "::1"} {
		if err := verifyFor(t, f, name); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", name, err)
		}
	}
}

// writeLegacyCA replaces the CA in dir with one like those trustdeck made
// before name constraints: ten years, any name.
func writeLegacyCA(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: caName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, dir, CAKeyFile, key, CACertFile, der)
}

// A CA made before name constraints is kept (clients trust it), serves new
// hosts as before, and is reported.
func TestLegacyCAKeptAndReported(t *testing.T) {
	dir := t.TempDir()
	writeLegacyCA(t, dir)
	ca := mustRead(t, filepath.Join(dir, CACertFile))
	f := mustEnsure(t, dir, []string{"a.example"})
	f = mustEnsure(t, dir, []string{"b.example"})
	if !bytes.Equal(mustRead(t, f.CACert), ca) {
		t.Fatal("the CA was replaced")
	}
	if err := verifyFor(t, f, "b.example"); err != nil {
		t.Errorf("server certificate does not verify: %v", err)
	}
	warnings, err := CAWarnings(f.CACert, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "no name constraints") {
		t.Errorf("warnings = %q, want one about the missing name constraints", warnings)
	}

	fresh := mustEnsure(t, t.TempDir(), []string{"a.example"})
	if w, err := CAWarnings(fresh.CACert, time.Now()); err != nil || len(w) != 0 {
		t.Errorf("warnings for a new CA = %q, %v; want none", w, err)
	}
	soon := mustCert(t, fresh.CACert).NotAfter.Add(-10 * 24 * time.Hour)
	if w, _ := CAWarnings(fresh.CACert, soon); len(w) != 1 || !strings.Contains(w[0], "expires") {
		t.Errorf("warnings 10 days before the CA expires = %q, want one about its expiry", w)
	}
}

// replaceServerCert overwrites the server certificate with one from the same
// CA, valid from notBefore to notAfter, for the names given.
func replaceServerCert(t *testing.T, dir string, hosts []string, notBefore, notAfter time.Time) {
	t.Helper()
	key, der := newCertFromCA(t, dir, hosts, notBefore, notAfter)
	writePair(t, dir, ServerKeyFile, key, ServerCertFile, der)
}

// newCertFromCA makes a server key and certificate for hosts (and the
// default names) signed by the CA in dir, bypassing Ensure's checks.
func newCertFromCA(t *testing.T, dir string, hosts []string, notBefore, notAfter time.Time) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	ca := mustCert(t, filepath.Join(dir, CACertFile))
	caKey, err := readKey(filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	names, err := sanList(hosts)
	if err != nil {
		t.Fatal(err)
	}
	key, der, err := newServerCert(ca, caKey, names, notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

// writePair writes a key and a certificate into dir.
func writePair(t *testing.T, dir, keyFile string, key *ecdsa.PrivateKey, certFile string, der []byte) {
	t.Helper()
	if err := writeKey(filepath.Join(dir, keyFile), key); err != nil {
		t.Fatal(err)
	}
	if err := writeCert(filepath.Join(dir, certFile), der); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureRepairsServerCert(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		reissue bool
	}{
		{"valid for 60 more days", func(t *testing.T, dir string) {
			replaceServerCert(t, dir, nil, now.Add(-time.Hour), now.Add(60*24*time.Hour))
		}, false},
		{"expires within 30 days", func(t *testing.T, dir string) {
			replaceServerCert(t, dir, nil, now.Add(-time.Hour), now.Add(20*24*time.Hour))
		}, true},
		{"expired", func(t *testing.T, dir string) {
			replaceServerCert(t, dir, nil, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
		}, true},
		{"not yet valid", func(t *testing.T, dir string) {
			replaceServerCert(t, dir, nil, now.Add(24*time.Hour), now.Add(365*24*time.Hour))
		}, true},
		{"server key missing", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, ServerKeyFile))
		}, true},
		{"server certificate missing", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, ServerCertFile))
		}, true},
		{"server certificate garbage", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ServerCertFile), []byte("not pem"), 0o644)
		}, true},
		{"key of another certificate", func(t *testing.T, dir string) {
			other := t.TempDir()
			mustEnsure(t, other, nil)
			b := mustRead(t, filepath.Join(other, ServerKeyFile))
			os.WriteFile(filepath.Join(dir, ServerKeyFile), b, 0o600)
		}, true},
		{"certificate from another CA", func(t *testing.T, dir string) {
			other := t.TempDir()
			mustEnsure(t, other, nil)
			for _, n := range []string{ServerKeyFile, ServerCertFile} {
				os.WriteFile(filepath.Join(dir, n), mustRead(t, filepath.Join(other, n)), 0o600)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := mustEnsure(t, dir, nil)
			ca := mustRead(t, f.CACert)
			tt.damage(t, dir)
			certBefore, _ := os.ReadFile(f.Cert)

			mustEnsure(t, dir, nil)

			if !bytes.Equal(mustRead(t, f.CACert), ca) {
				t.Fatal("the CA changed")
			}
			reissued := !bytes.Equal(mustRead(t, f.Cert), certBefore)
			if reissued != tt.reissue {
				t.Fatalf("reissued = %v, want %v", reissued, tt.reissue)
			}
			if err := verifyFor(t, f, "localhost"); err != nil && tt.reissue {
				t.Errorf("reissued certificate does not verify: %v", err)
			}
			if _, err := Load(f.Cert, f.Key); err != nil {
				t.Errorf("Load after repair: %v", err)
			}
		})
	}
}

func TestEnsureKeepsCAWhenItsKeyIsMissing(t *testing.T) {
	dir := t.TempDir()
	f := mustEnsure(t, dir, nil)
	ca := mustRead(t, f.CACert)
	if err := os.Remove(filepath.Join(dir, CAKeyFile)); err != nil {
		t.Fatal(err)
	}

	// Nothing to reissue: the CA key is not needed.
	mustEnsure(t, dir, []string{"127.0.0.1"})

	// A new host needs the CA key: fail, never replace the CA.
	if _, err := Ensure(dir, []string{"new.example"}); err == nil {
		t.Fatal("Ensure succeeded without the CA key")
	}
	if !bytes.Equal(mustRead(t, f.CACert), ca) {
		t.Fatal("the CA changed")
	}
}

func TestEnsureRejectsBadHosts(t *testing.T) {
	for _, h := range []string{"bad host", "exa$mple.com", "-lead.example", "a..b", "http://x.example/", "x.example:0", "x.example:http", "x.example:99999", "[::1]:"} {
		if _, err := Ensure(t.TempDir(), []string{h}); err == nil {
			t.Errorf("Ensure accepted host %q", h)
		}
	}
}

func TestNormaliseHost(t *testing.T) {
	tests := []struct {
		in, name, ip string
	}{
		{"example.com", "example.com", ""},
		{"Example.COM:4443", "example.com", ""},
		{"example.com.", "example.com", ""},
		{"*.example.com", "*.example.com", ""},
		{"my_service", "my_service", ""},
		{"10.0.0.1", "", "10.0.0.1"},
		{"10.0.0.1:443", "", "10.0.0.1"},
		{"::1", "", "::1"},
		{"[::1]", "", "::1"},
		{"[2001:db8::1]:4443", "", "2001:db8::1"},
		{"  ", "", ""},
	}
	for _, tt := range tests {
		name, ip, err := normaliseHost(tt.in)
		if err != nil {
			t.Errorf("normaliseHost(%q): %v", tt.in, err)
			continue
		}
		gotIP := ""
		if ip != nil {
			gotIP = ip.String()
		}
		if name != tt.name || gotIP != tt.ip {
			t.Errorf("normaliseHost(%q) = %q, %q; want %q, %q", tt.in, name, gotIP, tt.name, tt.ip)
		}
	}
}

// TestServeTLS runs an HTTPS server with Load and ServerConfig and talks to
// it with a client that trusts only the generated CA.
func TestServeTLS(t *testing.T) {
	f := mustEnsure(t, t.TempDir(), nil)
	cert, err := Load(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf == nil {
		t.Fatal("Load left Leaf nil")
	}
	cfg := ServerConfig(cert)
	if cfg.MinVersion < tls.VersionTLS12 {
		t.Fatalf("MinVersion %x", cfg.MinVersion)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		TLSConfig: cfg,
		ErrorLog:  log.New(io.Discard, "", 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.Proto)
		}),
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })

	pool, err := CAPool(f.CACert)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		client := &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool},
			ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
			},
		}}
		resp, err := client.Get("https://" + net.JoinHostPort(host, port) + "/")
		if err != nil {
			t.Fatalf("GET via %s: %v", host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(string(body), "HTTP/2") {
			t.Errorf("protocol %q, want HTTP/2", body)
		}
	}

	// TLS 1.1 is refused.
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Error("TLS 1.1 handshake succeeded")
	}
}

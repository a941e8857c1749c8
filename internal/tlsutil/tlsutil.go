// Package tlsutil gives trustdeck a TLS certificate without any setup: on the
// first start it creates a small local certificate authority and a server
// certificate signed by it in the data directory; on later starts it reuses
// them and reissues only the server certificate when a host name is missing
// from it or it is about to expire. The CA certificate (ca.crt) is what docker
// and notary clients are told to trust, so it is never replaced once it exists.
//
// The CA can sign only for the names it was made for: critical X.509 name
// constraints permit the requested host names (and their subdomains),
// localhost (and *.localhost), the requested IP addresses, 127.0.0.0/8 and
// ::1. Whoever takes its key can impersonate trustdeck, then, but no other
// site to the clients that trust it. CAs made before that carry no
// constraints; they are kept (clients trust them) and CAWarnings reports them.
package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// File names inside the directory given to Ensure.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// Lifetimes. The CA lives two years: long enough that clients are not asked
// to trust a new one often, short enough that a copy of its key (an old
// backup of the data directory) stops being useful. The server certificate
// lives one year and is reissued at start when it expires within 30 days.
const (
	caName         = "trustdeck local CA"
	caValidity     = 730 * 24 * time.Hour
	serverValidity = 365 * 24 * time.Hour
	renewBefore    = 30 * 24 * time.Hour
	caWarnBefore   = 60 * 24 * time.Hour // CAWarnings reports the CA's expiry from then on
	backdate       = time.Hour           // tolerate clients whose clock is a little behind
)

// defaultHosts are always in the server certificate.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// loopback are the address ranges the CA may always sign for.
var loopback = []*net.IPNet{
	{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
	{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
}

// Files are the paths of the certificate files Ensure manages.
type Files struct {
	CACert string // PEM certificate of the local CA; give it to clients
	Cert   string // PEM server certificate
	Key    string // PEM server private key (PKCS#8)
}

// Ensure makes sure dir holds a local CA and a server certificate signed by
// it that is valid for localhost, 127.0.0.1, ::1 and every entry of hosts
// (host names or IP addresses, an optional ":port" is ignored), and returns
// their paths.
//
// Missing files are generated (directory mode 0700, keys 0600, certificates
// 0644); a new CA is constrained to the requested names. Existing ones are
// reused; the server certificate alone is reissued, from the same CA, when it
// lacks a requested name, expires within 30 days, does not match its key or
// was not signed by the CA. If ca.crt exists but ca.key is missing or does
// not match, or a requested name is outside the CA's name constraints,
// Ensure fails rather than replace a CA that clients may already trust.
//
// Ensure is not meant to run concurrently on the same directory.
func Ensure(dir string, hosts []string) (Files, error) {
	files := Files{
		CACert: filepath.Join(dir, CACertFile),
		Cert:   filepath.Join(dir, ServerCertFile),
		Key:    filepath.Join(dir, ServerKeyFile),
	}
	caKeyPath := filepath.Join(dir, CAKeyFile)

	names, err := sanList(hosts)
	if err != nil {
		return Files{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Files{}, fmt.Errorf("tlsutil: create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return Files{}, fmt.Errorf("tlsutil: %w", err)
	}
	now := time.Now()

	ca, err := readCert(files.CACert)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// No CA yet (a stray ca.key without its certificate is of no use
		// to anyone and is replaced).
		caCert, caKey, err := newCA(now, names)
		if err != nil {
			return Files{}, err
		}
		if err := writeKey(caKeyPath, caKey); err != nil {
			return Files{}, err
		}
		// ca.crt is written last: its presence means the CA is complete.
		if err := writeCert(files.CACert, caCert.Raw); err != nil {
			return Files{}, err
		}
		return files, issueServer(files, caCert, caKey, names, now)
	case err != nil:
		return Files{}, err
	}
	if now.After(ca.NotAfter) {
		return Files{}, fmt.Errorf("tlsutil: the local CA in %s expired on %s; move the directory away to create a new one (clients must then trust the new ca.crt)",
			files.CACert, ca.NotAfter.Format(time.DateOnly))
	}

	if serverCertUsable(files, ca, names, now) {
		if err := tightenMode(files.Key); err != nil {
			return Files{}, err
		}
		if err := tightenMode(caKeyPath); err != nil {
			return Files{}, err
		}
		return files, nil
	}
	caKey, err := readKey(caKeyPath)
	if err != nil {
		return Files{}, fmt.Errorf("tlsutil: the server certificate must be reissued but the CA key is unusable: %w", err)
	}
	if !publicKeysEqual(ca.PublicKey, caKey.Public()) {
		return Files{}, fmt.Errorf("tlsutil: %s does not belong to %s", caKeyPath, files.CACert)
	}
	return files, issueServer(files, ca, caKey, names, now)
}

// CAWarnings reads the CA certificate at caFile and returns what its
// operator should be told at start: that it has no name constraints (an
// older trustdeck made it), or that it expires within 60 days. None for a
// CA in good order.
func CAWarnings(caFile string, now time.Time) ([]string, error) {
	ca, err := readCert(caFile)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(caFile)
	var out []string
	if len(ca.PermittedDNSDomains) == 0 && len(ca.PermittedIPRanges) == 0 {
		out = append(out, fmt.Sprintf("the generated CA %s has no name constraints (an older trustdeck made it): "+
			"whoever gets its key can make certificates for any site that the clients trusting it accept. "+
			"To replace it with a constrained one: stop trustdeck, move %s away, start trustdeck, "+
			"give clients the new ca.crt and remove the old CA from every trust store", caFile, dir))
	}
	if now.Add(caWarnBefore).After(ca.NotAfter) {
		out = append(out, fmt.Sprintf("the generated CA %s expires on %s; trustdeck will not start with it after that. "+
			"To replace it: stop trustdeck, move %s away, start trustdeck, give clients the new ca.crt",
			caFile, ca.NotAfter.UTC().Format(time.DateOnly), dir))
	}
	return out, nil
}

// Load reads a PEM certificate (chain) and its private key, as tls.LoadX509KeyPair
// does, with errors that name the files.
func Load(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsutil: load %s and %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("tlsutil: parse %s: %w", certFile, err)
		}
	}
	return cert, nil
}

// ServerConfig returns a TLS configuration for an HTTPS server presenting
// cert: TLS 1.2 or newer, Go's default (forward-secret, AEAD) cipher suites
// and curves, server cipher order. NextProtos is left empty so that
// http.Server.ServeTLS can offer HTTP/2 itself.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
}

// CAPool returns a certificate pool holding the PEM certificates of caFile,
// for clients (tests, the UI talking to its own server) that trust the local CA.
func CAPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tlsutil: no certificate in %s", caFile)
	}
	return pool, nil
}

// sans are the subject alternative names of a server certificate.
type sans struct {
	cn  string // subject common name: the first requested host, else localhost
	dns []string
	ips []net.IP
}

// sanList normalises the requested hosts and adds the defaults, without duplicates.
func sanList(hosts []string) (sans, error) {
	s := sans{cn: "localhost"}
	seen := map[string]bool{}
	all := append(append([]string{}, defaultHosts...), hosts...)
	cnSet := false
	for i, h := range all {
		name, ip, err := normaliseHost(h)
		if err != nil {
			return sans{}, err
		}
		if i >= len(defaultHosts) && !cnSet && (name != "" || ip != nil) {
			cnSet = true
			if s.cn = name; ip != nil {
				s.cn = ip.String()
			}
		}
		switch {
		case ip != nil:
			if !seen[ip.String()] {
				seen[ip.String()] = true
				s.ips = append(s.ips, ip)
			}
		case name != "":
			if !seen[name] {
				seen[name] = true
				s.dns = append(s.dns, name)
			}
		}
	}
	return s, nil
}

// normaliseHost turns "Host.Example:4443", "[::1]:443", "10.0.0.1" into a
// lower-case DNS name or an IP address. Blank input gives neither.
func normaliseHost(h string) (string, net.IP, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return "", nil, nil
	}
	host := h
	if hh, port, err := net.SplitHostPort(h); err == nil {
		if !validPort(port) {
			return "", nil, fmt.Errorf("tlsutil: %q is neither a host name nor an IP address, with an optional port", h)
		}
		host = hh
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		host = h[1 : len(h)-1]
	}
	if ip := net.ParseIP(host); ip != nil {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		return "", ip, nil
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !validDNSName(host) {
		return "", nil, fmt.Errorf("tlsutil: %q is neither a host name nor an IP address", h)
	}
	return host, nil, nil
}

func validPort(p string) bool {
	n, err := strconv.ParseUint(p, 10, 16)
	return err == nil && n > 0
}

// validDNSName accepts host names made of letters, digits, hyphens and
// underscores (container names often have them) in dot-separated labels, with
// an optional leading "*." wildcard label.
func validDNSName(name string) bool {
	name = strings.TrimPrefix(name, "*.")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// serverCertUsable reports whether the existing server certificate and key
// can be kept: they match, the CA signed the certificate, it covers every
// requested name and stays valid for more than renewBefore.
func serverCertUsable(files Files, ca *x509.Certificate, names sans, now time.Time) bool {
	cert, err := readCert(files.Cert)
	if err != nil {
		return false
	}
	key, err := readKey(files.Key)
	if err != nil || !publicKeysEqual(cert.PublicKey, key.Public()) {
		return false
	}
	if cert.CheckSignatureFrom(ca) != nil {
		return false
	}
	if now.Before(cert.NotBefore) || now.Add(renewBefore).After(cert.NotAfter) {
		return false
	}
	for _, n := range names.dns {
		if cert.VerifyHostname(n) != nil {
			return false
		}
	}
	for _, ip := range names.ips {
		if cert.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	return true
}

// constraints are the names a new CA may sign for: the DNS names (a
// wildcard's base domain; a name permits its subdomains too) with localhost,
// and the IP addresses with the loopback ranges.
func (s sans) constraints() (dns []string, ips []*net.IPNet) {
	seen := map[string]bool{}
	for _, name := range s.dns {
		name = strings.TrimPrefix(name, "*.")
		if name == "localhost" || strings.HasSuffix(name, ".localhost") {
			name = "localhost"
		}
		if !seen[name] {
			seen[name] = true
			dns = append(dns, name)
		}
	}
	ips = append(ips, loopback...)
next:
	for _, ip := range s.ips {
		for _, r := range ips {
			if r.Contains(ip) {
				continue next
			}
		}
		bits := 8 * len(ip)
		ips = append(ips, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
	}
	return dns, ips
}

func newCA(now time.Time, names sans) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: generate CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caName, Organization: []string{"trustdeck"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // signs server certificates only, no intermediates
		// critical: a client that cannot enforce the constraints must
		// refuse the CA rather than trust it for every name
		PermittedDNSDomainsCritical: true,
	}
	tmpl.PermittedDNSDomains, tmpl.PermittedIPRanges = names.constraints()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// issueServer creates a new server key and certificate valid from now and
// writes them to files.Key and files.Cert.
func issueServer(files Files, ca *x509.Certificate, caKey crypto.Signer, names sans, now time.Time) error {
	notAfter := now.Add(serverValidity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	key, der, err := newServerCert(ca, caKey, names, now.Add(-backdate), notAfter)
	if err != nil {
		return err
	}
	if err := verifyIssued(files.CACert, ca, der, now); err != nil {
		return err
	}
	// The key goes first: a crash in between leaves a pair that does not
	// match, which the next Ensure detects and repairs.
	if err := writeKey(files.Key, key); err != nil {
		return err
	}
	return writeCert(files.Cert, der)
}

// verifyIssued checks a new server certificate as clients will, before it
// is written: a name outside the CA's constraints fails here rather than in
// every client.
func verifyIssued(caFile string, ca *x509.Certificate, der []byte, now time.Time) error {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("tlsutil: parse the new server certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.CANotAuthorizedForThisName {
		var ranges []string
		for _, r := range ca.PermittedIPRanges {
			ranges = append(ranges, r.String())
		}
		return fmt.Errorf("tlsutil: the CA %s may sign only for %s (with their subdomains) and %s: %s; "+
			"to serve this host, move the directory %s away to create a new CA (clients must then trust the new ca.crt)",
			caFile, strings.Join(ca.PermittedDNSDomains, ", "), strings.Join(ranges, ", "), invalid.Detail, filepath.Dir(caFile))
	}
	if err != nil {
		return fmt.Errorf("tlsutil: the new server certificate does not verify against %s: %w", caFile, err)
	}
	return nil
}

func newServerCert(ca *x509.Certificate, caKey crypto.Signer, names sans, notBefore, notAfter time.Time) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: generate server key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names.cn, Organization: []string{"trustdeck"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names.dns,
		IPAddresses:           names.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: create server certificate: %w", err)
	}
	return key, der, nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tlsutil: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil // never zero
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("tlsutil: %s holds no PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: parse %s: %w", path, err)
	}
	return cert, nil
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("tlsutil: %s holds no PEM key", path)
	}
	var key any
	switch blk.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("tlsutil: %s: unexpected PEM block %q", path, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("tlsutil: parse %s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("tlsutil: %s: unsupported key type %T", path, key)
	}
	return signer, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tlsutil: encode key: %w", err)
	}
	return WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func writeCert(path string, der []byte) error {
	return WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// WriteFile replaces path atomically (temporary file in the same directory,
// then rename) and gives it mode regardless of the umask.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tlsutil: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("tlsutil: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("tlsutil: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("tlsutil: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tlsutil: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tlsutil: %w", err)
	}
	ok = true
	return nil
}

// tightenMode removes group and other permissions from an existing key file.
func tightenMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("tlsutil: %w", err)
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, fi.Mode().Perm()&0o700); err != nil {
		return fmt.Errorf("tlsutil: %w", err)
	}
	return nil
}

// Command trustdeck-e2e-seed creates trust data in a running trustdeck for the
// browser tests: it creates the repository through trustdeck's JSON API, then
// initialises it, adds signers and signs tags with notary's client library,
// talking to trustdeck's Notary API as docker and the notary CLI do (registry
// token challenge answered with basic credentials).
//
//	trustdeck-e2e-seed --url https://127.0.0.1:PORT --ca DATA/tls/ca.crt \
//	    --user admin --password P --gun 127.0.0.1:PORT/prod/nginx SCENARIO
//
// Scenarios:
//
//	none    only the catalog entry: no trust data
//	init    initialised, signers jeff and ian, no signed tags
//	seed    the seed's example: tag 1 signed by jeff and ian (released),
//	        tag 2 by jeff only, tag only-jeff only in targets/jeff
//	one     the end state of the seed's workflow (sign-an-image.md): signers
//	        jeff and ian, tag 1 signed by both (released), nothing else
//	disagree signers jeff and ian; tag 1 released (signed by jeff) while
//	        targets/ian signs another digest as 1; tag 2 signed by both
//	edge    hostile, very long and non-ASCII tags (released by jeff), a hostile
//	        tag only in targets/jeff, and a signer "ops" with a plain public key
//	sign    as --user, sign --tag into targets/releases and targets/<--signer>
//	        with the signer's private key (--key, a PEM file as keypair prints
//	        it), as `docker trust sign` does; the repository must exist and
//	        have that signer (no catalog entry is created)
//
// It prints a JSON description of what it made (tags and digests, key IDs) on
// stdout.
//
// One mode needs no server:
//
//	trustdeck-e2e-seed [--cn NAME] [--days N] keypair
//
// prints a fresh ECDSA P-256 key and a self-signed certificate for it
// (subject common name NAME, valid for N days) as JSON {"cert", "key",
// "keyId"}: the cert.pem a signer registers or hands to `docker trust signer
// add`, the unencrypted PKCS#8 private key, and the canonical key ID docker
// shows for the certificate.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	tufutils "github.com/theupdateframework/notary/tuf/utils"
)

const (
	roleReleases = "targets/releases"
	roleJeff     = "targets/jeff"
	roleIan      = "targets/ian"
	roleOps      = "targets/ops"
)

// Hostile and unusual tag names of the "edge" scenario.
var (
	tagScript  = "<script>alert(1)</script>"
	tagImg     = `"><img src=x onerror=alert(1)>`
	tagUnicode = "版本-1"
	tagLong    = "long-" + strings.Repeat("x", 1995) // 2,000 characters
	tagHidden  = "<b>hidden</b>"
)

type options struct {
	url, ca, user, password, gun string
	// sign: the signer's private key file, the signer's name and the tag.
	key, signer, tag string
	// keypair: the certificate's common name and validity.
	cn   string
	days int
	// registry modes (registry.go)
	dir, addr, tokenCert, eventsToken, registry, registryCA string
}

// keyPair is what the keypair mode prints.
type keyPair struct {
	Cert  string `json:"cert"`  // CERTIFICATE PEM
	Key   string `json:"key"`   // PRIVATE KEY PEM (PKCS#8, unencrypted)
	KeyID string `json:"keyId"` // canonical ID of the certificate's key
}

// result is what the seed prints for the tests.
type result struct {
	GUN       string            `json:"gun"`
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Scenario  string            `json:"scenario"`
	Digests   map[string]string `json:"digests"` // tag -> sha256 hex
	// Signers maps a signer name to its canonical key IDs (what docker shows).
	Signers map[string][]string `json:"signers"`
	// RootKeys and RepositoryKeys are the key IDs root.json lists for root
	// and targets.
	RootKeys       []string `json:"rootKeys"`
	RepositoryKeys []string `json:"repositoryKeys"`
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "", "trustdeck base URL (https://host:port)")
	flag.StringVar(&o.ca, "ca", "", "CA certificate (PEM) that verifies the server")
	flag.StringVar(&o.user, "user", "admin", "trustdeck account")
	flag.StringVar(&o.password, "password", "", "its password")
	flag.StringVar(&o.gun, "gun", "", "the GUN: <registry host>/<namespace>/<name>")
	flag.StringVar(&o.key, "key", "", "sign: the signer's private key (PEM file)")
	flag.StringVar(&o.signer, "signer", "", "sign: the signer's name (role targets/<name>)")
	flag.StringVar(&o.tag, "tag", "1", "sign: the tag to sign")
	flag.StringVar(&o.cn, "cn", "signer", "keypair: the certificate's common name")
	flag.IntVar(&o.days, "days", 365, "keypair: days the certificate is valid")
	flag.StringVar(&o.dir, "dir", "", "registry-tls, registry-config: the registry's directory")
	flag.StringVar(&o.addr, "addr", "", "registry-config: the registry's address (127.0.0.1:PORT)")
	flag.StringVar(&o.tokenCert, "token-cert", "", "registry-config: trustdeck's token certificate")
	flag.StringVar(&o.eventsToken, "events-token", "", "registry-config: trustdeck's --registry-events-token")
	flag.StringVar(&o.registry, "registry", "", "registry: the registry's address (127.0.0.1:PORT)")
	flag.StringVar(&o.registryCA, "registry-ca", "", "registry: the registry's CA (PEM)")
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		fmt.Fprintf(out, "usage: %s --url URL --ca FILE --user U --password P --gun GUN none|init|seed|one|edge\n", os.Args[0])
		fmt.Fprintf(out, "       %s --url URL --ca FILE --user U --password P --gun GUN --key FILE --signer NAME [--tag T] sign\n", os.Args[0])
		fmt.Fprintf(out, "       %s [--cn NAME] [--days N] keypair\n", os.Args[0])
		fmt.Fprintf(out, "       %s --dir D registry-tls | --dir D --addr A --url URL --token-cert F [--events-token T] registry-config\n", os.Args[0])
		fmt.Fprintf(out, "       %s --url URL --ca FILE --user U --password P --gun GUN --registry A --registry-ca FILE registry\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	var res any
	var err error
	switch {
	case flag.NArg() == 1 && flag.Arg(0) == "keypair":
		res, err = newKeyPair(o.cn, time.Now().AddDate(0, 0, o.days))
	case flag.NArg() == 1 && flag.Arg(0) == "registry-tls" && o.dir != "":
		res, err = registryTLS(o.dir)
	case flag.NArg() == 1 && flag.Arg(0) == "registry-config" && o.dir != "" && o.addr != "" && o.url != "" && o.tokenCert != "":
		res, err = registryConfig(o)
	case o.url == "" || o.ca == "" || o.password == "" || o.gun == "" || flag.NArg() != 1,
		flag.Arg(0) == "sign" && (o.key == "" || o.signer == "" || o.tag == ""),
		flag.Arg(0) == "registry" && (o.registry == "" || o.registryCA == ""):
		flag.Usage()
		os.Exit(2)
	default:
		res, err = run(o, flag.Arg(0))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trustdeck-e2e-seed:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "trustdeck-e2e-seed:", err)
		os.Exit(1)
	}
}

func run(o options, scenario string) (any, error) {
	switch scenario {
	case "none", "init", "seed", "one", "edge", "sign", "registry", "disagree":
	default:
		return nil, fmt.Errorf("unknown scenario %q (none, init, seed, one, edge, sign, registry, disagree; or keypair, registry-tls, registry-config)", scenario)
	}
	parts := strings.Split(o.gun, "/")
	if len(parts) != 3 {
		return nil, fmt.Errorf("GUN %q is not <host>/<namespace>/<name>", o.gun)
	}
	res := &result{GUN: o.gun, Namespace: parts[1], Name: parts[2], Scenario: scenario,
		Digests: map[string]string{}, Signers: map[string][]string{}, RootKeys: []string{}, RepositoryKeys: []string{}}

	caPEM, err := os.ReadFile(o.ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s: no PEM certificate", o.ca)
	}
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	hc := &http.Client{Transport: base, Timeout: 30 * time.Second}

	if scenario == "sign" {
		return signAs(o, res, &tokenTransport{base: base, user: o.user, password: o.password})
	}
	if err := createRepository(hc, o, res.Namespace, res.Name); err != nil {
		return nil, err
	}
	if scenario == "none" {
		return res, nil
	}

	s, err := newSigner(o, &tokenTransport{base: base, user: o.user, password: o.password})
	if err != nil {
		return nil, err
	}
	if err := s.init(); err != nil {
		return nil, fmt.Errorf("initialise: %w", err)
	}
	now := time.Now()
	jeff, err := s.certKey(roleJeff, "jeff", now.AddDate(1, 0, 0))
	if err != nil {
		return nil, err
	}
	// ian's certificate expires within 30 days: the page marks it "expiring".
	ian, err := s.certKey(roleIan, "ian", now.AddDate(0, 0, 20))
	if err != nil {
		return nil, err
	}
	// As `docker trust signer add` does: each signer's key in its own role and
	// in targets/releases.
	if err := s.delegate(roleReleases, jeff, ian); err != nil {
		return nil, err
	}
	if err := s.delegate(roleJeff, jeff); err != nil {
		return nil, err
	}
	if err := s.delegate(roleIan, ian); err != nil {
		return nil, err
	}
	if scenario == "edge" {
		ops, err := s.cs.Create(roleOps, data.GUN(o.gun), data.ECDSAKey)
		if err != nil {
			return nil, err
		}
		if err := s.delegate(roleOps, ops); err != nil {
			return nil, err
		}
	}
	if err := s.publish("signers"); err != nil {
		return nil, err
	}

	if scenario == "registry" {
		out, err := registryScenario(o, res, s)
		if err != nil {
			return nil, err
		}
		return out, s.describe(res)
	}
	switch scenario {
	case "seed":
		if err := s.sign(res, "1", "nginx:1 manifest", roleReleases, roleJeff, roleIan); err != nil {
			return nil, err
		}
		if err := s.sign(res, "2", "nginx:2 manifest", roleReleases, roleJeff); err != nil {
			return nil, err
		}
		if err := s.sign(res, "only-jeff", "nginx:only-jeff manifest", roleJeff); err != nil {
			return nil, err
		}
	case "one":
		if err := s.sign(res, "1", "nginx:1 manifest", roleReleases, roleJeff, roleIan); err != nil {
			return nil, err
		}
	case "disagree":
		// ian signed another image as 1 in his own role (its digest is the
		// sha256 of "ian's nginx:1 manifest"): the roles disagree.
		if err := s.sign(res, "1", "ian's nginx:1 manifest", roleIan); err != nil {
			return nil, err
		}
		if err := s.sign(res, "1", "nginx:1 manifest", roleReleases, roleJeff); err != nil {
			return nil, err
		}
		if err := s.sign(res, "2", "nginx:2 manifest", roleReleases, roleJeff, roleIan); err != nil {
			return nil, err
		}
	case "edge":
		for _, tag := range []string{tagScript, tagImg, tagUnicode, tagLong} {
			if err := s.sign(res, tag, "edge manifest of "+tag, roleReleases, roleJeff); err != nil {
				return nil, err
			}
		}
		if err := s.sign(res, tagHidden, "edge manifest of "+tagHidden, roleJeff); err != nil {
			return nil, err
		}
	}
	if scenario != "init" {
		if err := s.publish("tags"); err != nil {
			return nil, err
		}
	}
	if err := s.describe(res); err != nil {
		return nil, err
	}
	return res, nil
}

// createRepository creates the catalog entry (POST /api/v1/repositories); one
// that exists already is fine.
func createRepository(hc *http.Client, o options, namespace, name string) error {
	body, err := json.Marshal(map[string]string{"namespace": namespace, "name": name})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimSuffix(o.url, "/")+"/api/v1/repositories", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(o.user, o.password)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("create repository %s/%s: %d %s", namespace, name, resp.StatusCode, reply)
	}
	return nil
}

// signer is one notary client repository with all keys in memory.
type signer struct {
	gun  data.GUN
	cs   signed.CryptoService
	repo client.Repository
}

func newSigner(o options, rt http.RoundTripper) (*signer, error) {
	gun := data.GUN(o.gun)
	remote, err := storage.NewNotaryServerStore(strings.TrimSuffix(o.url, "/"), gun, rt)
	if err != nil {
		return nil, err
	}
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("e2e-seed-passphrase")))
	repo, err := client.NewRepository(gun, o.url, remote, storage.NewMemoryStore(nil),
		trustpinning.TrustPinConfig{}, cs, changelist.NewMemChangelist())
	if err != nil {
		return nil, err
	}
	return &signer{gun: gun, cs: cs, repo: repo}, nil
}

// init initialises the repository as docker does: a local root key, the
// snapshot (and timestamp) managed by the server.
func (s *signer) init() error {
	rootKey, err := s.cs.Create(data.CanonicalRootRole, s.gun, data.ECDSAKey)
	if err != nil {
		return err
	}
	return s.repo.Initialize([]string{rootKey.ID()}, data.CanonicalSnapshotRole)
}

// newCert makes an ECDSA P-256 key and a self-signed certificate (PEM) for
// it with common name cn, as `docker trust key generate` and a client bundle
// would.
func newCert(cn string, notAfter time.Time) (*ecdsa.PrivateKey, []byte, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, nil, err
	}
	return priv, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// newKeyPair is the keypair mode: a fresh key and certificate as PEM, and
// the key ID docker shows for the certificate.
func newKeyPair(cn string, notAfter time.Time) (*keyPair, error) {
	priv, certPEM, err := newCert(cn, notAfter)
	if err != nil {
		return nil, err
	}
	cert, err := tufutils.LoadCertFromPEM(certPEM)
	if err != nil {
		return nil, err
	}
	pub := tufutils.CertToKey(cert)
	if pub == nil {
		return nil, errors.New("certificate key is not ECDSA")
	}
	id, err := tufutils.CanonicalKeyID(pub)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return &keyPair{Cert: string(certPEM), Key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		KeyID: id}, nil
}

// signAs is the sign scenario: with only the signer's private key, sign
// o.tag into targets/releases and targets/<o.signer> and publish, as
// `docker trust sign` does for a signer. The snapshot is the server's.
func signAs(o options, res *result, rt http.RoundTripper) (*result, error) {
	keyPEM, err := os.ReadFile(o.key)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PRIVATE KEY PEM block", o.key)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.key, err)
	}
	ecPriv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", o.key)
	}
	priv, err := tufutils.ECDSAToPrivateKey(ecPriv)
	if err != nil {
		return nil, err
	}
	s, err := newSigner(o, rt)
	if err != nil {
		return nil, err
	}
	role := data.RoleName("targets/" + o.signer)
	if err := s.cs.AddKey(role, s.gun, priv); err != nil {
		return nil, err
	}
	content := res.Name + ":" + o.tag + " manifest"
	if err := s.sign(res, o.tag, content, roleReleases, role); err != nil {
		return nil, err
	}
	if err := s.publish("tag " + o.tag); err != nil {
		return nil, err
	}
	if err := s.describe(res); err != nil {
		return nil, err
	}
	return res, nil
}

// certKey makes an ECDSA P-256 key and a self-signed certificate for it with
// common name cn, adds the private key to the crypto service (so role can be
// signed) and returns the certificate as a TUF key.
func (s *signer) certKey(role data.RoleName, cn string, notAfter time.Time) (data.PublicKey, error) {
	priv, certPEM, err := newCert(cn, notAfter)
	if err != nil {
		return nil, err
	}
	cert, err := tufutils.LoadCertFromPEM(certPEM)
	if err != nil {
		return nil, err
	}
	tufPriv, err := tufutils.ECDSAToPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := s.cs.AddKey(role, s.gun, tufPriv); err != nil {
		return nil, err
	}
	pub := tufutils.CertToKey(cert)
	if pub == nil {
		return nil, errors.New("certificate key is not ECDSA")
	}
	return pub, nil
}

// delegate adds role with keys, valid for every path.
func (s *signer) delegate(role data.RoleName, keys ...data.PublicKey) error {
	if err := s.repo.AddDelegationRoleAndKeys(role, keys); err != nil {
		return fmt.Errorf("delegation %s: %w", role, err)
	}
	if err := s.repo.AddDelegationPaths(role, []string{""}); err != nil {
		return fmt.Errorf("delegation paths %s: %w", role, err)
	}
	return nil
}

// sign adds tag (its digest is the sha256 of content) to roles; publish sends
// it.
func (s *signer) sign(res *result, tag, content string, roles ...data.RoleName) error {
	sum := sha256.Sum256([]byte(content))
	t := &client.Target{Name: tag, Hashes: data.Hashes{"sha256": sum[:]}, Length: int64(len(content))}
	if err := s.repo.AddTarget(t, roles...); err != nil {
		return fmt.Errorf("add target %q: %w", tag, err)
	}
	res.Digests[tag] = hex.EncodeToString(sum[:])
	return nil
}

func (s *signer) publish(what string) error {
	if err := s.repo.Publish(); err != nil {
		return fmt.Errorf("publish %s to %s: %w", what, s.gun, err)
	}
	return nil
}

// describe fills in the key IDs as published.
func (s *signer) describe(res *result) error {
	roles, err := s.repo.ListRoles()
	if err != nil {
		return fmt.Errorf("list roles: %w", err)
	}
	for _, r := range roles {
		switch r.Name {
		case data.CanonicalRootRole:
			res.RootKeys = append(res.RootKeys, r.KeyIDs...)
		case data.CanonicalTargetsRole:
			res.RepositoryKeys = append(res.RepositoryKeys, r.KeyIDs...)
		}
	}
	dels, err := s.repo.GetDelegationRoles()
	if err != nil {
		return fmt.Errorf("delegations: %w", err)
	}
	for _, d := range dels {
		if d.Name == roleReleases {
			continue
		}
		name := strings.TrimPrefix(d.Name.String(), "targets/")
		ids := append([]string{}, d.KeyIDs...) // canonical IDs (GetDelegationRoles)
		sort.Strings(ids)
		res.Signers[name] = ids
	}
	sort.Strings(res.RootKeys)
	sort.Strings(res.RepositoryKeys)
	return nil
}

// tokenTransport answers trustdeck's registry token challenge: on a 401 with
// `WWW-Authenticate: Bearer realm=…,service=…,scope=…` it asks the realm for a
// token with basic credentials and sends the request again with it. The last
// token is reused for later requests.
type tokenTransport struct {
	base           http.RoundTripper
	user, password string

	mu    sync.Mutex
	token string
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	tok := t.token
	t.mu.Unlock()
	first := req.Clone(req.Context())
	if tok != "" {
		first.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := t.base.RoundTrip(first)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	params, ok := bearerChallenge(resp.Header.Get("WWW-Authenticate"))
	if !ok {
		return resp, nil
	}
	if req.Body != nil && req.GetBody == nil {
		return resp, nil // cannot send the body again
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	tok, err = t.fetch(req, params)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.token = tok
	t.mu.Unlock()
	again := req.Clone(req.Context())
	if req.Body != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	again.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(again)
}

// fetch asks the challenge's realm for a token.
func (t *tokenTransport) fetch(orig *http.Request, params map[string]string) (string, error) {
	realm, err := url.Parse(params["realm"])
	if err != nil || realm.Scheme != "https" {
		return "", fmt.Errorf("bad token realm %q", params["realm"])
	}
	q := realm.Query()
	if params["service"] != "" {
		q.Set("service", params["service"])
	}
	if params["scope"] != "" {
		q.Set("scope", params["scope"])
	}
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(orig.Context(), http.MethodGet, realm.String(), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(t.user, t.password)
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token from %s: %d %s", realm.Redacted(), resp.StatusCode, body)
	}
	var reply struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return "", fmt.Errorf("token reply: %w", err)
	}
	if reply.Token == "" {
		reply.Token = reply.AccessToken
	}
	if reply.Token == "" {
		return "", errors.New("token reply without a token")
	}
	return reply.Token, nil
}

// bearerChallenge parses `Bearer k="v",k2="v2"`; values may hold commas
// (scope="repository:x:pull,push").
func bearerChallenge(h string) (map[string]string, bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, false
	}
	params := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; {
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		key = strings.ToLower(strings.TrimSpace(key))
		var val string
		if strings.HasPrefix(after, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			val = b.String()
			after = after[min(i+1, len(after)):]
		} else {
			val, after, _ = strings.Cut(after, ",")
			after = "," + after
		}
		params[key] = val
		after = strings.TrimSpace(after)
		rest = strings.TrimSpace(strings.TrimPrefix(after, ","))
	}
	_, ok := params["realm"]
	return params, ok
}

package main

// The registry modes of the seeder: the browser tests run Debian's
// docker-registry as the Go tests do (internal/testregistry's configuration),
// with trustdeck as its token realm and notification endpoint.
//
//	trustdeck-e2e-seed --dir D registry-tls
//	    makes D/tls (a CA and a certificate for 127.0.0.1); prints {"ca","cert","key"}
//	trustdeck-e2e-seed --dir D --addr 127.0.0.1:P --url URL --token-cert F \
//	    --events-token T registry-config
//	    writes D/config.yml: TLS from D/tls, storage in D/storage, deletion on,
//	    realm https://localhost:<URL's port>/auth/token (go-containerregistry
//	    refuses a realm on a loopback IP), notifications to URL's
//	    /api/v1/registry/events; prints {"config"}
//	trustdeck-e2e-seed --url URL --ca F --registry 127.0.0.1:P --registry-ca F \
//	    --user U --password P --gun 127.0.0.1:P/ns/name registry
//	    pushes tags in every state (see registryScenario)

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/trustdeck/trustdeck/internal/testregistry"
	"github.com/trustdeck/trustdeck/internal/tlsutil"
)

func registryTLS(dir string) (any, error) {
	files, err := tlsutil.Ensure(filepath.Join(dir, "tls"), []string{"127.0.0.1"})
	if err != nil {
		return nil, err
	}
	return map[string]string{"ca": files.CACert, "cert": files.Cert, "key": files.Key}, nil
}

func registryConfig(o options) (any, error) {
	u, err := url.Parse(o.url)
	if err != nil || u.Port() == "" {
		return nil, fmt.Errorf("--url %q: want https://127.0.0.1:PORT", o.url)
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return nil, fmt.Errorf("--addr %q: %v", o.addr, err)
	}
	tlsDir := filepath.Join(o.dir, "tls")
	storage := filepath.Join(o.dir, "storage")
	if err := os.MkdirAll(storage, 0o700); err != nil {
		return nil, err
	}
	opts := testregistry.Options{
		Realm: "https://localhost:" + u.Port() + "/auth/token", Service: "trustdeck", Issuer: "trustdeck",
		RootCertBundle: o.tokenCert, NotifyURL: strings.TrimSuffix(o.url, "/") + "/api/v1/registry/events",
		NotifyToken: o.eventsToken, LogLevel: "info",
	}
	conf := testregistry.Config(opts, o.addr, storage, filepath.Join(tlsDir, tlsutil.ServerCertFile),
		filepath.Join(tlsDir, tlsutil.ServerKeyFile), "trustdeck-e2e-registry")
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(o.dir, "config.yml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return map[string]string{"config": path}, nil
}

// registryResult adds to result what the registry holds.
type registryResult struct {
	*result
	// Registry maps a tag to the digest the registry serves for it now
	// ("sha256:<hex>"; absent when the tag is gone).
	Registry  map[string]string `json:"registry"`
	Platforms []string          `json:"platforms"`
	// Unsigned is a repository pushed to the registry only (not in
	// trustdeck's catalog): "namespace/name".
	Unsigned string `json:"unsigned"`
}

// registryScenario pushes images to the registry as o.user and signs some:
//
//	v1     signed, unchanged                      -> signed
//	v2     signed, then another image pushed to v2 -> drifted
//	v3     signed, then its manifest deleted       -> missing
//	v4     pushed, never signed                    -> unsigned
//	multi  a linux/amd64+arm64 index signed by its index digest -> signed
//
// and pushes <namespace>/<name>-unsigned, which only the registry knows.
func registryScenario(o options, res *result, s *signer) (*registryResult, error) {
	out := &registryResult{result: res, Registry: map[string]string{}}
	pool := x509.NewCertPool()
	for _, f := range []string{o.ca, o.registryCA} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		pool.AppendCertsFromPEM(b)
	}
	c := testregistry.NewClient(o.registry, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, o.user, o.password)
	repo := res.Namespace + "/" + res.Name
	signed := map[string]testregistry.Manifest{}
	for _, tag := range []string{"v1", "v2", "v3", "v4"} {
		m, err := c.TryPushImage(repo, tag)
		if err != nil {
			return nil, fmt.Errorf("push %s:%s: %w", repo, tag, err)
		}
		signed[tag] = m
	}
	idx, err := c.TryPushIndex(repo, "multi")
	if err != nil {
		return nil, fmt.Errorf("push %s:multi: %w", repo, err)
	}
	signed["multi"] = idx.Manifest
	for _, p := range idx.Platforms {
		out.Platforms = append(out.Platforms, p.OS+"/"+p.Architecture)
	}
	for _, tag := range []string{"v1", "v2", "v3", "multi"} {
		if err := s.sign(res, tag, string(signed[tag].Raw), roleReleases, roleJeff); err != nil {
			return nil, err
		}
	}
	if err := s.publish("tags"); err != nil {
		return nil, err
	}
	moved, err := c.TryPushImage(repo, "v2")
	if err != nil {
		return nil, fmt.Errorf("push %s:v2 again: %w", repo, err)
	}
	if err := c.TryDelete(repo, signed["v3"].Digest); err != nil {
		return nil, fmt.Errorf("delete %s@%s: %w", repo, signed["v3"].Digest, err)
	}
	out.Registry["v1"], out.Registry["v2"], out.Registry["v4"] = signed["v1"].Digest, moved.Digest, signed["v4"].Digest
	out.Registry["multi"] = idx.Digest
	out.Unsigned = repo + "-unsigned"
	if _, err := c.TryPushImage(out.Unsigned, "latest"); err != nil {
		return nil, fmt.Errorf("push %s:latest: %w", out.Unsigned, err)
	}
	for tag, m := range signed {
		if res.Digests[tag] != "" && "sha256:"+res.Digests[tag] != m.Digest {
			return nil, fmt.Errorf("the signed digest of %s (%s) is not the manifest's (%s)", tag, res.Digests[tag], m.Digest)
		}
	}
	return out, nil
}

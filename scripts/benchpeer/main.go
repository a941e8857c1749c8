// Command benchpeer seeds the repositories scripts/bench-peer.sh measures:
// it initialises a GUN on a Notary server with notary's client library and
// publishes, in one go, a delegation (default targets/releases) holding N
// targets. The notary CLI stages one target per invocation, which makes a
// 5,000-target delegation take minutes; everything else the script does
// goes through the notary CLI itself.
//
//	BENCHPEER_TOKEN=… go run ./scripts/benchpeer -server https://127.0.0.1:4443 \
//	    -ca ca.crt -gun 127.0.0.1:4443/bench/big -targets 5000
//
// BENCHPEER_TOKEN, when set, is a registry token (scope
// repository:<gun>:pull,push) sent with every request.
//
// With -serve, it is instead the measurement's ceiling: a bare Go HTTPS
// server (net/http, no routing, no logging) that answers every GET with the
// files given as path=file pairs, with the headers a metadata response needs
// (Content-Type, Content-Length, ETag, and Content-Encoding for a gzip file),
// and 404 otherwise:
//
//	benchpeer -serve 127.0.0.1:9443 -cert server.crt -key server.key \
//	    /v2/x/_trust/tuf/targets.json=targets.json …
package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
)

func main() {
	server := flag.String("server", "", "Notary server URL (https://host:port)")
	caFile := flag.String("ca", "", "PEM CA bundle the server's certificate chains to")
	gun := flag.String("gun", "", "GUN to initialise")
	role := flag.String("role", "targets/releases", "delegation that holds the targets")
	targets := flag.Int("targets", 5000, "number of targets (tags v0…vN-1)")
	serveAddr := flag.String("serve", "", "serve path=file pairs on this address instead (the bare ceiling)")
	certFile := flag.String("cert", "", "with -serve: PEM certificate")
	keyFile := flag.String("key", "", "with -serve: PEM private key")
	flag.Parse()
	if *serveAddr != "" {
		if err := serve(*serveAddr, *certFile, *keyFile, flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "benchpeer:", err)
			os.Exit(1)
		}
		return
	}
	if err := seed(*server, *caFile, *gun, *role, *targets, os.Getenv("BENCHPEER_TOKEN")); err != nil {
		fmt.Fprintln(os.Stderr, "benchpeer:", err)
		os.Exit(1)
	}
}

func seed(server, caFile, gun, role string, targets int, token string) error {
	if server == "" || gun == "" {
		return errors.New("-server and -gun are required")
	}
	logrus.SetLevel(logrus.ErrorLevel)
	tlsConfig := &tls.Config{}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no certificate", caFile)
		}
		tlsConfig.RootCAs = pool
	}
	var rt http.RoundTripper = &http.Transport{TLSClientConfig: tlsConfig}
	if token != "" {
		rt = bearer{rt, token}
	}
	remote, err := storage.NewNotaryServerStore(server, data.GUN(gun), rt)
	if err != nil {
		return err
	}
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("bench-passphrase")))
	repo, err := client.NewRepository(data.GUN(gun), server, remote, storage.NewMemoryStore(nil),
		trustpinning.TrustPinConfig{}, cs, changelist.NewMemChangelist())
	if err != nil {
		return err
	}
	rootKey, err := cs.Create(data.CanonicalRootRole, data.GUN(gun), data.ECDSAKey)
	if err != nil {
		return err
	}
	if err := repo.Initialize([]string{rootKey.ID()}, data.CanonicalSnapshotRole); err != nil {
		return err
	}
	delegation := data.RoleName(role)
	key, err := cs.Create(delegation, data.GUN(gun), data.ECDSAKey)
	if err != nil {
		return err
	}
	if err := repo.AddDelegation(delegation, []data.PublicKey{key}, []string{""}); err != nil {
		return err
	}
	for i := range targets {
		name := "v" + strconv.Itoa(i)
		sum := sha256.Sum256([]byte(gun + "/" + name))
		t := &client.Target{Name: name, Hashes: data.Hashes{"sha256": sum[:]}, Length: 1024 + int64(i)}
		if err := repo.AddTarget(t, delegation); err != nil {
			return err
		}
	}
	if err := repo.Publish(); err != nil {
		return fmt.Errorf("publish %s: %w", gun, err)
	}
	return nil
}

// bearer sends every request with a bearer token.
type bearer struct {
	base  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// serve is the bare server: the least any Go HTTPS server must do to answer
// these GETs on this machine.
func serve(addr, certFile, keyFile string, pairs []string) error {
	type file struct {
		body []byte
		etag string
	}
	files := map[string]file{}
	for _, p := range pairs {
		path, name, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("%q: want path=file", p)
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[path] = file{b, `"` + hex.EncodeToString(sum[:]) + `"`}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		hd := w.Header()
		hd["Content-Type"] = []string{"application/json"}
		hd["Content-Length"] = []string{strconv.Itoa(len(f.body))}
		hd["Etag"] = []string{f.etag}
		if len(f.body) > 2 && f.body[0] == 0x1f && f.body[1] == 0x8b {
			hd["Content-Encoding"] = []string{"gzip"} // served as trustdeck served it
		}
		w.Write(f.body)
	})
	return http.ListenAndServeTLS(addr, certFile, keyFile, h)
}

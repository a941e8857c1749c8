package interop

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// BenchmarkGetTimestamp measures a client's most frequent request: GET
// timestamp.json of an initialised repository, with a bearer token fetched
// once.
func BenchmarkGetTimestamp(b *testing.B) {
	s, gun := benchServer(b)
	benchRepository(b, s, gun)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.TLSConfig()}}
	tok, err := fetchToken(hc, s.URL, jeff, "repository:"+gun+":pull")
	if err != nil {
		b.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, s.URL+"/v2/"+gun+"/_trust/tuf/timestamp.json", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	for b.Loop() {
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET timestamp.json: %d %v", resp.StatusCode, err)
		}
	}
}

// BenchmarkPublishOneTarget measures a publish of one new target into the
// targets role with notary's client library, as docker and the notary CLI
// publish: fetch the current metadata, sign targets with the repository key,
// upload, and let the server sign snapshot and timestamp.
func BenchmarkPublishOneTarget(b *testing.B) {
	s, gun := benchServer(b)
	repo := benchRepository(b, s, gun)
	i := 0
	for b.Loop() {
		i++
		name := "bench-" + strconv.Itoa(i)
		sum := sha256.Sum256([]byte(name))
		target := &client.Target{Name: name, Hashes: data.Hashes{"sha256": sum[:]}, Length: int64(len(name))}
		if err := repo.AddTarget(target, data.CanonicalTargetsRole); err != nil {
			b.Fatal(err)
		}
		if err := repo.Publish(); err != nil {
			b.Fatalf("publish %s: %v", name, err)
		}
	}
}

// benchServer starts trustdeck with jeff (write on prod) and prod/nginx.
func benchServer(b *testing.B) (*testserver.Server, string) {
	b.Helper()
	s := testserver.Start(b)
	s.MustCreateUser(b, jeff.name, jeff.pass, "prod", "write")
	s.MustCreateRepo(b, "prod", "nginx")
	return s, s.Addr + "/prod/nginx"
}

// benchRepository initialises gun with notary's client library as jeff:
// keys in memory, an in-memory cache and changelist, a server-managed
// snapshot.
func benchRepository(b *testing.B, s *testserver.Server, gun string) client.Repository {
	b.Helper()
	rt := &tokenTransport{
		base:   &http.Transport{TLSClientConfig: s.TLSConfig()},
		server: s.URL,
		who:    jeff,
		scope:  "repository:" + gun + ":pull,push",
	}
	remote, err := storage.NewNotaryServerStore(s.URL, data.GUN(gun), rt)
	if err != nil {
		b.Fatal(err)
	}
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever(trustPassphrase)))
	repo, err := client.NewRepository(data.GUN(gun), s.URL, remote, storage.NewMemoryStore(nil),
		trustpinning.TrustPinConfig{}, cs, changelist.NewMemChangelist())
	if err != nil {
		b.Fatal(err)
	}
	rootKey, err := cs.Create(data.CanonicalRootRole, data.GUN(gun), data.ECDSAKey)
	if err != nil {
		b.Fatal(err)
	}
	if err := repo.Initialize([]string{rootKey.ID()}, data.CanonicalSnapshotRole); err != nil {
		b.Fatal(err)
	}
	if err := repo.Publish(); err != nil {
		b.Fatal(err)
	}
	return repo
}

// tokenTransport authenticates every request with a registry token for one
// scope, fetched with basic credentials and fetched again when the server
// answers 401 (an expired token).
type tokenTransport struct {
	base   http.RoundTripper
	server string
	who    account
	scope  string

	mu    sync.Mutex
	token string
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		tok, err := t.current(attempt > 0)
		if err != nil {
			return nil, err
		}
		r := req.Clone(req.Context())
		if attempt > 0 && req.Body != nil {
			if req.GetBody == nil {
				return nil, errors.New("cannot resend a request without GetBody")
			}
			if r.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		resp, err := t.base.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusUnauthorized || attempt > 0 {
			return resp, err
		}
		resp.Body.Close()
	}
}

func (t *tokenTransport) current(refresh bool) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == "" || refresh {
		tok, err := fetchToken(&http.Client{Transport: t.base}, t.server, t.who, t.scope)
		if err != nil {
			return "", err
		}
		t.token = tok
	}
	return t.token, nil
}

// fetchToken asks trustdeck's token service for one token.
func fetchToken(hc *http.Client, server string, a account, scopes ...string) (string, error) {
	q := url.Values{"service": {"trustdeck"}, "scope": scopes}
	req, err := http.NewRequest(http.MethodGet, server+"/auth/token?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(a.name, a.pass)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var reply struct {
		Token string `json:"token"`
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("token: %d %s", resp.StatusCode, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		return "", err
	}
	return reply.Token, nil
}

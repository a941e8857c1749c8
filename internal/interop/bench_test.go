package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
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

	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testnotary"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

// BenchmarkGetTimestamp measures a client's most frequent request: GET
// timestamp.json of an initialised repository, with a bearer token fetched
// once.
func BenchmarkGetTimestamp(b *testing.B) {
	s, gun := benchServer(b)
	benchRepository(b, s, gun)
	benchGetTimestamp(b, s, gun)
}

// benchGetTimestamp GETs timestamp.json of gun as jeff in a loop.
func benchGetTimestamp(b *testing.B, s *testserver.Server, gun string) {
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
	b.ReportAllocs()
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

// BenchmarkGetMetadata measures the GETs every docker and notary command
// sends, over HTTPS with keep-alive, from parallel clients (b.RunParallel;
// -cpu sets how many): timestamp.json, snapshot.json and targets.json of a
// small repository, and targets/releases.json holding 5,000 targets; each
// with a bearer token and anonymously (--allow-anonymous-pull). Compare
// with Debian's notary-server: scripts/bench-peer.sh.
func BenchmarkGetMetadata(b *testing.B) {
	s := testserver.Start(b, "--allow-anonymous-pull")
	s.MustCreateUser(b, jeff.name, jeff.pass, "prod", "write")
	s.MustCreateRepo(b, "prod", "nginx")
	s.MustCreateRepo(b, "prod", "big")
	small, big := s.Addr+"/prod/nginx", s.Addr+"/prod/big"
	benchRepository(b, s, small)
	buildBigRepository(b, s, big, bigTags, 1)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.TLSConfig(), MaxIdleConnsPerHost: 64}}
	for _, f := range []struct{ name, gun, role string }{
		{"timestamp", small, "timestamp"}, {"snapshot", small, "snapshot"}, {"targets", small, "targets"},
		{"delegation-5000", big, "targets/releases"},
	} {
		tok, err := fetchToken(hc, s.URL, jeff, "repository:"+f.gun+":pull")
		if err != nil {
			b.Fatal(err)
		}
		for _, auth := range []struct{ name, header string }{{"token", "Bearer " + tok}, {"anonymous", ""}} {
			b.Run(f.name+"/"+auth.name, func(b *testing.B) {
				url := s.URL + "/v2/" + f.gun + "/_trust/tuf/" + f.role + ".json"
				var size int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						req, err := http.NewRequest(http.MethodGet, url, nil)
						if err != nil {
							b.Error(err)
							return
						}
						if auth.header != "" {
							req.Header.Set("Authorization", auth.header)
						}
						resp, err := hc.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						n, err := io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if err != nil || resp.StatusCode != http.StatusOK {
							b.Errorf("GET %s: %d %v", url, resp.StatusCode, err)
							return
						}
						size = n
					}
				})
				b.ReportMetric(float64(size), "body-bytes")
			})
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
func benchRepository(tb testing.TB, s *testserver.Server, gun string) client.Repository {
	tb.Helper()
	repo, _ := initialisedRepo(tb, s, gun, jeff)
	if err := repo.Publish(); err != nil {
		tb.Fatal(err)
	}
	return repo
}

// initialisedRepo is clientRepo with a new root key, initialised with a
// server-managed snapshot, not yet published.
func initialisedRepo(tb testing.TB, s *testserver.Server, gun string, who account) (client.Repository, signed.CryptoService) {
	tb.Helper()
	repo, cs := clientRepo(tb, s, gun, who, nil)
	rootKey, err := cs.Create(data.CanonicalRootRole, data.GUN(gun), data.ECDSAKey)
	if err != nil {
		tb.Fatal(err)
	}
	if err := repo.Initialize([]string{rootKey.ID()}, data.CanonicalSnapshotRole); err != nil {
		tb.Fatal(err)
	}
	return repo, cs
}

// clientRepo is notary's client library working on gun as who (a token for
// pull and push, fetched with who's credentials), with the keys of cs (nil:
// a new key store in memory), an in-memory cache and changelist.
func clientRepo(tb testing.TB, s *testserver.Server, gun string, who account, cs signed.CryptoService) (client.Repository, signed.CryptoService) {
	tb.Helper()
	rt := &tokenTransport{
		base:   &http.Transport{TLSClientConfig: s.TLSConfig()},
		server: s.URL,
		who:    who,
		scope:  "repository:" + gun + ":pull,push",
	}
	remote, err := storage.NewNotaryServerStore(s.URL, data.GUN(gun), rt)
	if err != nil {
		tb.Fatal(err)
	}
	if cs == nil {
		cs = cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever(trustPassphrase)))
	}
	repo, err := client.NewRepository(data.GUN(gun), s.URL, remote, storage.NewMemoryStore(nil),
		trustpinning.TrustPinConfig{}, cs, changelist.NewMemChangelist())
	if err != nil {
		tb.Fatal(err)
	}
	return repo, cs
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

// ---- trust inspection and the repository list at scale

// bigTags and bigSigners size the repository of BenchmarkInspect5000.
const bigTags, bigSigners = 5000, 20

// BenchmarkInspect5000 measures `GET /api/v1/trust/inspect?ref=<gun>` over
// HTTPS with basic auth on a repository of 5,000 signed tags and 20 signers,
// and the wall time of `docker trust inspect <gun>` on the same repository:
//
//   - api-cold: the first inspection by a new reader (empty metadata cache):
//     the server is restarted before each iteration (untimed), so trustdeck
//     downloads and verifies every role through its Notary handler;
//   - api-warm: the reader's cache is current: one timestamp download, then
//     the inspection is built and printed again;
//   - api-warm-pretty: the same with pretty=1;
//   - api-warm-session: api-warm with a session cookie instead of basic
//     auth (basic auth costs an argon2id hash per request; see
//     BenchmarkAPIBasicAuth);
//   - page-warm-session: the repository page (first 100 signed tags) with
//     a session;
//   - docker-cold: docker trust inspect with an empty TUF cache
//     ($DOCKER_CONFIG/trust/tuf removed before each run, untimed);
//   - docker-warm: docker trust inspect with its cache current.
//
// Building the repository (notary's client library, one publish) takes a
// while; it is only ever done here, never in tests.
func BenchmarkInspect5000(b *testing.B) {
	w := newWorld(b)
	w.s.MustCreateRepo(b, "prod", "big")
	gun := w.gun("prod", "big")
	start := time.Now()
	buildBigRepository(b, w.s, gun, bigTags, bigSigners)
	b.Logf("built %s (%d tags, %d signers) in %s", gun, bigTags, bigSigners, time.Since(start).Round(time.Millisecond))

	// Each publish queued a summary refresh, run in the background. Store a
	// summary and restart, so that nothing runs besides what is measured.
	if err := w.s.App.Store.PutTrustSummary(context.Background(), "prod", "big",
		store.TrustSummary{State: "signed", SignedTags: bigTags, Signers: bigSigners}); err != nil {
		b.Fatal(err)
	}
	w.s.Restart()

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: w.s.TLSConfig()}, Timeout: 5 * time.Minute}
	inspect := "/api/v1/trust/inspect?" + url.Values{"ref": {gun}}.Encode()
	get := func(b *testing.B, path string, auth func(*http.Request)) []byte {
		req, err := http.NewRequest(http.MethodGet, w.s.URL+path, nil)
		if err != nil {
			b.Fatal(err)
		}
		auth(req)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %v %.300s", path, resp.StatusCode, err, body)
		}
		return body
	}
	basic := func(r *http.Request) { r.SetBasicAuth(reader.name, reader.pass) }
	checkRows := func(b *testing.B, body []byte) {
		if n := bytes.Count(body, []byte(`"SignedTag": `)); n != bigTags {
			b.Fatalf("the inspection shows %d signed tags, want %d", n, bigTags)
		}
		b.ReportMetric(float64(len(body)), "body-bytes")
	}

	b.Run("api-cold", func(b *testing.B) {
		var body []byte
		for b.Loop() {
			b.StopTimer()
			w.s.Restart()
			get(b, "/healthz", func(*http.Request) {}) // connect (TLS) untimed
			b.StartTimer()
			body = get(b, inspect, basic)
		}
		checkRows(b, body)
	})
	b.Run("api-warm", func(b *testing.B) {
		body := get(b, inspect, basic)
		for b.Loop() {
			body = get(b, inspect, basic)
		}
		checkRows(b, body)
	})
	b.Run("api-warm-pretty", func(b *testing.B) {
		body := get(b, inspect+"&pretty=1", basic)
		for b.Loop() {
			body = get(b, inspect+"&pretty=1", basic)
		}
		if n := bytes.Count(body, []byte("\nv")); n != bigTags {
			b.Fatalf("the pretty inspection shows %d signed tags, want %d", n, bigTags)
		}
		b.ReportMetric(float64(len(body)), "body-bytes")
	})
	b.Run("api-warm-session", func(b *testing.B) {
		br := w.s.NewBrowser(b)
		br.Login(reader.name, reader.pass)
		cookie := func(r *http.Request) {
			for _, c := range br.C.Jar.Cookies(r.URL) {
				r.AddCookie(c)
			}
		}
		body := get(b, inspect, cookie)
		for b.Loop() {
			body = get(b, inspect, cookie)
		}
		checkRows(b, body)
	})

	// The repository page of the 5,000-tag repository, warm, with a
	// session: the first page of its signed tags, and a filtered later one.
	b.Run("page-warm-session", func(b *testing.B) {
		br := w.s.NewBrowser(b)
		br.Login(reader.name, reader.pass)
		for _, path := range []string{"/repositories/prod/big", "/repositories/prod/big?tag=v4&page=3"} {
			if resp, body := br.Get(path); resp.StatusCode != http.StatusOK {
				b.Fatalf("GET %s: %d %.300s", path, resp.StatusCode, body)
			}
		}
		var body string
		for b.Loop() {
			_, body = br.Get("/repositories/prod/big")
		}
		if !strings.Contains(body, "Tags 1–100 of 5000") {
			b.Fatalf("the page does not list the first 100 of 5,000 tags")
		}
		b.ReportMetric(float64(len(body)), "body-bytes")
	})
	b.Run("docker-cold", func(b *testing.B) {
		if dockerMissing(b, "timing docker trust inspect", "the API benchmarks still run") {
			b.SkipNow()
		}
		box := w.newMachine("docker-box")
		box.dockerLogin(reader)
		var out []byte
		for b.Loop() {
			b.StopTimer()
			if err := os.RemoveAll(filepath.Join(box.trustDir(), "tuf")); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			out = box.quietDocker(b, "trust", "inspect", gun)
		}
		checkRows(b, out)
	})
	b.Run("docker-warm", func(b *testing.B) {
		if dockerMissing(b, "timing docker trust inspect", "the API benchmarks still run") {
			b.SkipNow()
		}
		box := w.newMachine("docker-box-warm")
		box.dockerLogin(reader)
		out := box.quietDocker(b, "trust", "inspect", gun)
		for b.Loop() {
			out = box.quietDocker(b, "trust", "inspect", gun)
		}
		checkRows(b, out)
		// Parity at scale (untimed): trustdeck answers docker's bytes.
		if api := get(b, inspect, basic); !bytes.Equal(api, out) {
			b.Errorf("GET %s differs from docker trust inspect (%d and %d bytes)", inspect, len(api), len(out))
		}
		pretty := box.quietDocker(b, "trust", "inspect", "--pretty", gun)
		if api := get(b, inspect+"&pretty=1", basic); !bytes.Equal(api, pretty) {
			b.Errorf("GET %s&pretty=1 differs from docker trust inspect --pretty (%d and %d bytes)", inspect, len(api), len(pretty))
		}
	})
}

// quietDocker runs the docker CLI without logging the command (benchmarks
// print every log line) and returns its stdout; it must succeed.
func (c *machine) quietDocker(b *testing.B, args ...string) []byte {
	cmd := exec.Command(dockerBin, args...)
	cmd.Env = c.env()
	cmd.Dir = c.w.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// buildBigRepository initialises gun with notary's client library as jeff
// and publishes, in one go: delegations targets/signer00…signerNN with one
// key each, targets/releases with all their keys, and tags v0…v<tags-1>,
// each released in targets/releases and signed by two signers (i mod N and
// i+7 mod N); the first 100 tags are also in targets.
func buildBigRepository(b testing.TB, s *testserver.Server, gun string, tags, signers int) {
	b.Helper()
	repo, cs := initialisedRepo(b, s, gun, jeff)
	signer := func(i int) data.RoleName { return data.RoleName(fmt.Sprintf("targets/signer%02d", i%signers)) }
	var keys []data.PublicKey
	for i := range signers {
		pub, err := cs.Create(signer(i), data.GUN(gun), data.ECDSAKey)
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, pub)
		if err := repo.AddDelegation(signer(i), []data.PublicKey{pub}, []string{""}); err != nil {
			b.Fatal(err)
		}
	}
	releases := data.RoleName("targets/releases")
	if err := repo.AddDelegation(releases, keys, []string{""}); err != nil {
		b.Fatal(err)
	}
	for i := range tags {
		name := "v" + strconv.Itoa(i)
		sum := sha256.Sum256([]byte("big/" + name))
		roles := []data.RoleName{releases, signer(i), signer(i + 7)}
		if i < 100 {
			roles = append(roles, data.CanonicalTargetsRole)
		}
		target := &client.Target{Name: name, Hashes: data.Hashes{"sha256": sum[:]}, Length: 1024 + int64(i)}
		if err := repo.AddTarget(target, roles...); err != nil {
			b.Fatal(err)
		}
	}
	if err := repo.Publish(); err != nil {
		b.Fatalf("publish %s: %v", gun, err)
	}
}

// BenchmarkAPIBasicAuth is the cost of basic credentials alone (an argon2id
// hash per request): GET /api/v1/trust/inspect without ref, answered 400
// once the caller is authenticated.
func BenchmarkAPIBasicAuth(b *testing.B) {
	s := testserver.Start(b)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.TLSConfig()}}
	for b.Loop() {
		req, err := http.NewRequest(http.MethodGet, s.URL+"/api/v1/trust/inspect", nil)
		if err != nil {
			b.Fatal(err)
		}
		req.SetBasicAuth(admin.name, admin.pass)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			b.Fatalf("status %d, want 400 (authenticated, no ref)", resp.StatusCode)
		}
	}
}

// listRepos is the size of the catalog of BenchmarkRepositoryList.
const listRepos = 10_000

// BenchmarkRepositoryList measures the repository list with 10,000
// repositories in the catalog (20 namespaces team00…team19; a third with a
// "signed" trust summary, a third "unsigned", a third without summary),
// inserted through the store:
//
//   - page*: GET /repositories as admin (sees everything) signed in with a
//     session: the first page, sorted by nearest expiry, a search, the last
//     page, the expiring filter;
//   - page-member: the first page for jeff, reader in one namespace (500
//     repositories);
//   - api: GET /api/v1/repositories as admin with basic auth (includes the
//     argon2id hash, see BenchmarkAPIBasicAuth); api-session: the same with
//     the session cookie.
func BenchmarkRepositoryList(b *testing.B) {
	s := testserver.Start(b)
	s.MustCreateUser(b, jeff.name, jeff.pass, "team07", "read")
	ctx := context.Background()
	st := s.App.Store
	now := time.Now()
	start := time.Now()
	for i := range listRepos {
		ns, name := fmt.Sprintf("team%02d", i%20), fmt.Sprintf("app%05d", i)
		if _, err := st.CreateRepository(ctx, ns, name, "admin"); err != nil {
			b.Fatal(err)
		}
		var sum *store.TrustSummary
		switch i % 3 {
		case 0:
			sum = &store.TrustSummary{State: "signed", SignedTags: 1 + i%50, Signers: i % 6,
				NearestExpiry: now.Add(time.Duration(i%400) * 24 * time.Hour), NearestExpiryRole: "targets",
				LastSigned: now.Add(-time.Duration(i) * time.Minute)}
		case 1:
			sum = &store.TrustSummary{State: "unsigned", NearestExpiry: now.Add(3 * 365 * 24 * time.Hour), NearestExpiryRole: "root"}
		}
		if sum != nil {
			if err := st.PutTrustSummary(ctx, ns, name, *sum); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("inserted %d repositories in %s", listRepos, time.Since(start).Round(time.Millisecond))

	adminBr := s.NewBrowser(b)
	adminBr.Login(admin.name, admin.pass)
	jeffBr := s.NewBrowser(b)
	jeffBr.Login(jeff.name, jeff.pass)
	lastPage := (listRepos + catalog.PageSize - 1) / catalog.PageSize

	page := func(br *testserver.Browser, path, want string) func(*testing.B) {
		return func(b *testing.B) {
			var body []byte
			for b.Loop() {
				resp, err := br.C.Get(s.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
				}
			}
			if !bytes.Contains(body, []byte(want)) {
				b.Fatalf("GET %s does not show %q", path, want)
			}
			b.ReportMetric(float64(len(body)), "body-bytes")
		}
	}
	b.Run("page", page(adminBr, "/repositories", "app00000"))
	b.Run("page-sort-expiry", page(adminBr, "/repositories?sort=expiry", "team"))
	b.Run("page-search", page(adminBr, "/repositories?q=app0999", "app09990"))
	b.Run("page-last", page(adminBr, "/repositories?page="+strconv.Itoa(lastPage), "app09999"))
	b.Run("page-filter-expiring", page(adminBr, "/repositories?filter=expiring", "team"))
	b.Run("page-member", page(jeffBr, "/repositories", "app00007"))

	api := func(auth func(*http.Request), c *http.Client) func(*testing.B) {
		return func(b *testing.B) {
			var body []byte
			for b.Loop() {
				req, err := http.NewRequest(http.MethodGet, s.URL+"/api/v1/repositories", nil)
				if err != nil {
					b.Fatal(err)
				}
				auth(req)
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("GET /api/v1/repositories: %d %v %s", resp.StatusCode, err, body)
				}
			}
			var reply struct {
				Total int `json:"total"`
			}
			if err := json.Unmarshal(body, &reply); err != nil || reply.Total != listRepos {
				b.Fatalf("total %d (%v), want %d", reply.Total, err, listRepos)
			}
			b.ReportMetric(float64(len(body)), "body-bytes")
		}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.TLSConfig()}}
	b.Run("api", api(func(r *http.Request) { r.SetBasicAuth(admin.name, admin.pass) }, hc))
	b.Run("api-session", api(func(*http.Request) {}, adminBr.C))
}

// cacheRepos is the number of repositories of BenchmarkCaches.
const cacheRepos = 10_000

// BenchmarkCaches reads every metadata file (root, targets, snapshot,
// timestamp) of 10,000 repositories anonymously, so that every cache of the
// Notary API's read path (metadata, admission) is filled past its bound,
// and reports the Go heap in use after a collection, before and after
// (MiB), and the process's resident memory at the end. The repositories
// hold copies of one fixture's files, written into the store directly.
func BenchmarkCaches(b *testing.B) {
	s := testserver.Start(b, "--allow-anonymous-pull")
	ctx := context.Background()
	st := s.App.Store
	built, err := testnotary.Fixture{GUN: s.Addr + "/team/app", Delegations: []string{"targets/releases"},
		Targets: map[string]map[string]string{"targets/releases": {"v1": "one", "v2": "two"}}}.Build()
	if err != nil {
		b.Fatal(err)
	}
	guns := make([]string, cacheRepos)
	start := time.Now()
	for i := range guns {
		name := fmt.Sprintf("app%05d", i)
		if _, err := st.CreateRepository(ctx, "team", name, "admin"); err != nil {
			b.Fatal(err)
		}
		guns[i] = s.Addr + "/team/" + name
		if err := st.TUF().UpdateMany(data.GUN(guns[i]), built.Updates()); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("stored %d repositories in %s", cacheRepos, time.Since(start).Round(time.Millisecond))
	heap := func() float64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapInuse) / (1 << 20)
	}
	before := heap()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.TLSConfig(), MaxIdleConnsPerHost: 8}}
	for b.Loop() {
		var wg sync.WaitGroup
		next := make(chan string)
		for range 8 {
			wg.Go(func() {
				for gun := range next {
					for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
						resp, err := hc.Get(s.URL + "/v2/" + gun + "/_trust/tuf/" + role + ".json")
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							b.Errorf("GET %s of %s: %d", role, gun, resp.StatusCode)
							return
						}
					}
				}
			})
		}
		for _, gun := range guns {
			next <- gun
		}
		close(next)
		wg.Wait()
	}
	b.ReportMetric(before, "heap-MiB-before")
	b.ReportMetric(heap(), "heap-MiB-after")
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if rss, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rss), " kB"))
				b.ReportMetric(float64(kb)/1024, "rss-MiB")
			}
		}
	}
}

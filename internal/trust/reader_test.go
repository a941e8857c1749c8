package trust

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theupdateframework/notary/client"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/errs"
)

func gets(reqs []string) []string {
	out := []string{}
	for _, r := range reqs {
		if p, ok := strings.CutPrefix(r, "GET /v2/"); ok {
			_, file, _ := strings.Cut(p, "/_trust/tuf/")
			out = append(out, file)
		}
	}
	return out
}

func tagsOf(repo *Repo) []string {
	var tags []string
	for _, row := range repo.Inspect(repo.GUN, "").SignedTags {
		tags = append(tags, row.SignedTag)
	}
	return tags
}

func TestLoadRefreshDownloadsOnlyTheTimestamp(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/cache/app"
	a := e.admin(gun).init()
	alice := a.key("targets/alice", "alice", false)
	a.delegate(RoleReleases, alice).delegate("targets/alice", alice).publish()
	a.sign("v1", "c-1", RoleReleases, "targets/alice").publish()

	r := NewReader(e.remote())
	ctx := context.Background()
	repo, err := r.Load(ctx, gun)
	if err != nil {
		t.Fatal(err)
	}
	cold := gets(e.rt.take())
	if len(cold) < 5 || !slices.Contains(cold, "root.json") || !slices.Contains(cold, "timestamp.json") {
		t.Fatalf("cold load fetched %q", cold)
	}
	if got := tagsOf(repo); !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("tags %q", got)
	}

	for range 3 {
		again, err := r.Load(ctx, gun)
		if err != nil {
			t.Fatal(err)
		}
		if got := gets(e.rt.take()); !slices.Equal(got, []string{"timestamp.json"}) {
			t.Fatalf("warm load fetched %q, want only the timestamp", got)
		}
		if !slices.Equal(tagsOf(again), []string{"v1"}) {
			t.Fatal("warm load lost data")
		}
	}

	// A new publish is seen, fetching only what changed.
	a.sign("v2", "c-2", RoleReleases, "targets/alice").publish()
	repo, err = r.Load(ctx, gun)
	if err != nil {
		t.Fatal(err)
	}
	if got := tagsOf(repo); !slices.Equal(got, []string{"v1", "v2"}) {
		t.Fatalf("after publish: tags %q", got)
	}
	fetched := gets(e.rt.take())
	for _, f := range fetched {
		if strings.HasPrefix(f, "root") || strings.HasPrefix(f, "targets.") {
			t.Errorf("refetched unchanged %s (all: %q)", f, fetched)
		}
	}
	if !slices.Contains(fetched, "timestamp.json") || !slices.ContainsFunc(fetched, func(s string) bool { return strings.HasPrefix(s, "snapshot.") }) {
		t.Errorf("after publish fetched %q", fetched)
	}
	for _, w := range []string{"targets/releases.", "targets/alice."} {
		if !slices.ContainsFunc(fetched, func(s string) bool { return strings.HasPrefix(s, w) }) {
			t.Errorf("did not fetch changed %s*: %q", w, fetched)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/err/app"
	e.admin(gun).init().sign("v1", "e-1", "targets").publish()
	ctx := context.Background()

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	unauthorized := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://auth.test/token"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
	}))
	defer unauthorized.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	at := func(url string) Remote {
		return func(gun string) (store.RemoteStore, error) {
			return store.NewNotaryServerStore(url, data.GUN(gun), http.DefaultTransport)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	tests := []struct {
		name   string
		remote Remote
		ctx    context.Context
		gun    string
		want   error
		kind   errs.Kind
	}{
		{"no trust data", e.remote(), ctx, "reg.test/err/none", ErrNoTrustData, errs.NotFound},
		{"unreachable", at(closed.URL), ctx, gun, ErrUnreachable, errs.Unavailable},
		{"server error", at(failing.URL), ctx, gun, ErrUnreachable, errs.Unavailable},
		{"unauthorized", at(unauthorized.URL), ctx, gun, ErrUnauthorized, errs.Unavailable},
		{"remote not configured", func(string) (store.RemoteStore, error) { return nil, errors.New("no server") }, ctx, gun, ErrUnreachable, errs.Unavailable},
		{"cancelled", e.remote(), cancelled, gun, context.Canceled, errs.Unavailable},
		{"empty gun", e.remote(), ctx, "", nil, errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(tt.remote).Load(tt.ctx, tt.gun)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v is not %v", err, tt.want)
			}
			if errs.KindOf(err) != tt.kind {
				t.Errorf("kind %v, want %v (%v)", errs.KindOf(err), tt.kind, err)
			}
			if e, ok := errs.As(err); ok && tt.want == ErrUnauthorized &&
				(!strings.Contains(e.Message, "HTTP 401") || !strings.Contains(e.Message, "credentials")) {
				t.Errorf("message %q does not say that the server refused trustdeck's credentials (401)", e.Message)
			}
			if e, ok := errs.As(err); ok && tt.name == "server error" && !strings.Contains(e.Message, "failed to serve") {
				t.Errorf("message %q does not say the server answered with a failure", e.Message)
			}
			if e, ok := errs.As(err); ok && tt.name == "unreachable" && !strings.Contains(e.Message, "connection was refused") {
				t.Errorf("message %q does not say the connection was refused", e.Message)
			}
		})
	}

	t.Run("no trust data is the client's error too", func(t *testing.T) {
		_, err := NewReader(e.remote()).Load(ctx, "reg.test/err/none")
		var notExist client.ErrRepositoryNotExist
		if !errors.As(err, &notExist) {
			t.Errorf("%v does not wrap client.ErrRepositoryNotExist", err)
		}
	})

	t.Run("verification", func(t *testing.T) {
		e.rt.tamper = func(path string, body []byte) []byte {
			if strings.Contains(path, "/_trust/tuf/targets.") {
				return bytes.Replace(body, []byte(`"targets"`), []byte(`"targetz"`), 1)
			}
			return body
		}
		defer func() { e.rt.tamper = nil }()
		_, err := NewReader(e.remote()).Load(ctx, gun)
		if !errors.Is(err, ErrVerification) || errs.KindOf(err) != errs.Unavailable {
			t.Fatalf("error %v, want verification", err)
		}
	})
}

func TestLoadNeverServesStaleData(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/stale/app"
	e.admin(gun).init().sign("v1", "s-1", "targets").publish()
	ctx := context.Background()
	var down atomic.Bool
	r := NewReader(func(gun string) (store.RemoteStore, error) {
		if down.Load() {
			return store.NewNotaryServerStore("http://127.0.0.1:1", data.GUN(gun), http.DefaultTransport)
		}
		return e.remote()(gun)
	})
	if _, err := r.Load(ctx, gun); err != nil {
		t.Fatal(err)
	}

	// The server is down: notary's client would use its cached timestamp.
	down.Store(true)
	if _, err := r.Load(ctx, gun); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("load with the server down: %v, want ErrUnreachable", err)
	}
	down.Store(false)
	if _, err := r.Load(ctx, gun); err != nil {
		t.Fatalf("load after recovery: %v", err)
	}

	// The trust data is deleted: the cached copy must not be shown.
	e.deleteTrust(gun)
	if _, err := r.Load(ctx, gun); !errors.Is(err, ErrNoTrustData) {
		t.Fatalf("load after delete: %v, want ErrNoTrustData", err)
	}
	// Re-created with a new root: trusted afresh (the cache was dropped).
	e.admin(gun).init().sign("v9", "s-9", "targets").publish()
	repo, err := r.Load(ctx, gun)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tagsOf(repo), []string{"v9"}) || repo.RootReplaced {
		t.Fatalf("tags %q, root replaced %v", tagsOf(repo), repo.RootReplaced)
	}
}

func TestLoadRootReplaced(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/replace/app"
	e.admin(gun).init().sign("v1", "r-1", "targets").publish()
	ctx := context.Background()
	r := NewReader(e.remote())
	first, err := r.Load(ctx, gun)
	if err != nil {
		t.Fatal(err)
	}
	// Deleted and created anew between two loads: the new root does not
	// chain to the one the reader trusts.
	e.deleteTrust(gun)
	e.admin(gun).init().sign("v2", "r-2", "targets").publish()
	repo, err := r.Load(ctx, gun)
	if err != nil {
		t.Fatal(err)
	}
	if !repo.RootReplaced || !slices.Equal(tagsOf(repo), []string{"v2"}) {
		t.Fatalf("root replaced %v, tags %q", repo.RootReplaced, tagsOf(repo))
	}
	if repo.RootKeys[0].TUFID == first.RootKeys[0].TUFID {
		t.Fatal("same root key")
	}
	again, err := r.Load(ctx, gun)
	if err != nil || again.RootReplaced {
		t.Fatalf("next load: %v, replaced %v", err, again.RootReplaced)
	}
}

func TestInvalidate(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/inv/app"
	e.admin(gun).init().publish()
	ctx := context.Background()
	r := NewReader(e.remote())
	if _, err := r.Load(ctx, gun); err != nil {
		t.Fatal(err)
	}
	e.rt.take()
	r.Invalidate(gun)
	r.Invalidate("reg.test/inv/unknown")
	if r.Cached() != 0 {
		t.Fatalf("%d cached after Invalidate", r.Cached())
	}
	if _, err := r.Load(ctx, gun); err != nil {
		t.Fatal(err)
	}
	if got := gets(e.rt.take()); !slices.Contains(got, "root.json") {
		t.Fatalf("load after Invalidate fetched %q, want a cold load", got)
	}
}

// trackingRemote checks that no two loads of one GUN overlap.
type trackingRemote struct {
	store.RemoteStore
	inflight *atomic.Int32
	overlap  *atomic.Bool
}

func (s trackingRemote) GetSized(name string, size int64) ([]byte, error) {
	if s.inflight.Add(1) > 1 {
		s.overlap.Store(true)
	}
	defer s.inflight.Add(-1)
	time.Sleep(200 * time.Microsecond)
	return s.RemoteStore.GetSized(name, size)
}

func TestConcurrentLoads(t *testing.T) {
	e := newEnv(t)
	guns := []string{"reg.test/conc/a", "reg.test/conc/b", "reg.test/conc/c", "reg.test/conc/d"}
	for i, g := range guns {
		a := e.admin(g).init()
		for j := 0; j <= i; j++ {
			a.sign(fmt.Sprintf("v%d", j), g+fmt.Sprint(j), "targets")
		}
		a.publish()
	}
	var mu sync.Mutex
	inflight := map[string]*atomic.Int32{}
	var overlap atomic.Bool
	remote := func(gun string) (store.RemoteStore, error) {
		rs, err := e.remote()(gun)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if inflight[gun] == nil {
			inflight[gun] = &atomic.Int32{}
		}
		return trackingRemote{rs, inflight[gun], &overlap}, nil
	}
	r := NewReader(remote, WithMaxRepos(2))
	ctx := context.Background()
	var wg sync.WaitGroup
	var failures atomic.Int32
	for w := range 16 {
		wg.Go(func() {
			for i := range 12 {
				n := (w + i) % len(guns)
				repo, err := r.Load(ctx, guns[n])
				if err != nil || len(repo.Targets) != n+1 {
					failures.Add(1)
					continue
				}
				if i%5 == 0 {
					r.Invalidate(guns[n])
				}
			}
		})
	}
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d loads failed", failures.Load())
	}
	if overlap.Load() {
		t.Fatal("two loads of one GUN overlapped")
	}
	if n := r.Cached(); n > 2 {
		t.Fatalf("%d GUNs cached, max 2", n)
	}
}

func TestLoadWaitsForContext(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/slow/app"
	e.admin(gun).init().publish()
	release := make(chan struct{})
	slow := func(gun string) (store.RemoteStore, error) {
		rs, err := e.remote()(gun)
		return blockingRemote{rs, release}, err
	}
	r := NewReader(slow)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Load(ctx, gun)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("Load did not stop at the deadline")
	}
	close(release)
}

type blockingRemote struct {
	store.RemoteStore
	release chan struct{}
}

func (b blockingRemote) GetSized(name string, size int64) ([]byte, error) {
	<-b.release
	return b.RemoteStore.GetSized(name, size)
}

func TestLoadFastPathRespectsExpiry(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/clock/app"
	e.admin(gun).init().sign("v1", "k-1", "targets").publish()
	var clock atomic.Int64
	start := time.Now()
	clock.Store(start.UnixNano())
	r := NewReader(e.remote(), WithClock(func() time.Time { return time.Unix(0, clock.Load()) }))
	ctx := context.Background()
	first, err := r.Load(ctx, gun)
	if err != nil {
		t.Fatal(err)
	}
	if !first.unexpired(start) || first.unexpired(first.Role("timestamp").Expires) {
		t.Fatal("unexpired")
	}
	clock.Store(start.Add(time.Hour).UnixNano())
	second, err := r.Load(ctx, gun)
	if err != nil || !second.LoadedAt.Equal(start.Add(time.Hour)) || len(second.Targets) != 1 {
		t.Fatalf("%v %v", err, second.LoadedAt)
	}
	if first.LoadedAt.Equal(second.LoadedAt) {
		t.Fatal("the fast path changed the earlier result")
	}
	// Past the timestamp's expiry by our clock the fast path is not taken;
	// notary (on the real clock) still verifies the data.
	clock.Store(start.Add(15 * 24 * time.Hour).UnixNano())
	if third, err := r.Load(ctx, gun); err != nil || len(third.Targets) != 1 {
		t.Fatalf("%v", err)
	}
}

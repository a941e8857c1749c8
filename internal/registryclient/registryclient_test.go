package registryclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/memregistry"
	"github.com/trustdeck/trustdeck/internal/notaryclient"
	"github.com/trustdeck/trustdeck/internal/registryclient"
)

// client reads reg through the one outbound transport, trusting its CA.
func client(t *testing.T, reg *memregistry.Registry, opts ...func(*notaryclient.Options)) *registryclient.Client {
	t.Helper()
	o := notaryclient.Options{CAFile: reg.CAFile, Flags: registryclient.Flags, Timeout: 5 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	rt, err := notaryclient.New(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := registryclient.New(reg.URL, rt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seedTags puts n tags t0000… on one image of repo with direct PUTs.
func seedTags(reg *memregistry.Registry, repo string, n int) []string {
	img := reg.PushImage(repo, "base")
	tags := []string{"base"}
	for i := range n - 1 {
		tag := fmt.Sprintf("t%04d", i)
		reg.PutManifest(repo, tag, img)
		tags = append(tags, tag)
	}
	slices.Sort(tags)
	return tags
}

// Tags follow the pages of a registry with Link headers and of one without
// (go-containerregistry's honours n and last but sends no Link): more than
// one page either way, every tag once.
func TestTagsPaginate(t *testing.T) {
	for _, links := range []bool{true, false} {
		t.Run(fmt.Sprintf("links=%v", links), func(t *testing.T) {
			var opts []memregistry.Option
			if links {
				opts = append(opts, memregistry.WithLinks())
			}
			reg := memregistry.Start(t, opts...)
			want := seedTags(reg, "prod/app", 2*registryclient.TagsPageSize+7)
			reg.ResetCounts()
			got, err := client(t, reg).Tags(context.Background(), "prod/app")
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("got %d tags, want %d", len(got), len(want))
			}
			if pages := reg.Count("GET", "tags", 200); pages != 3 {
				t.Errorf("%d pages read, want 3", pages)
			}
		})
	}
}

// A repository the registry does not hold has no tags; the catalog lists
// every repository.
func TestCatalogAndUnknownRepository(t *testing.T) {
	reg := memregistry.Start(t, memregistry.WithLinks())
	var want []string
	for i := range registryclient.CatalogPageSize + 3 {
		repo := fmt.Sprintf("ns%03d/app", i)
		reg.PushImage(repo, "v1")
		want = append(want, repo)
	}
	c := client(t, reg)
	got, err := c.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("catalog: %d repositories, want %d", len(got), len(want))
	}
	tags, err := c.Tags(context.Background(), "nobody/here")
	if err != nil || len(tags) != 0 {
		t.Errorf("tags of an unknown repository: %v %v", tags, err)
	}
}

// Head resolves a tag as docker does (the index's digest for a
// multi-platform image); Manifest lists an index's platforms.
func TestHeadAndPlatforms(t *testing.T) {
	reg := memregistry.Start(t)
	img := reg.PushImage("prod/app", "v1")
	idx := reg.PushIndex("prod/app", "multi", "linux/amd64", "linux/arm64/v8")
	c := client(t, reg)
	ctx := context.Background()
	h, err := c.Head(ctx, "prod/app", "v1", "")
	if err != nil || !h.Found || h.Digest != img.Digest || registryclient.IsIndex(h.MediaType) {
		t.Fatalf("HEAD v1: %+v %v, want %s", h, err, img.Digest)
	}
	h, err = c.Head(ctx, "prod/app", "multi", "")
	if err != nil || h.Digest != idx.Digest || !registryclient.IsIndex(h.MediaType) {
		t.Fatalf("HEAD multi: %+v %v, want %s", h, err, idx.Digest)
	}
	m, err := c.Manifest(ctx, "prod/app", idx.Digest)
	if err != nil || m.Digest != idx.Digest || !slices.Equal(m.Platforms, []string{"linux/amd64", "linux/arm64/v8"}) {
		t.Fatalf("index: %+v %v", m, err)
	}
	h, err = c.Head(ctx, "prod/app", "nope", "")
	if err != nil || h.Found {
		t.Errorf("HEAD of a missing tag: %+v %v", h, err)
	}
	h, err = c.Head(ctx, "prod/app", "sha256:"+strings.Repeat("0", 64), "")
	if err != nil || h.Found {
		t.Errorf("HEAD of a missing digest: %+v %v", h, err)
	}
}

// A registry that answers If-None-Match (as distribution does) answers 304
// to the ETag the client remembered.
func TestHeadConditional(t *testing.T) {
	reg := memregistry.Start(t, memregistry.WithETags())
	img := reg.PushImage("prod/app", "v1")
	c := client(t, reg)
	ctx := context.Background()
	first, err := c.Head(ctx, "prod/app", "v1", "")
	if err != nil || first.ETag == "" {
		t.Fatalf("first HEAD: %+v %v", first, err)
	}
	again, err := c.Head(ctx, "prod/app", "v1", first.ETag)
	if err != nil || !again.NotModified || !again.Found {
		t.Fatalf("conditional HEAD: %+v %v", again, err)
	}
	if reg.Count("HEAD", "manifests", http.StatusNotModified) != 1 {
		t.Errorf("the registry answered no 304")
	}
	moved := reg.PushImage("prod/app", "v1")
	changed, err := c.Head(ctx, "prod/app", "v1", first.ETag)
	if err != nil || changed.NotModified || changed.Digest != moved.Digest || changed.Digest == img.Digest {
		t.Fatalf("HEAD after the tag moved: %+v %v", changed, err)
	}
}

// No more than MaxInFlight requests are in flight at once, however many
// goroutines ask.
func TestAtMostSixteenInFlight(t *testing.T) {
	reg := memregistry.Start(t)
	reg.PushImage("prod/app", "v1")
	reg.SetDelay(20 * time.Millisecond)
	c := client(t, reg)
	errc := make(chan error, 64)
	for range 64 {
		go func() {
			_, err := c.Head(context.Background(), "prod/app", "v1", "")
			errc <- err
		}()
	}
	for range 64 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if got := reg.MaxInFlight(); got > registryclient.MaxInFlight || got < registryclient.MaxInFlight/2 {
		t.Errorf("at most %d requests in flight, want up to %d (and more than one at a time)", got, registryclient.MaxInFlight)
	}
}

// Failures say what failed and why: unreachable, TLS, timeout, 401, 403.
func TestErrors(t *testing.T) {
	reg := memregistry.Start(t)
	reg.PushImage("prod/app", "v1")
	ctx := context.Background()
	kindOf := func(err error) (string, string) {
		var e *registryclient.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T) is not a registryclient.Error", err, err)
		}
		return e.Kind, e.Message
	}

	// TLS: the system's CAs do not know the test registry.
	untrusted := client(t, reg, func(o *notaryclient.Options) { o.CAFile = "" })
	_, err := untrusted.Tags(ctx, "prod/app")
	if kind, msg := kindOf(err); kind != registryclient.KindTLS || !strings.Contains(msg, "--registry-ca") {
		t.Errorf("unknown CA: %s %q", kind, msg)
	}

	// Timeout.
	impatient := client(t, reg, func(o *notaryclient.Options) { o.Timeout = 50 * time.Millisecond })
	reg.SetDelay(300 * time.Millisecond)
	_, err = impatient.Head(ctx, "prod/app", "v1", "")
	if kind, msg := kindOf(err); kind != registryclient.KindTimeout || !strings.Contains(msg, "did not answer in time") {
		t.Errorf("slow: %s %q", kind, msg)
	}
	reg.SetDelay(0)

	// Unreachable.
	c := client(t, reg)
	reg.Stop()
	_, err = c.Tags(ctx, "prod/app")
	if kind, msg := kindOf(err); kind != registryclient.KindUnreachable || !strings.Contains(msg, "refused") {
		t.Errorf("stopped: %s %q", kind, msg)
	}
	reg.Restart()
	if _, err := c.Tags(ctx, "prod/app"); err != nil {
		t.Errorf("after restart: %v", err)
	}

	// 401 and 403 from a registry in front of which nothing is granted.
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, `{"errors":[{"code":"DENIED","message":"no"}]}`)
		}))
		defer srv.Close()
		rt, _ := notaryclient.New(notaryclient.Options{Base: srv.Client().Transport, Flags: registryclient.Flags})
		c, _ := registryclient.New(srv.URL, rt)
		_, err := c.Tags(ctx, "prod/app")
		kind, msg := kindOf(err)
		want := map[int]string{401: registryclient.KindUnauthorized, 403: registryclient.KindForbidden}[status]
		if kind != want || !strings.Contains(msg, fmt.Sprint(status)) {
			t.Errorf("HTTP %d: %s %q", status, kind, msg)
		}
	}
}

// A next page on another server is not followed (credentials stay home).
func TestLinkToAnotherServer(t *testing.T) {
	other, _ := net.Listen("tcp", "127.0.0.1:0")
	other.Close()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `<https://`+other.Addr().String()+`/v2/prod/app/tags/list?last=a&n=1>; rel="next"`)
		fmt.Fprint(w, `{"name":"prod/app","tags":["a"]}`)
	}))
	defer srv.Close()
	rt, _ := notaryclient.New(notaryclient.Options{Base: srv.Client().Transport, Flags: registryclient.Flags})
	c, _ := registryclient.New(srv.URL, rt)
	if _, err := c.Tags(context.Background(), "prod/app"); err == nil || !strings.Contains(err.Error(), "another server") {
		t.Errorf("link to another server: %v", err)
	}
}

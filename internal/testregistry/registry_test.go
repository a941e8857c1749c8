package testregistry_test

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/testregistry"
)

// event is the part of a registry notification the harness promises.
type event struct {
	Action string `json:"action"`
	Target struct {
		MediaType  string `json:"mediaType"`
		Repository string `json:"repository"`
		Digest     string `json:"digest"`
		Tag        string `json:"tag"`
	} `json:"target"`
}

// receiver is an HTTPS notification endpoint that records what it gets.
type receiver struct {
	mu      sync.Mutex
	events  []event
	auth    []string
	srv     *httptest.Server
	caFile  string
	arrived chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{arrived: make(chan struct{}, 1000)}
	rc.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct{ Events []event }
		if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.events = append(rc.events, env.Events...)
		rc.auth = append(rc.auth, r.Header.Get("Authorization"))
		rc.mu.Unlock()
		rc.arrived <- struct{}{}
	}))
	t.Cleanup(rc.srv.Close)
	rc.caFile = filepath.Join(t.TempDir(), "receiver.crt")
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.srv.Certificate().Raw})
	if err := os.WriteFile(rc.caFile, crt, 0o600); err != nil {
		t.Fatal(err)
	}
	return rc
}

// wait returns the events once one matches action, repository and digest.
// The registry sends its notifications one at a time, in order: after the
// 1,100 tags' pushes, a loaded machine (CI under -race) takes a while.
func (rc *receiver) wait(t *testing.T, action, repo, digest string) []event {
	t.Helper()
	const limit = 2 * time.Minute
	deadline := time.After(limit)
	for {
		rc.mu.Lock()
		evs := slices.Clone(rc.events)
		rc.mu.Unlock()
		for _, e := range evs {
			if e.Action == action && e.Target.Repository == repo && e.Target.Digest == digest {
				return evs
			}
		}
		select {
		case <-rc.arrived:
		case <-deadline:
			t.Fatalf("no %s event for %s@%s within %s; got %d events, the last: %+v", action, repo, digest, limit,
				len(evs), evs[max(0, len(evs)-3):])
		}
	}
}

// TestRegistry: the harness's registry serves pushes of images, indexes and
// many tags, pages its catalog at go-containerregistry's default page size,
// deletes, notifies pushes and deletes (not pulls) with the bearer token,
// and comes back after Stop with its storage.
func TestRegistry(t *testing.T) {
	rc := newReceiver(t)
	r := testregistry.New(t)
	r.Start(testregistry.Options{NotifyURL: rc.srv.URL + "/events", NotifyToken: "events-secret",
		TrustCAFile: rc.caFile})
	c := r.Client("", "")

	img := c.PushImage(t, "prod/app", "v1")
	if got := c.Digest(t, "prod/app", "v1"); got != img.Digest {
		t.Errorf("digest of prod/app:v1 %s, want the pushed %s", got, img.Digest)
	}
	rc.wait(t, "push", "prod/app", img.Digest)

	idx := c.PushIndex(t, "prod/multi", "v1")
	if got := c.Digest(t, "prod/multi", "v1"); got != idx.Digest || len(idx.Platforms) != 2 {
		t.Errorf("digest of the index %s, want %s; platforms %+v", got, idx.Digest, idx.Platforms)
	}
	if pulled := c.Pull(t, "prod/multi", "v1"); string(pulled.Raw) != string(idx.Raw) {
		t.Errorf("the registry serves other index bytes than pushed")
	}
	for _, p := range idx.Platforms {
		if got := c.Pull(t, "prod/multi", p.Digest); got.Digest != p.Digest {
			t.Errorf("platform %s/%s: %s, want %s", p.OS, p.Architecture, got.Digest, p.Digest)
		}
	}

	start := time.Now()
	many := make([]string, 1100)
	for i := range many {
		many[i] = fmt.Sprintf("t%04d", i)
	}
	c.Tag(t, "prod/app", img, many...)
	t.Logf("1100 tags in %s", time.Since(start).Round(time.Millisecond))
	if tags := c.Tags(t, "prod/app"); len(tags) != 1101 {
		t.Errorf("%d tags, want 1101", len(tags))
	}
	if repos := c.Catalog(t); !slices.Equal(repos, []string{"prod/app", "prod/multi"}) {
		t.Errorf("catalog %q", repos)
	}

	other := c.PushImage(t, "prod/app", "v2")
	c.Delete(t, "prod/app", other.Digest)
	evs := rc.wait(t, "delete", "prod/app", other.Digest)
	for _, e := range evs {
		if e.Action == "pull" {
			t.Errorf("a pull was notified: %+v", e)
		}
	}
	rc.mu.Lock()
	for _, a := range rc.auth {
		if a != "Bearer events-secret" {
			t.Errorf("notification Authorization %q", a)
		}
	}
	rc.mu.Unlock()

	r.Stop()
	if resp, err := http.Get(r.URL + "/v2/"); err == nil {
		resp.Body.Close()
		t.Fatal("the registry still answers after Stop")
	}
	r.Restart()
	if got := c.Digest(t, "prod/app", "t1099"); got != img.Digest {
		t.Errorf("after Restart: %s, want %s", got, img.Digest)
	}
}

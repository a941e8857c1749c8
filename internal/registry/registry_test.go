package registry_test

// The registry connection through the real stack: trustdeck (embedded
// Notary server) started with --registry-url against go-containerregistry's
// in-process registry over TLS, images pushed with go-containerregistry's
// client, trust data published with notary's client library through
// trustdeck's Notary API, and everything read back through the JSON API.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
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

	"github.com/trustdeck/trustdeck/internal/memregistry"
	"github.com/trustdeck/trustdeck/internal/notaryclient"
	"github.com/trustdeck/trustdeck/internal/registryclient"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

const eventsToken = "events-token-0123456789abcdef"

// start runs trustdeck reading reg (its host is the registry host).
func start(t *testing.T, reg *memregistry.Registry, extra ...string) *testserver.Server {
	t.Helper()
	args := append([]string{"--registry-url", reg.URL, "--registry-ca", reg.CAFile, "--registry-host", reg.Host,
		"--registry-events-token", eventsToken}, extra...)
	return testserver.Start(t, args...)
}

// eventually retries check until it returns "" or the deadline passes.
func eventually(t *testing.T, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type tagsReply struct {
	Tags []struct {
		Name           string   `json:"name"`
		State          string   `json:"state"`
		RegistryDigest *string  `json:"registry_digest"`
		SignedDigest   *string  `json:"signed_digest"`
		Signers        []string `json:"signers"`
		Platforms      []string `json:"platforms"`
	} `json:"tags"`
	Counts   map[string]int `json:"counts"`
	Registry *struct {
		Reachable    bool       `json:"reachable"`
		CheckedAt    *time.Time `json:"checked_at"`
		UnknownSince *time.Time `json:"unknown_since"`
		Error        *string    `json:"error"`
	} `json:"registry"`
}

func tags(t *testing.T, s *testserver.Server, repo string) tagsReply {
	t.Helper()
	resp, body := s.API(t, "admin", testserver.AdminPassword, "GET", "/api/v1/repositories/"+repo+"/tags", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tags of %s: %d %s", repo, resp.StatusCode, body)
	}
	var r tagsReply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// summary is "name=state" per tag, in order.
func (r tagsReply) summary() string {
	var out []string
	for _, t := range r.Tags {
		out = append(out, t.Name+"="+t.State)
	}
	return strings.Join(out, " ")
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

type listRow struct {
	Namespace string
	Name      string
	CreatedBy string `json:"created_by"`
	Registry  *struct {
		Tags, Signed, Unsigned, Drifted, Missing int
		Error                                    string
	}
}

func list(t *testing.T, s *testserver.Server, query string) []listRow {
	t.Helper()
	resp, body := s.API(t, "admin", testserver.AdminPassword, "GET", "/api/v1/repositories"+query, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	var l struct{ Repositories []listRow }
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	return l.Repositories
}

// publish signs tag → manifest for gun in targets with notary's client
// library, through trustdeck's Notary API as admin (initialising the trust
// data first when repo is nil); it returns the repository to publish more.
func publish(t *testing.T, s *testserver.Server, gun string, repo client.Repository, signed map[string]memregistry.Pushed) client.Repository {
	t.Helper()
	if repo == nil {
		rt, err := notaryclient.New(notaryclient.Options{CAFile: s.CAFile, Username: "admin", Password: testserver.AdminPassword})
		if err != nil {
			t.Fatal(err)
		}
		remote, err := storage.NewNotaryServerStore(s.URL, data.GUN(gun), rt)
		if err != nil {
			t.Fatal(err)
		}
		cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("pass")))
		repo, err = client.NewRepository(data.GUN(gun), s.URL, remote, storage.NewMemoryStore(nil),
			trustpinning.TrustPinConfig{}, cs, changelist.NewMemChangelist())
		if err != nil {
			t.Fatal(err)
		}
		rootKey, err := cs.Create(data.CanonicalRootRole, data.GUN(gun), data.ECDSAKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.Initialize([]string{rootKey.ID()}, data.CanonicalSnapshotRole); err != nil {
			t.Fatal(err)
		}
	}
	for tag, p := range signed {
		sum, _ := hex.DecodeString(p.Hex())
		target := &client.Target{Name: tag, Hashes: data.Hashes{"sha256": sum}, Length: int64(len(p.Manifest))}
		if err := repo.AddTarget(target, data.CanonicalTargetsRole); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.Publish(); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return repo
}

// postEvents sends a notification envelope as the registry does.
func postEvents(t *testing.T, s *testserver.Server, auth, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/registry/events", strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}

func envelope(events ...map[string]any) string {
	b, _ := json.Marshal(map[string]any{"events": events})
	return string(b)
}

func event(action, repo, tag string, p memregistry.Pushed) map[string]any {
	target := map[string]any{"repository": repo, "digest": p.Digest, "mediaType": p.MediaType, "size": len(p.Manifest)}
	if tag != "" {
		target["tag"] = tag
	}
	return map[string]any{"id": "e1", "timestamp": time.Now(), "action": action, "target": target,
		"request": map[string]any{"method": "PUT"}, "actor": map[string]any{}, "source": map[string]any{"addr": "registry:5000"}}
}

// Every state through the real stack: the catalog brings the repository in
// (created by registry, audited once); signed, unsigned, drifted (pushed
// over after signing), missing (deleted after signing) and a signed
// multi-platform index; the notifications move the tags at once; the list
// counts follow the trust data and the registry.
func TestTagStatesThroughTheStack(t *testing.T) {
	reg := memregistry.Start(t, memregistry.WithETags())
	const repo = "prod/app"
	v1 := reg.PushImage(repo, "v1")
	v2 := reg.PushImage(repo, "v2")
	v3 := reg.PushImage(repo, "v3")
	reg.PushImage(repo, "latest")
	multi := reg.PushIndex(repo, "multi", "linux/amd64", "linux/arm64/v8")

	s := start(t, reg)
	// The first sync enters the registry's repository into the catalog.
	eventually(t, 10*time.Second, func() string {
		for _, r := range list(t, s, "") {
			if r.Namespace+"/"+r.Name == repo && r.Registry != nil {
				return ""
			}
		}
		return "prod/app not listed with registry counts"
	})
	if got := tags(t, s, repo).summary(); got != "latest=unsigned multi=unsigned v1=unsigned v2=unsigned v3=unsigned" {
		t.Fatalf("before signing: %s", got)
	}

	gun := reg.Host + "/" + repo
	publish(t, s, gun, nil, map[string]memregistry.Pushed{"v1": v1, "v2": v2, "v3": v3, "multi": multi})
	// Then v2 is pushed over and v3 deleted; the registry notifies.
	v2b := reg.PushImage(repo, "v2")
	reg.DeleteTag(repo, "v3")
	sent := time.Now()
	resp, body := postEvents(t, s, "Bearer "+eventsToken, "application/vnd.docker.distribution.events.v1+json",
		envelope(event("push", repo, "v2", v2b), event("pull", repo, "v1", v1), event("delete", repo, "v3", v3)))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"applied":2`) {
		t.Fatalf("events: %d %s", resp.StatusCode, body)
	}
	r := tags(t, s, repo)
	if took := time.Since(sent); took > time.Second {
		t.Errorf("the notification took %s to show", took)
	}
	if got := r.summary(); got != "latest=unsigned multi=signed v1=signed v2=drifted v3=missing" {
		t.Fatalf("states: %s", got)
	}
	if r.Registry == nil || !r.Registry.Reachable || r.Registry.CheckedAt == nil || r.Registry.Error != nil {
		t.Errorf("registry: %+v", r.Registry)
	}
	for _, tag := range r.Tags {
		switch tag.Name {
		case "v2":
			if deref(tag.RegistryDigest) != v2b.Digest || deref(tag.SignedDigest) != v2.Digest {
				t.Errorf("v2: registry %s signed %s, want %s and %s", deref(tag.RegistryDigest), deref(tag.SignedDigest), v2b.Digest, v2.Digest)
			}
		case "v3":
			if tag.RegistryDigest != nil || deref(tag.SignedDigest) != v3.Digest {
				t.Errorf("v3: registry %s signed %s", deref(tag.RegistryDigest), deref(tag.SignedDigest))
			}
		case "multi":
			if deref(tag.RegistryDigest) != multi.Digest || deref(tag.SignedDigest) != multi.Digest ||
				!slices.Equal(tag.Platforms, []string{"linux/amd64", "linux/arm64/v8"}) || !slices.Equal(tag.Signers, []string{"Repo Admin"}) {
				t.Errorf("multi: %+v", tag)
			}
		case "latest":
			if tag.SignedDigest != nil || len(tag.Signers) != 0 {
				t.Errorf("latest: %+v", tag)
			}
		}
	}
	if r.Counts["signed"] != 2 || r.Counts["unsigned"] != 1 || r.Counts["drifted"] != 1 || r.Counts["missing"] != 1 {
		t.Errorf("counts: %v", r.Counts)
	}
	resp, body = s.API(t, "admin", testserver.AdminPassword, "GET", "/api/v1/repositories/"+repo+"/tags?state=drifted", nil)
	if resp.StatusCode != http.StatusOK || strings.Count(body, `"name"`) != 1 || !strings.Contains(body, `"name":"v2"`) {
		t.Errorf("?state=drifted: %d %s", resp.StatusCode, body)
	}

	// The list's counts follow (trust summary, then the notification).
	eventually(t, 10*time.Second, func() string {
		rows := list(t, s, "?filter=unsigned-or-drifted")
		if len(rows) != 1 || rows[0].Registry == nil {
			return fmt.Sprintf("filtered list %+v", rows)
		}
		c := rows[0].Registry
		if c.Signed != 2 || c.Unsigned != 1 || c.Drifted != 1 || c.Missing != 1 || c.Tags != 4 {
			return fmt.Sprintf("counts %+v", *c)
		}
		return ""
	})

	// A full resync changes nothing and is conditional: every tag's HEAD
	// carries the ETag of its last answer (v2's came from the notification,
	// which has none: the first resync learns it).
	for i, want := range []int{3, 4} {
		reg.ResetCounts()
		if err := s.App.Registry.Sync(context.Background(), "prod", "app"); err != nil {
			t.Fatal(err)
		}
		if got := reg.Count("HEAD", "manifests", http.StatusNotModified); got != want {
			t.Errorf("resync %d: %d HEADs answered 304 Not Modified, want %d", i+1, got, want)
		}
		if got := tags(t, s, repo).summary(); got != "latest=unsigned multi=signed v1=signed v2=drifted v3=missing" {
			t.Errorf("after resync %d: %s", i+1, got)
		}
	}

	// v2's signed manifest deleted too: DCT clients cannot pull it any more.
	reg.DeleteManifest(repo, v2.Digest)
	if err := s.App.Registry.Sync(context.Background(), "prod", "app"); err != nil {
		t.Fatal(err)
	}
	if got := tags(t, s, repo).summary(); got != "latest=unsigned multi=signed v1=signed v2=missing v3=missing" {
		t.Errorf("after the signed manifest of v2 was deleted: %s", got)
	}

	// The repository entered once, audited once, created by registry.
	resp, body = s.API(t, "admin", testserver.AdminPassword, "GET", "/api/v1/audit?repository=prod/app", nil)
	if n := strings.Count(body, `"repository.create"`); resp.StatusCode != http.StatusOK || n != 1 || !strings.Contains(body, `"actor":"registry"`) {
		t.Errorf("audit: %d repository.create events: %s", n, body)
	}
}

// The notifications endpoint takes the events token only (not a user's
// credentials, not a session with its CSRF token), the registry's media type
// or JSON, and envelopes; what it refuses changes nothing. A push shows at
// once, without a resync, and brings in a repository trustdeck did not list.
func TestNotifications(t *testing.T) {
	reg := memregistry.Start(t)
	before := reg.PushImage("prod/app", "v1")
	s := start(t, reg) // resync every 10 minutes: only notifications move tags here
	eventually(t, 10*time.Second, func() string {
		if len(list(t, s, "")) != 1 {
			return "prod/app not discovered"
		}
		return ""
	})
	if got := tags(t, s, "prod/app").summary(); got != "v1=unsigned" {
		t.Fatalf("first read: %s", got)
	}
	pushed := reg.PushImage("prod/app", "v2")
	good := envelope(event("push", "prod/app", "v2", pushed))
	const mt = "application/vnd.docker.distribution.events.v1+json"

	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	resp, body := b.JSON("POST", "/api/v1/registry/events", json.RawMessage(good))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a signed-in browser with its CSRF token: %d %s", resp.StatusCode, body)
	}
	refused := []struct {
		name, auth, contentType, body string
		status                        int
	}{
		{"no token", "", mt, good, 401},
		{"wrong token", "Bearer not-the-events-token", mt, good, 401},
		{"token prefix", "Bearer " + eventsToken[:10], mt, good, 401},
		{"basic credentials of the admin", "Basic " + basic("admin", testserver.AdminPassword), mt, good, 401},
		{"the token as basic", "Basic " + basic(eventsToken, ""), mt, good, 401},
		{"form", "Bearer " + eventsToken, "application/x-www-form-urlencoded", "events=1", 415},
		{"text", "Bearer " + eventsToken, "text/plain", good, 415},
		{"not JSON", "Bearer " + eventsToken, mt, "{events", 400},
		{"an array", "Bearer " + eventsToken, mt, "[" + good + "]", 400},
		{"no events", "Bearer " + eventsToken, mt, `{"id":"x"}`, 400},
		{"events not an array", "Bearer " + eventsToken, mt, `{"events":{"action":"push"}}`, 400},
		{"an event without action", "Bearer " + eventsToken, mt, `{"events":[{"target":{"repository":"prod/app","tag":"x"}}]}`, 400},
		{"a push without target", "Bearer " + eventsToken, mt,
			envelope(event("push", "prod/app", "v2", pushed), map[string]any{"action": "push"}), 400},
		{"a repository that is a number", "Bearer " + eventsToken, mt, `{"events":[{"action":"push","target":{"repository":7}}]}`, 400},
		{"two envelopes", "Bearer " + eventsToken, mt, good + good, 400},
	}
	for _, tt := range refused {
		resp, body := postEvents(t, s, tt.auth, tt.contentType, tt.body)
		if resp.StatusCode != tt.status || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
		}
	}
	if got := tags(t, s, "prod/app").summary(); got != "v1=unsigned" {
		t.Fatalf("refused notifications changed the tags: %s", got)
	}

	resp, body = postEvents(t, s, "Bearer "+eventsToken, mt+"; charset=utf-8", good)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("good envelope: %d %s", resp.StatusCode, body)
	}
	if got := tags(t, s, "prod/app").summary(); got != "v1=unsigned v2=unsigned" {
		t.Errorf("after the push notification: %s", got)
	}
	// A push to a repository trustdeck does not list brings it in; a
	// deletion by digest removes every tag on the manifest; blob pushes,
	// pulls and pushes by digest change nothing.
	other := reg.PushImage("team/new", "1.0")
	reg.PutManifest("prod/app", "v1-again", before)
	blob := map[string]any{"action": "push", "target": map[string]any{"repository": "prod/app", "digest": pushed.Digest,
		"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}}
	resp, body = postEvents(t, s, "Bearer "+eventsToken, "application/json", envelope(
		event("push", "team/new", "1.0", other), event("push", "prod/app", "v1-again", before), blob,
		event("push", "prod/app", "", pushed), event("pull", "prod/app", "v2", pushed)))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"applied":2`) {
		t.Fatalf("second envelope: %d %s", resp.StatusCode, body)
	}
	if got := tags(t, s, "prod/app").summary(); got != "v1=unsigned v1-again=unsigned v2=unsigned" {
		t.Errorf("after the second envelope: %s", got)
	}
	resp, _ = postEvents(t, s, "Bearer "+eventsToken, mt, envelope(event("delete", "prod/app", "", before)))
	if got := tags(t, s, "prod/app").summary(); resp.StatusCode != http.StatusOK || got != "v2=unsigned" {
		t.Errorf("after deleting v1's manifest: %d %s", resp.StatusCode, got)
	}
	rows := list(t, s, "?q=team/new")
	if len(rows) != 1 || rows[0].CreatedBy != "registry" {
		t.Errorf("team/new from a notification: %+v", rows)
	}
	eventually(t, 10*time.Second, func() string {
		if got := tags(t, s, "team/new").summary(); got != "1.0=unsigned" {
			return "team/new: " + got
		}
		return ""
	})
	if strings.Contains(s.Logs.String(), "level=ERROR") {
		t.Errorf("server errors logged:\n%s", s.Logs.String())
	}
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// Without --registry-events-token the endpoint does not exist; without
// --registry-url the tags are the signed ones, state unknown, registry null.
func TestWithoutRegistry(t *testing.T) {
	reg := memregistry.Start(t)
	s := testserver.Start(t, "--registry-url", reg.URL, "--registry-ca", reg.CAFile, "--registry-host", reg.Host)
	resp, body := postEvents(t, s, "Bearer "+eventsToken, "application/json", envelope())
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("events without a token configured: %d %s", resp.StatusCode, body)
	}
	plain := testserver.Start(t)
	plain.MustCreateRepo(t, "prod", "app")
	p := publishTo(t, plain, plain.Addr+"/prod/app")
	r := tags(t, plain, "prod/app")
	if r.Registry != nil || r.summary() != "v1=unknown" || deref(r.Tags[0].SignedDigest) != p.Digest || r.Tags[0].RegistryDigest != nil {
		t.Errorf("without a registry: %+v", r)
	}
}

// publishTo signs a made-up manifest as v1 of gun.
func publishTo(t *testing.T, s *testserver.Server, gun string) memregistry.Pushed {
	manifest := []byte(`{"schemaVersion":2}`)
	sum := sha256.Sum256(manifest)
	p := memregistry.Pushed{Digest: "sha256:" + hex.EncodeToString(sum[:]), Manifest: manifest}
	publish(t, s, gun, nil, map[string]memregistry.Pushed{"v1": p})
	return p
}

// A stopped registry: the API says unreachable, with the cause and since
// when, keeps the last known tags (state unknown), every page renders; once
// the registry is back, the periodic resync makes it current again, without
// a restart.
func TestRegistryDownAndBack(t *testing.T) {
	reg := memregistry.Start(t)
	v1 := reg.PushImage("prod/app", "v1")
	s := start(t, reg, "--registry-sync-interval", "200ms")
	eventually(t, 10*time.Second, func() string {
		if r := tags(t, s, "prod/app"); r.summary() != "v1=unsigned" || r.Registry == nil || !r.Registry.Reachable {
			return "not read yet: " + r.summary()
		}
		return ""
	})
	reg.Stop()
	var down tagsReply
	eventually(t, 10*time.Second, func() string {
		down = tags(t, s, "prod/app")
		if down.Registry == nil || down.Registry.Reachable {
			return "still reachable"
		}
		return ""
	})
	if down.summary() != "v1=unknown" || deref(down.Tags[0].RegistryDigest) != v1.Digest || down.Registry.UnknownSince == nil ||
		down.Registry.CheckedAt == nil || !strings.Contains(deref(down.Registry.Error), "connection was refused") {
		t.Errorf("registry down: %s %+v %s", down.summary(), *down.Registry, deref(down.Registry.Error))
	}
	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	for _, page := range []string{"/repositories", "/repositories/prod/app", "/repositories/prod/app/tags?tag=v1"} {
		if resp, body := b.Get(page); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with the registry down: %d %s", page, resp.StatusCode, body)
		}
	}
	rows := list(t, s, "")
	if len(rows) != 1 || rows[0].Registry == nil || !strings.Contains(rows[0].Registry.Error, "refused") {
		t.Errorf("list with the registry down: %+v", rows)
	}

	reg.Restart()
	eventually(t, 10*time.Second, func() string {
		r := tags(t, s, "prod/app")
		if r.Registry == nil || !r.Registry.Reachable || r.Registry.Error != nil || r.Registry.UnknownSince != nil || r.summary() != "v1=unsigned" {
			return "not back: " + r.summary()
		}
		return ""
	})
	if strings.Contains(s.Logs.String(), "level=ERROR") {
		t.Errorf("server errors logged:\n%s", s.Logs.String())
	}
}

// More than 1,000 tags (the registry pages them) are read, at most 16
// requests in flight.
func TestManyTags(t *testing.T) {
	reg := memregistry.Start(t)
	img := reg.PushImage("prod/big", "base")
	const n = 1500
	for i := range n - 1 {
		reg.PutManifest("prod/big", fmt.Sprintf("t%04d", i), img)
	}
	reg.ResetCounts()
	s := start(t, reg)
	var r tagsReply
	eventually(t, 30*time.Second, func() string {
		if r = tags(t, s, "prod/big"); len(r.Tags) != n || r.Counts["unsigned"] != n {
			return fmt.Sprintf("%d tags, counts %v", len(r.Tags), r.Counts)
		}
		return ""
	})
	if pages := reg.Count("GET", "tags", 200); pages < 2 {
		t.Errorf("tags read in %d pages", pages)
	}
	if m := reg.MaxInFlight(); m > registryclient.MaxInFlight {
		t.Errorf("%d requests in flight at once", m)
	}
	if r.Tags[0].Name != "base" || r.Tags[1].Name != "t0000" || r.Tags[n-1].Name != fmt.Sprintf("t%04d", n-2) {
		t.Errorf("order: %s %s … %s", r.Tags[0].Name, r.Tags[1].Name, r.Tags[n-1].Name)
	}
}

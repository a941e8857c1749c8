package interop

// The registry connection against Debian's docker-registry (the issue's
// acceptance): images pushed by a real registry client, trust data signed
// with the real notary CLI over the exact manifest bytes, and trustdeck as
// the registry's token realm and notification endpoint.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/testregistry"
)

const registryEventsToken = "registry-events-token-0123456789"

// registryWorld is trustdeck reading r, r's realm and notification endpoint.
// The registry is started with notifications when notify is set.
func registryWorld(t *testing.T, notify bool, flags ...string) (*world, *testregistry.Registry) {
	t.Helper()
	return registryWorldAs(t, notify, admin, flags...)
}

// registryWorldB is registryWorld for benchmarks, without notifications.
func registryWorldB(b *testing.B) (*world, *testregistry.Registry) {
	b.Helper()
	return registryWorldAs(b, false, admin)
}

// registryWorldAs is registryWorld where trustdeck reads (and writes) the
// registry as account.
func registryWorldAs(t testing.TB, notify bool, account account, flags ...string) (*world, *testregistry.Registry) {
	t.Helper()
	r := testregistry.New(t)
	t.Setenv("TRUSTDECK_REGISTRY_PASSWORD", account.pass)
	t.Setenv("TRUSTDECK_REGISTRY_EVENTS_TOKEN", registryEventsToken)
	w := newWorld(t, append([]string{"--registry-host", r.Addr, "--registry-url", r.URL, "--registry-ca", r.CAFile,
		"--registry-username", account.name}, flags...)...)
	w.host = w.s.Addr // the notary CLI talks to trustdeck; GUNs name the registry host
	opts := testregistry.ForTrustdeck(w.s, registryEventsToken)
	if !notify {
		opts.NotifyURL = ""
	}
	r.Start(opts)
	return w, r
}

// apiTags is GET /api/v1/repositories/{ns}/{name}/tags as the admin.
type apiTags struct {
	Tags []struct {
		Name           string   `json:"name"`
		State          string   `json:"state"`
		RegistryDigest *string  `json:"registry_digest"`
		SignedDigest   *string  `json:"signed_digest"`
		Signers        []string `json:"signers"`
		Platforms      []string `json:"platforms"`
	} `json:"tags"`
	Registry *struct {
		Reachable bool    `json:"reachable"`
		Error     *string `json:"error"`
	} `json:"registry"`
}

func (a apiTags) states() map[string]string {
	out := map[string]string{}
	for _, t := range a.Tags {
		out[t.Name] = t.State
	}
	return out
}

func getTags(t *testing.T, w *world, repo string) (int, apiTags) {
	t.Helper()
	resp, body := w.s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/repositories/"+repo+"/tags", nil)
	var out apiTags
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("GET %s tags: %v: %s", repo, err, body)
		}
	}
	return resp.StatusCode, out
}

// waitTags polls the tags API until ok accepts it (within limit).
func waitTags(t *testing.T, w *world, repo string, limit time.Duration, what string, ok func(apiTags) bool) apiTags {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		status, got := getTags(t, w, repo)
		if status == http.StatusOK && ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after %s the tags API of %s says %d %+v", what, limit, repo, status, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sameStates(want map[string]string) func(apiTags) bool {
	return func(a apiTags) bool {
		got := a.states()
		if len(got) != len(want) {
			return false
		}
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	}
}

// TestRegistryTagStates: every state, an index signed by its index digest,
// each change seen from the registry's notifications (the resync is 10
// minutes away), and a repository only the registry's catalog knows.
func TestRegistryTagStates(t *testing.T) {
	// Phase one: the registry sends no notifications; prod/early is pushed
	// before trustdeck reads the registry's catalog.
	w, r := registryWorld(t, false)
	writer, admins := r.Client(jeff.name, jeff.pass), r.Client(admin.name, admin.pass)
	writer.PushImage(t, "prod/early", "latest")
	w.s.Restart() // the first sync on start reads the catalog
	waitTags(t, w, "prod/early", 30*time.Second, "catalog discovery", sameStates(map[string]string{"latest": "unsigned"}))
	resp, body := w.s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/repositories/prod/early", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"created_by":"registry"`) {
		t.Fatalf("prod/early from the catalog: %d %s", resp.StatusCode, body)
	}
	_, audit := w.s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/audit?"+url.Values{"q": {"prod/early"}}.Encode(), nil)
	if n := strings.Count(audit, `"repository.create"`); n != 1 {
		t.Errorf("prod/early's creation is audited %d times, want once: %.600s", n, audit)
	}

	// Phase two: notifications on.
	opts := r.Options()
	opts.NotifyURL = w.s.URL + "/api/v1/registry/events"
	r.Stop()
	r.Start(opts)

	w.s.MustCreateRepo(t, "prod", "app")
	gun := r.Addr + "/prod/app"
	images := map[string]testregistry.Manifest{}
	for _, tag := range []string{"v1", "v2", "v3", "v4"} {
		images[tag] = writer.PushImage(t, "prod/app", tag)
	}
	index := writer.PushIndex(t, "prod/app", "multi")
	images["multi"] = index.Manifest
	laptop := w.newMachine("laptop")
	laptop.mustNotary(jeff, "init", gun, "--publish")
	for _, tag := range []string{"v1", "v2", "v3", "multi"} {
		laptop.mustNotary(jeff, "add", gun, tag, w.writeFile("manifest-"+tag, images[tag].Raw))
	}
	laptop.mustNotary(jeff, "publish", gun)
	got := waitTags(t, w, "prod/app", 30*time.Second, "signed", sameStates(map[string]string{
		"v1": "signed", "v2": "signed", "v3": "signed", "v4": "unsigned", "multi": "signed"}))
	for _, tg := range got.Tags {
		if tg.Name == "multi" {
			if tg.SignedDigest == nil || *tg.SignedDigest != index.Digest || tg.RegistryDigest == nil || *tg.RegistryDigest != index.Digest {
				t.Errorf("multi: signed %v, registry %v, want the index digest %s", tg.SignedDigest, tg.RegistryDigest, index.Digest)
			}
			if strings.Join(tg.Platforms, ",") != "linux/amd64,linux/arm64" {
				t.Errorf("multi's platforms: %v", tg.Platforms)
			}
		}
	}

	// Drifted: another image pushed to a signed tag; missing: a signed
	// manifest deleted (with its tag). Seen within a second or two, from
	// the notifications alone (the resync is ten minutes away; a loaded CI
	// machine delivers them late, hence the generous limit).
	start := time.Now()
	moved := writer.PushImage(t, "prod/app", "v2")
	admins.Delete(t, "prod/app", images["v3"].Digest)
	got = waitTags(t, w, "prod/app", 30*time.Second, "drifted and missing", sameStates(map[string]string{
		"v1": "signed", "v2": "drifted", "v3": "missing", "v4": "unsigned", "multi": "signed"}))
	t.Logf("the push and the delete showed after %s", time.Since(start).Round(time.Millisecond))
	for _, tg := range got.Tags {
		if tg.Name == "v2" && (tg.RegistryDigest == nil || *tg.RegistryDigest != moved.Digest ||
			tg.SignedDigest == nil || *tg.SignedDigest != images["v2"].Digest) {
			t.Errorf("v2: registry %v, signed %v; want %s and %s", tg.RegistryDigest, tg.SignedDigest, moved.Digest, images["v2"].Digest)
		}
		if tg.Name == "v3" && tg.RegistryDigest != nil {
			t.Errorf("v3 is missing but has registry digest %s", *tg.RegistryDigest)
		}
	}

	// A new repository pushed: discovered from its notification.
	writer.PushImage(t, "prod/fresh", "1.0")
	waitTags(t, w, "prod/fresh", 30*time.Second, "discovery from a notification", sameStates(map[string]string{"1.0": "unsigned"}))

	// More than 1,000 tags.
	many := writer.PushImage(t, "prod/many", "t0")
	var tags []string
	for i := 1; i < 1100; i++ {
		tags = append(tags, "t"+strconv.Itoa(i))
	}
	writer.Tag(t, "prod/many", many, tags...)
	waitTags(t, w, "prod/many", 3*time.Minute, "1,100 tags", func(a apiTags) bool {
		return len(a.Tags) == 1100 && a.states()["t1099"] == "unsigned"
	})

	// The pages render the states.
	br := w.s.NewBrowser(t)
	br.Login(reader.name, reader.pass)
	for path, wants := range map[string][]string{
		"/repositories/prod/app":                   {`data-state="drifted"`, "1 tag moved to another image after signing", `class="tag-missing"`},
		"/repositories/prod/app?state=drifted":     {"Tags 1–1 of 1 matching (of 5 signed tags)", "docker pull " + r.Addr + "/prod/app@" + moved.Digest},
		"/repositories/prod/app/tags?tag=multi":    {`<dd id="platforms">linux/amd64, linux/arm64</dd>`, index.Digest},
		"/repositories?filter=unsigned-or-drifted": {"prod/app", "prod/fresh", "1 drifted"},
	} {
		resp, body := br.Get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %.300s", path, resp.StatusCode, body)
		}
		for _, want := range wants {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %q", path, want)
			}
		}
	}
}

// TestRegistryDownAndBack: with the registry stopped, every page renders and
// says why the registry cannot be read; the trust views keep working; when
// it is back, trustdeck recovers without a restart.
func TestRegistryDownAndBack(t *testing.T) {
	w, r := registryWorld(t, true, "--registry-sync-interval", "1s")
	writer := r.Client(jeff.name, jeff.pass)
	w.s.MustCreateRepo(t, "prod", "app")
	img := writer.PushImage(t, "prod/app", "v1")
	gun := r.Addr + "/prod/app"
	laptop := w.newMachine("laptop")
	laptop.mustNotary(jeff, "init", gun, "--publish")
	laptop.mustNotary(jeff, "add", gun, "v1", w.writeFile("manifest-v1", img.Raw))
	laptop.mustNotary(jeff, "publish", gun)
	waitTags(t, w, "prod/app", 30*time.Second, "signed", sameStates(map[string]string{"v1": "signed"}))

	r.Stop()
	got := waitTags(t, w, "prod/app", 15*time.Second, "registry down", func(a apiTags) bool {
		return a.Registry != nil && !a.Registry.Reachable
	})
	if got.Registry.Error == nil || !strings.Contains(*got.Registry.Error, "refused") && !strings.Contains(*got.Registry.Error, "unreachable") {
		t.Errorf("the registry's error does not name its cause: %v", got.Registry.Error)
	}
	if got.states()["v1"] != "unknown" {
		t.Errorf("v1 is %q with the registry down, want unknown", got.states()["v1"])
	}
	br := w.s.NewBrowser(t)
	br.Login(reader.name, reader.pass)
	for path, wants := range map[string][]string{
		"/repositories/prod/app":              {"The registry could not be read", "unknown since then", `id="signers"`},
		"/repositories/prod/app/tags?tag=v1":  {"The registry could not be read"},
		"/repositories":                       {"prod/app"},
		"/api/v1/trust/inspect?ref=" + gun:    {`"SignedTag": "v1"`},
		"/repositories/prod/app?state=signed": {"No tag matches the filter."},
	} {
		resp, body := br.Get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s with the registry down: %d %.300s", path, resp.StatusCode, body)
		}
		for _, want := range wants {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s with the registry down lacks %q", path, want)
			}
		}
	}

	r.Restart()
	waitTags(t, w, "prod/app", 15*time.Second, "registry back", func(a apiTags) bool {
		return a.Registry != nil && a.Registry.Reachable && a.states()["v1"] == "signed"
	})
	if resp, body := br.Get("/repositories/prod/app"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Registry read") {
		t.Errorf("after the registry came back the page says: %d %.300s", resp.StatusCode, excerpt(body, "registry-status"))
	}
}

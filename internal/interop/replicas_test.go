package interop

// Two trustdeck replicas, each the built binary in a process of its own, on
// one database (SQLite in their shared --data; PostgreSQL when
// testpg.ServeArgs gives one), the test alternating between them:
// concurrent publishes to one GUN never lose an update, what one replica
// writes the other serves, a browser session works on both, a disabled user
// is refused by both, a replica killed with SIGKILL leaves the other taking
// writes, and discovery runs on exactly one replica and moves when it dies.

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/app"
	"github.com/trustdeck/trustdeck/internal/cluster"
	"github.com/trustdeck/trustdeck/internal/testpg"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

// replicaRegistry is the registry host of both replicas: the GUNs are the
// same whichever replica a client talks to.
const replicaRegistry = "registry.test:5000"

// replicaSet is two trustdeck processes on one database and one --data
// (its secrets/ and tls/), and a world for each (one directory of client
// files).
type replicaSet struct {
	procs  [2]*testserver.Process
	worlds [2]*world
}

// startReplicas starts replica A, then replica B (which finds A's
// secrets, TLS files and database), with the same serve flags.
func startReplicas(t *testing.T, flags ...string) *replicaSet {
	t.Helper()
	bin := vfBinary(t)
	dir, clients := t.TempDir(), t.TempDir()
	args := append(testpg.ServeArgs(t), flags...)
	env := []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin", "TRUSTDECK_ADMIN_PASSWORD=" + admin.pass}
	rs := &replicaSet{}
	for i := range rs.procs {
		addr := testserver.FreeAddr(t)
		p := testserver.StartProcess(t, bin, append([]string{"--addr", addr, "--data", dir, "--public-host", addr}, args...), env)
		rs.procs[i] = p
		rs.worlds[i] = &world{t: t, s: p.Server(), dir: clients, host: addr}
	}
	return rs
}

// replicaTags lists gun's targets through the machine's replica with the
// notary CLI (which verifies what it reads).
func replicaTags(t *testing.T, m *machine, a account, gun string) ([]string, result) {
	t.Helper()
	r := m.notary(a, "list", gun)
	if !r.ok() {
		return nil, r
	}
	var tags []string
	table := false // the rows follow the dashes under the header
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && strings.HasPrefix(f[0], "----"):
			table = true
		case table && len(f) >= 4:
			tags = append(tags, f[0])
		}
	}
	slices.Sort(tags)
	return tags, r
}

// timestampVersions reads gun's changefeed through w's replica: the
// version of each timestamp stored, oldest first.
func timestampVersions(t *testing.T, w *world, gun string) []int {
	t.Helper()
	tok := w.token(admin, "repository:"+gun+":pull").token
	status, body := w.notaryAPI(http.MethodGet, "/v2/"+gun+"/_trust/changefeed?records=10000&change_id=0", tok, nil, "")
	if status != http.StatusOK {
		t.Fatalf("changefeed of %s: %d %s", gun, status, body)
	}
	var feed struct {
		Records []struct {
			Version  int    `json:"Version"`
			Category string `json:"Category"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(body), &feed); err != nil {
		t.Fatalf("changefeed %s: %v", body, err)
	}
	var out []int
	for _, r := range feed.Records {
		if r.Category == "update" {
			out = append(out, r.Version)
		}
	}
	return out
}

// strictlyIncreasing reports whether vs climb by one from vs[0] (every
// stored timestamp one version above the one before: no two publishes
// were based on the same state).
func strictlyIncreasing(vs []int) bool {
	for i := 1; i < len(vs); i++ {
		if vs[i] != vs[i-1]+1 {
			return false
		}
	}
	return true
}

// cloneMachine is a new machine of world w whose trust directory (keys and
// TUF cache) is a copy of m's: another CI runner with the same keys.
func cloneMachine(t *testing.T, w *world, m *machine, name string) *machine {
	t.Helper()
	c := w.newMachine(name)
	if out, err := exec.Command("cp", "-a", m.trustDir(), c.trustDir()).CombinedOutput(); err != nil {
		t.Fatalf("copy the trust directory: %v\n%s", err, out)
	}
	return c
}

// publishResult is what one concurrent publisher achieved.
type publishResult struct {
	tag      string
	accepted bool
	unclean  []string // refusals that were no clean refusal
}

// publishWithRetries publishes m's pending change of gun until the server
// accepts it, up to attempts times (a publish based on a state another
// publish replaced is refused, and the next attempt starts from the new
// state), or until stop is closed.
func publishWithRetries(m *machine, gun, tag string, attempts int, stop <-chan struct{}) publishResult {
	out := publishResult{tag: tag}
	for range attempts {
		r := m.notary(jeff, "publish", gun)
		if r.ok() {
			out.accepted = true
			return out
		}
		// A clean refusal is the server's 4xx (notary: "trust server
		// rejected operation", old version) or an unreachable replica;
		// never a server error.
		if strings.Contains(r.stderr, "unable to reach trust server at this time: 5") ||
			strings.Contains(r.stderr, "500") {
			out.unclean = append(out.unclean, r.String())
		}
		select {
		case <-stop:
			return out
		case <-time.After(time.Duration(50+rand.IntN(300)) * time.Millisecond):
		}
	}
	return out
}

func TestReplicasOnOneDatabase(t *testing.T) {
	rs := startReplicas(t, "--registry-host", replicaRegistry)
	a, b := rs.worlds[0], rs.worlds[1]
	gun := replicaRegistry + "/prod/app"

	// A browser session started on A is valid on B, CSRF token included:
	// the repository is created through B with A's session.
	browser := a.s.NewBrowser(t)
	browser.Login(admin.name, admin.pass)
	onB := browser.On(b.s)
	if resp, body := onB.Get("/repositories"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign out") {
		t.Fatalf("A's session on B: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := onB.JSON(http.MethodPost, "/api/v1/repositories",
		map[string]string{"namespace": "prod", "name": "app"}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create a repository through B with A's session: %d %s", resp.StatusCode, body)
	}
	a.s.MustCreateUser(t, jeff.name, jeff.pass, "prod", "write")

	// The seed workflow through A: jeff initialises prod/app and signs
	// tag 1; B, which served the repository before, serves tag 1 within the
	// staleness bound, to the notary CLI and in its inspect API.
	laptop := a.newMachine("laptop")
	laptop.mustNotary(jeff, "init", gun, "--publish")
	desk := b.newMachine("desk")
	if tags, r := replicaTags(t, desk, jeff, gun); !r.ok() || len(tags) != 0 {
		t.Fatalf("B before tag 1: %q\n%s", tags, r)
	}
	laptop.mustNotary(jeff, "add", gun, "1", a.writeFile("artifact-1", []byte("artifact 1")))
	laptop.mustNotary(jeff, "publish", gun)
	published := time.Now()
	waitFor(t, "tag 1 through B", 5*time.Second, func() (bool, string) {
		tags, r := replicaTags(t, desk, jeff, gun)
		return slices.Equal(tags, []string{"1"}), r.String()
	})
	t.Logf("B served tag 1 %s after A stored it", time.Since(published).Round(time.Millisecond))
	resp, body := b.s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/trust/inspect?ref="+gun, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"SignedTag": "1"`) {
		t.Fatalf("B's inspect API after A's publish: %d\n%s", resp.StatusCode, body)
	}

	// A bulk capture (prod/app and a GUN without trust data) started
	// through A: its progress page answers through B too.
	browser.Get("/archives/capture")
	resp, page := browser.PostForm("/archives/capture", url.Values{"notary_url": {a.s.URL}, "guns": {gun + "\n" + replicaRegistry + "/prod/none"},
		"username": {admin.name}, "password": {admin.pass}})
	job := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(job, "/archives/captures/") {
		t.Fatalf("bulk capture through A: %d %s", resp.StatusCode, page)
	}
	waitFor(t, "the capture's page through B to show it done", 20*time.Second, func() (bool, string) {
		resp, page := onB.Get(job)
		return resp.StatusCode == http.StatusOK && strings.Contains(page, "Done: 1 captured, 1 failed."), page
	})

	// 20 CI runners with jeff's keys publish one tag each at the same
	// time, half through A and half through B: each lands or is refused
	// cleanly (and tries again), and nothing accepted is lost.
	before := timestampVersions(t, b, gun)
	const publishers = 20
	machines := make([]*machine, publishers)
	for i := range machines {
		w := rs.worlds[i%2]
		tag := fmt.Sprintf("c%02d", i)
		machines[i] = cloneMachine(t, w, laptop, "ci-"+tag)
		machines[i].mustNotary(jeff, "add", gun, tag, w.writeFile("artifact-"+tag, []byte("artifact "+tag)))
	}
	results := make([]publishResult, publishers)
	var wg sync.WaitGroup
	for i, m := range machines {
		wg.Go(func() { results[i] = publishWithRetries(m, gun, fmt.Sprintf("c%02d", i), 8, nil) })
	}
	wg.Wait()
	accepted := []string{"1"}
	for _, r := range results {
		for _, u := range r.unclean {
			t.Errorf("publish of %s: not a clean refusal:\n%s", r.tag, u)
		}
		if r.accepted {
			accepted = append(accepted, r.tag)
		}
	}
	slices.Sort(accepted)
	t.Logf("%d of %d concurrent publishes landed", len(accepted)-1, publishers)
	if len(accepted) < 2 {
		t.Fatal("no concurrent publish landed")
	}
	// A replica serves what the other stored within the staleness bound
	// (cluster.PollInterval): the last publish may have landed through the
	// other one a moment ago. A lost update never appears.
	for _, w := range rs.worlds {
		check := w.newMachine(fmt.Sprintf("check-%s", strings.ReplaceAll(w.host, ":", "-")))
		waitFor(t, "every accepted tag through "+w.host, 5*time.Second, func() (bool, string) {
			tags, r := replicaTags(t, check, jeff, gun)
			return r.ok() && slices.Equal(tags, accepted), fmt.Sprintf("\n got %q\nwant %q (every accepted tag)\n%s", tags, accepted, r)
		})
	}
	after := timestampVersions(t, b, gun)
	if !strictlyIncreasing(after) || len(after)-len(before) != len(accepted)-1 {
		t.Fatalf("timestamp versions %v (before the publishes %v): want one more per accepted publish (%d), each one above the last",
			after, before, len(accepted)-1)
	}
	for i, p := range rs.procs {
		if log := p.FullLog(); strings.Contains(log, "notary API request failed") {
			t.Errorf("replica %d answered a server error:\n%s", i, p.Log())
		}
	}

	// jeff, disabled through A, is refused by B: a write right away (B
	// catches up before every write), with the token B gave him before,
	// and a read once the staleness bound has passed.
	tok := b.token(jeff, "repository:"+gun+":pull,push").token
	if status, body := b.notaryAPI(http.MethodGet, "/v2/"+gun+"/_trust/tuf/timestamp.json", tok, nil, ""); status != http.StatusOK {
		t.Fatalf("jeff's token on B before he is disabled: %d %s", status, body)
	}
	if resp, body := a.s.API(t, admin.name, admin.pass, http.MethodPatch, "/api/v1/users/jeff",
		map[string]bool{"disabled": true}); resp.StatusCode != http.StatusOK {
		t.Fatalf("disable jeff through A: %d %s", resp.StatusCode, body)
	}
	var upload strings.Builder
	mw := multipart.NewWriter(&upload)
	part, _ := mw.CreateFormFile("files", "targets")
	io.WriteString(part, `{"signed":{"_type":"Targets","version":99},"signatures":[]}`)
	mw.Close()
	if status, body := b.notaryAPI(http.MethodPost, "/v2/"+gun+"/_trust/tuf/", tok, strings.NewReader(upload.String()),
		mw.FormDataContentType()); status != http.StatusUnauthorized {
		t.Fatalf("a write on B with the token of jeff, disabled on A just before: %d %s, want 401", status, body)
	}
	time.Sleep(4 * cluster.PollInterval)
	if status, body := b.notaryAPI(http.MethodGet, "/v2/"+gun+"/_trust/tuf/timestamp.json", tok, nil, ""); status != http.StatusUnauthorized {
		t.Fatalf("a read on B with the token of jeff, disabled on A: %d %s, want 401", status, body)
	}
	if r := b.token(jeff, "repository:"+gun+":pull"); r.status != http.StatusForbidden {
		t.Fatalf("a token for disabled jeff from B: %d %s, want 403", r.status, r.body)
	}
	if resp, body := b.s.API(t, admin.name, admin.pass, http.MethodPatch, "/api/v1/users/jeff",
		map[string]bool{"disabled": false}); resp.StatusCode != http.StatusOK {
		t.Fatalf("enable jeff through B: %d %s", resp.StatusCode, body)
	}

	// Publishes through both replicas, and A killed with SIGKILL while
	// they run: B keeps serving and takes writes within 30 s, and every
	// publish that landed is in what B serves.
	before = timestampVersions(t, b, gun)
	const during = 10
	stop := make(chan struct{})
	results = make([]publishResult, during)
	for i := range during {
		w := rs.worlds[i%2]
		tag := fmt.Sprintf("k%02d", i)
		m := cloneMachine(t, w, laptop, "kill-"+tag)
		m.mustNotary(jeff, "add", gun, tag, w.writeFile("artifact-"+tag, []byte("artifact "+tag)))
		wg.Go(func() { results[i] = publishWithRetries(m, gun, tag, 30, stop) })
	}
	time.Sleep(1500 * time.Millisecond)
	rs.procs[0].Kill()
	killed := time.Now()
	last := cloneMachine(t, b, laptop, "after-kill")
	last.mustNotary(jeff, "add", gun, "after-kill", b.writeFile("artifact-after-kill", []byte("after the kill")))
	for {
		if r := last.notary(jeff, "publish", gun); r.ok() {
			break
		} else if time.Since(killed) > 30*time.Second {
			t.Fatalf("B took no write within 30 s of A's kill:\n%s", r)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("B took a write %s after A was killed", time.Since(killed).Round(time.Millisecond))
	close(stop)
	wg.Wait()
	landed := 1 // after-kill
	for _, r := range results {
		if r.accepted {
			accepted = append(accepted, r.tag)
			landed++
		}
	}
	accepted = append(accepted, "after-kill")
	slices.Sort(accepted)
	tags, r := replicaTags(t, b.newMachine("check-after-kill"), jeff, gun)
	if !r.ok() {
		t.Fatalf("B after the kill: %s", r)
	}
	for _, tag := range accepted {
		if !slices.Contains(tags, tag) {
			t.Errorf("accepted tag %s lost: B serves %q", tag, tags)
		}
	}
	// A publish in flight when A died may have been stored without its
	// client hearing so: at least every acknowledged one is counted.
	after = timestampVersions(t, b, gun)
	if !strictlyIncreasing(after) || len(after)-len(before) < landed {
		t.Fatalf("timestamp versions after the kill %v (before %v): want at least %d more, each one above the last", after, before, landed)
	}
}

// leaseHolders are the indexes of the replicas whose log says they took
// the lease name and have not given it up since.
func leaseHolders(rs *replicaSet, name string) []int {
	var out []int
	for i, p := range rs.procs {
		log := p.FullLog()
		taken := strings.LastIndex(log, `msg="lease taken: the work runs on this replica" lease=`+name)
		if taken >= 0 && !strings.Contains(log[taken:], `msg="lease given up: the work stopped here" lease=`+name) {
			out = append(out, i)
		}
	}
	return out
}

// Discovery from an external Notary server's changefeed runs on exactly one
// of two replicas, and moves to the other within 30 s when it is killed.
func TestReplicasDiscoveryRunsOnOne(t *testing.T) {
	requireNotaryServer(t)
	ns := startNotaryServer(t, map[string]any{"backend": "memory"})
	rs := startReplicas(t, "--notary-url", ns.URL, "--notary-ca", ns.CAFile,
		"--registry-host", extRegistry, "--notary-poll-interval", "200ms")
	var holder int
	waitFor(t, "one replica polling the changefeed", 15*time.Second, func() (bool, string) {
		h := leaseHolders(rs, app.LeaseChangefeed)
		if len(h) == 1 {
			holder = h[0]
		}
		return len(h) == 1, fmt.Sprint("holders ", h)
	})
	other := 1 - holder
	alice := rs.worlds[holder].newExtMachine("alice", ns)
	listed := func(w *world, gun string) func() (bool, string) {
		return func() (bool, string) {
			resp, body := w.s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/repositories", nil)
			return resp.StatusCode == http.StatusOK && strings.Contains(body, `"gun":"`+gun+`"`), body
		}
	}
	one := extRegistry + "/prod/one"
	alice.mustNotary("init", one, "-p")
	waitFor(t, "prod/one discovered, listed by the replica that does not poll", 20*time.Second, listed(rs.worlds[other], one))
	if h := leaseHolders(rs, app.LeaseChangefeed); !slices.Equal(h, []int{holder}) {
		t.Fatalf("changefeed lease holders %v, want only replica %d", h, holder)
	}
	if strings.Contains(rs.procs[other].FullLog(), "lease=notary-changefeed") {
		t.Fatalf("replica %d, which does not hold the lease, polled:\n%s", other, rs.procs[other].Log())
	}

	rs.procs[holder].Kill()
	killed := time.Now()
	waitFor(t, "the changefeed lease moved to the surviving replica", 30*time.Second, func() (bool, string) {
		h := leaseHolders(rs, app.LeaseChangefeed)
		return slices.Contains(h, other), fmt.Sprint("holders ", h)
	})
	t.Logf("discovery moved %s after the kill", time.Since(killed).Round(time.Millisecond))
	two := extRegistry + "/prod/two"
	alice.mustNotary("init", two, "-p")
	waitFor(t, "prod/two discovered by the surviving replica", 20*time.Second, listed(rs.worlds[other], two))
}

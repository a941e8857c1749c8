package interop

// A migration run of 300 tags, with trustdeck as a separate process (the
// built binary) killed with SIGKILL half-way, restarted and the run started
// again: every planned tag ends signed exactly once in each format, counted
// in the registry.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/app"
	"github.com/trustdeck/trustdeck/internal/migration"
	"github.com/trustdeck/trustdeck/internal/testpg"
	"github.com/trustdeck/trustdeck/internal/testregistry"
	"github.com/trustdeck/trustdeck/internal/testserver"
	"github.com/trustdeck/trustdeck/internal/tlsutil"
)

// mgManifests makes n distinct manifests from base (differing by an
// annotation: the same blobs) and points tag prefix<i> at each.
func mgManifests(t testing.TB, c *testregistry.Client, repo string, base testregistry.Manifest, n int, prefix string) []testregistry.Manifest {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(base.Raw, &m); err != nil {
		t.Fatal(err)
	}
	out := make([]testregistry.Manifest, n)
	for i := range n {
		m["annotations"] = map[string]string{"io.trustdeck.test.n": strconv.Itoa(i)}
		raw, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = testregistry.Manifest{Digest: "sha256:" + sha256Hex(raw), MediaType: base.MediaType, Raw: raw}
		c.Tag(t, repo, out[i], fmt.Sprintf("%s%03d", prefix, i))
	}
	return out
}

func TestMigrationResumesAfterKill(t *testing.T) {
	const tags = 300
	bin := vfBinary(t)
	r := testregistry.New(t)
	dir, addr := t.TempDir(), testserver.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	p := testserver.StartProcess(t, bin,
		append([]string{"--addr", addr, "--data", dir, "--public-host", addr, "--registry-host", r.Addr,
			"--registry-url", r.URL, "--registry-ca", r.CAFile, "--registry-username", admin.name}, testpg.ServeArgs(t)...),
		[]string{"HOME=" + dir, "PATH=/usr/bin:/bin", "TRUSTDECK_ADMIN_PASSWORD=" + admin.pass,
			"TRUSTDECK_REGISTRY_PASSWORD=" + admin.pass})
	caFile := filepath.Join(dir, "tls", tlsutil.CACertFile)
	s := testserver.Attach(t, addr, caFile, dir)
	r.Start(testregistry.Options{Realm: "https://localhost:" + port + "/auth/token",
		RootCertBundle: filepath.Join(dir, app.TokenCertFile), TrustCAFile: caFile})

	// 300 distinct images signed in DCT with the real notary CLI.
	s.MustCreateRepo(t, "prod", "many")
	admins := r.Client(admin.name, admin.pass)
	base := admins.PushImage(t, "prod/many", "base")
	start := time.Now()
	images := mgManifests(t, admins, "prod/many", base, tags, "t")
	t.Logf("pushed %d images in %s", tags, time.Since(start).Round(time.Millisecond))
	w := &world{t: t, s: s, dir: t.TempDir(), host: addr}
	laptop := w.newMachine("laptop")
	gun := r.Addr + "/prod/many"
	laptop.mustNotary(admin, "init", gun, "--publish")
	start = time.Now()
	for i, m := range images {
		tag := fmt.Sprintf("t%03d", i)
		laptop.mustNotary(admin, "add", gun, tag, w.writeFile("m/"+tag, m.Raw))
	}
	laptop.mustNotary(admin, "publish", gun)
	t.Logf("signed %d tags in DCT in %s", tags, time.Since(start).Round(time.Millisecond))
	mgGenerateKeys(t, s, "prod")
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if plan := mgGetPlan(t, s, admin, "prod/many"); plan.Counts.Sign == tags {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("plan of prod/many: %+v", plan.Counts)
		}
	}

	// Started, then killed half-way.
	status, run, body := mgStart(t, s, mgPassphrase, "prod/many")
	if status != http.StatusAccepted || run.Total != 2*tags {
		t.Fatalf("start: %d %s", status, body)
	}
	start = time.Now()
	for {
		run = mgRun(t, s, run.ID)
		if run.Pending <= tags {
			break
		}
		if run.State != migration.StateRunning || time.Since(start) > 5*time.Minute {
			t.Fatalf("before the kill: %+v", run)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Kill()
	t.Logf("killed after %s", time.Since(start).Round(time.Millisecond))

	// Restarted: the run is interrupted, nothing lost; started again, it
	// goes on from where it was.
	p.Start()
	before := mgRun(t, s, run.ID)
	if before.State != migration.StateInterrupted || before.Pending == 0 || before.Pending == 2*tags || before.Failed != 0 {
		t.Fatalf("after the restart: %+v", before)
	}
	t.Logf("after the restart: %d signed, %d pending", before.Signed, before.Pending)
	status, resumed, body := mgStart(t, s, mgPassphrase, "prod/many")
	if status != http.StatusAccepted || resumed.ID != run.ID || !strings.Contains(body, `"resumed":true`) {
		t.Fatalf("start again: %d %s", status, body)
	}
	done := mgWait(t, s, run.ID, 5*time.Minute)
	already := 0
	for _, it := range done.Items {
		if it.Reason == migration.ReasonAlreadySigned {
			already++
		}
	}
	// A signature pushed before the kill but not yet recorded is found,
	// recorded signed and audited then: none is "already signed".
	if done.State != migration.StateDone || done.Failed != 0 || done.Signed != 2*tags || already != 0 {
		t.Fatalf("after starting again: %+v (%d already signed)", done, already)
	}
	restart, audits := 0, mgSignAudits(t, s, "prod/many")
	if len(audits) != 2*tags {
		t.Errorf("%d signatures audited, want %d", len(audits), 2*tags)
	}
	for key, n := range audits {
		if n.count != 1 {
			t.Errorf("%s audited %d times, want once", key, n.count)
		}
		if n.afterRestart {
			restart++
		}
	}
	t.Logf("done: %d signed, %d of them found after the restart (pushed before the kill)", done.Signed, restart)

	// Every tag signed exactly once per format, as the registry holds it.
	reg := mgAccess(r)
	for i, m := range images {
		if c, n := reg.count(t, "prod/many", m.Digest); c != 1 || n != 1 {
			t.Errorf("t%03d: %d cosign and %d Notation signatures, want one each", i, c, n)
		}
	}
}

type mgAudited struct {
	count        int
	afterRestart bool
}

// mgSignAudits counts the migration.sign events of repo by format and tag
// ("cosign signature of tag t001"), every page of the audit.
func mgSignAudits(t *testing.T, s *testserver.Server, repo string) map[string]*mgAudited {
	t.Helper()
	out := map[string]*mgAudited{}
	before := ""
	for {
		resp, body := s.API(t, admin.name, admin.pass, http.MethodGet,
			"/api/v1/audit?action=migration.sign&repository="+repo+before, nil)
		var page struct{ Events []auditEvent }
		if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("audit: %d %s", resp.StatusCode, body)
		}
		if len(page.Events) == 0 {
			return out
		}
		for _, e := range page.Events {
			key, _, _ := strings.Cut(e.Detail, " (")
			if out[key] == nil {
				out[key] = &mgAudited{}
			}
			out[key].count++
			out[key].afterRestart = out[key].afterRestart || strings.Contains(e.Detail, "found after restart")
		}
		before = fmt.Sprintf("&before=%d", page.Events[len(page.Events)-1].ID)
	}
}

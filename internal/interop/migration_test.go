package interop

// The migration off Docker Content Trust (issue 12) against Debian's
// docker-registry: images pushed by a real registry client, trust data
// signed with the real notary CLI over the exact manifest bytes, trustdeck
// as the registry's token realm and notification endpoint. The plan, a run
// through the API, the real cosign and notation CLIs verifying what it
// signed with the namespace's exports, the per-tag signature status, an
// idempotent rerun, refusals.
//
// Helpers of this file are prefixed with mg.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/trustdeck/trustdeck/internal/migration"
	"github.com/trustdeck/trustdeck/internal/testclis"
	"github.com/trustdeck/trustdeck/internal/testnotary"
	"github.com/trustdeck/trustdeck/internal/testregistry"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

// mgPassphrase protects the namespaces' signing keys.
const mgPassphrase = "migration-key-passphrase-7c1e"

// mgPlan is GET /api/v1/repositories/{ns}/{name}/migration.
type mgPlan struct {
	Tags []struct {
		Name, Digest, Action, Reason, Message string
		Signers                               []string
	} `json:"tags"`
	Unsigned []struct{ Name, Digest string } `json:"unsigned"`
	Keys     []struct {
		Format string `json:"format"`
		KeyID  string `json:"key_id"`
	} `json:"keys"`
	Counts migration.Counts `json:"counts"`
	Error  string           `json:"error"`
}

func (p mgPlan) actions() map[string]string {
	out := map[string]string{}
	for _, t := range p.Tags {
		out[t.Name] = t.Action + " " + t.Reason
	}
	return out
}

func mgGetPlan(t testing.TB, s *testserver.Server, a account, repo string) mgPlan {
	t.Helper()
	resp, body := s.API(t, a.name, a.pass, http.MethodGet, "/api/v1/repositories/"+repo+"/migration", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("plan of %s: %d %s", repo, resp.StatusCode, body)
	}
	var p mgPlan
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("plan of %s: %v: %s", repo, err, body)
	}
	return p
}

// mgGenerateKeys gives ns a cosign key and a Notation CA and certificate.
func mgGenerateKeys(t testing.TB, s *testserver.Server, ns string) {
	t.Helper()
	for _, f := range []string{"cosign", "notation"} {
		resp, body := s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/namespaces/"+ns+"/signing-keys",
			map[string]string{"format": f, "passphrase": mgPassphrase})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("generate %s's %s key: %d %s", ns, f, resp.StatusCode, body)
		}
	}
}

// mgStart is POST /api/v1/migrations as admin, both formats: the status
// and the body.
func mgStart(t testing.TB, s *testserver.Server, passphrase string, repos ...string) (int, migration.Run, string) {
	t.Helper()
	return mgStartFormats(t, s, passphrase, []string{"cosign", "notation"}, repos...)
}

func mgStartFormats(t testing.TB, s *testserver.Server, passphrase string, formats []string, repos ...string) (int, migration.Run, string) {
	t.Helper()
	resp, body := s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/migrations", map[string]any{
		"repositories": repos, "formats": formats, "passphrase": passphrase})
	var run migration.Run
	if resp.StatusCode == http.StatusAccepted {
		if err := json.Unmarshal([]byte(body), &run); err != nil || run.ID == "" {
			t.Fatalf("start: %v: %s", err, body)
		}
		if loc := resp.Header.Get("Location"); loc != "/api/v1/migrations/"+run.ID {
			t.Errorf("start: Location %q", loc)
		}
	}
	return resp.StatusCode, run, body
}

// mgRun is GET /api/v1/migrations/{id} as admin.
func mgRun(t testing.TB, s *testserver.Server, id string) migration.Run {
	t.Helper()
	resp, body := s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/migrations/"+id, nil)
	return mgDecodeRun(t, id, resp, body)
}

func mgDecodeRun(t testing.TB, id string, resp *http.Response, body string) migration.Run {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET run %s: %d %s", id, resp.StatusCode, body)
	}
	var run migration.Run
	if err := json.Unmarshal([]byte(body), &run); err != nil {
		t.Fatalf("run %s: %v: %s", id, err, body)
	}
	return run
}

// mgWait polls run id until it is no longer running, in a session as a
// page does (basic credentials would cost a password hash per poll).
func mgWait(t testing.TB, s *testserver.Server, id string, limit time.Duration) migration.Run {
	t.Helper()
	b := s.NewBrowser(t)
	b.Login(admin.name, admin.pass)
	deadline := time.Now().Add(limit)
	for {
		resp, body := b.JSON(http.MethodGet, "/api/v1/migrations/"+id, nil)
		run := mgDecodeRun(t, id, resp, body)
		if run.State != migration.StateRunning {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still running after %s: %+v", id, limit, run)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mgRegistry reads and writes the registry as admin, beside trustdeck:
// signatures counted, and altered.
type mgRegistry struct {
	addr string
	opts []remote.Option
}

func mgAccess(r *testregistry.Registry) *mgRegistry {
	return &mgRegistry{addr: r.Addr, opts: []remote.Option{
		remote.WithAuth(&authn.Basic{Username: admin.name, Password: admin.pass}),
		remote.WithTransport(&http.Transport{TLSClientConfig: r.TLSConfig()})}}
}

// manifest reads repo:ref's manifest; nil when the registry has none.
func (m *mgRegistry) manifest(t testing.TB, repo, ref string) []byte {
	t.Helper()
	r, err := name.ParseReference(m.addr+"/"+repo+":"+ref, name.StrictValidation)
	if strings.HasPrefix(ref, "sha256:") {
		r, err = name.NewDigest(m.addr+"/"+repo+"@"+ref, name.StrictValidation)
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Get(r, m.opts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return nil
	}
	if err != nil {
		t.Fatalf("GET %s: %v", r, err)
	}
	return d.Manifest
}

// count is the number of cosign signatures (layers of the .sig manifest)
// and Notation signatures (in the referrers tag-schema index: Debian's
// registry has no referrers API) the registry holds for repo@digest.
func (m *mgRegistry) count(t testing.TB, repo, digest string) (cosign, notation int) {
	t.Helper()
	tagForm := strings.Replace(digest, ":", "-", 1)
	if raw := m.manifest(t, repo, tagForm+".sig"); raw != nil {
		mf, err := v1.ParseManifest(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		cosign = len(mf.Layers)
	}
	if raw := m.manifest(t, repo, tagForm); raw != nil {
		idx, err := v1.ParseIndexManifest(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range idx.Manifests {
			if d.ArtifactType == "application/vnd.cncf.notary.signature" {
				notation++
			}
		}
	}
	return cosign, notation
}

type mgRaw struct {
	raw []byte
	mt  types.MediaType
}

func (r mgRaw) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r mgRaw) MediaType() (types.MediaType, error) { return r.mt, nil }

func (m *mgRegistry) put(t testing.TB, ref string, raw []byte, mt types.MediaType) {
	t.Helper()
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(r, mgRaw{raw, mt}, m.opts...); err != nil {
		t.Fatalf("PUT %s: %v", ref, err)
	}
}

// alter breaks both signatures of repo@digest in the registry: cosign's
// signature annotation gets another last byte; Notation's envelope another
// signature, stored as a new signature manifest the referrers index lists
// instead of the original.
func (m *mgRegistry) alter(t testing.TB, repo, digest string) {
	t.Helper()
	tagForm := strings.Replace(digest, ":", "-", 1)
	raw := m.manifest(t, repo, tagForm+".sig")
	var sigManifest v1.Manifest
	if err := json.Unmarshal(raw, &sigManifest); err != nil || len(sigManifest.Layers) != 1 {
		t.Fatalf("cosign signature manifest of %s: %v %s", digest, err, raw)
	}
	sig := sigManifest.Layers[0].Annotations["dev.cosignproject.cosign/signature"]
	b, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(b) == 0 {
		t.Fatalf("cosign signature %q: %v", sig, err)
	}
	b[len(b)-1] ^= 0x01
	raw = []byte(strings.Replace(string(raw), sig, base64.StdEncoding.EncodeToString(b), 1))
	m.put(t, m.addr+"/"+repo+":"+tagForm+".sig", raw, types.OCIManifestSchema1)

	idxRaw := m.manifest(t, repo, tagForm)
	idx, err := v1.ParseIndexManifest(strings.NewReader(string(idxRaw)))
	if err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("referrers index of %s: %v %s", digest, err, idxRaw)
	}
	orig := idx.Manifests[0].Digest.String()
	sigRaw := m.manifest(t, repo, orig)
	var nm v1.Manifest
	if err := json.Unmarshal(sigRaw, &nm); err != nil || len(nm.Layers) != 1 {
		t.Fatalf("Notation signature manifest: %v %s", err, sigRaw)
	}
	repoRef, _ := name.NewRepository(m.addr+"/"+repo, name.StrictValidation)
	layer, err := remote.Layer(repoRef.Digest(nm.Layers[0].Digest.String()), m.opts...)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	env, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	var jws map[string]any
	if err := json.Unmarshal(env, &jws); err != nil {
		t.Fatal(err)
	}
	s := jws["signature"].(string)
	flipped := "A"
	if s[0] == 'A' {
		flipped = "B"
	}
	forged := []byte(strings.Replace(string(env), `"signature":"`+s, `"signature":"`+flipped+s[1:], 1))
	fl := static.NewLayer(forged, nm.Layers[0].MediaType)
	if err := remote.WriteLayer(repoRef, fl, m.opts...); err != nil {
		t.Fatal(err)
	}
	fd, _ := fl.Digest()
	forgedManifest := []byte(strings.Replace(string(sigRaw), nm.Layers[0].Digest.String(), fd.String(), 1))
	fmd, _, _ := v1.SHA256(strings.NewReader(string(forgedManifest)))
	m.put(t, m.addr+"/"+repo+"@"+fmd.String(), forgedManifest, types.OCIManifestSchema1)
	m.put(t, m.addr+"/"+repo+":"+tagForm, []byte(strings.Replace(string(idxRaw), orig, fmd.String(), 1)), types.OCIImageIndex)
}

// mgVerifiers are the real CLIs set up from the namespace's exports as
// downloaded by a member (reader), pulling as reader.
func mgVerifiers(t *testing.T, w *world, r *testregistry.Registry, ns string) *testclis.Verifiers {
	t.Helper()
	get := func(file string) []byte {
		resp, body := w.s.API(t, reader.name, reader.pass, http.MethodGet, "/api/v1/namespaces/"+ns+"/verification/"+file, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("export %s: %d %s", file, resp.StatusCode, body)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+file+`"` {
			t.Errorf("export %s: Content-Disposition %q", file, cd)
		}
		return []byte(body)
	}
	kyverno := string(get("kyverno.yaml"))
	for _, want := range []string{"kind: ClusterPolicy", "type: Notary", "ignoreTlog: true", r.Addr + "/" + ns + "/app"} {
		if !strings.Contains(kyverno, want) {
			t.Errorf("kyverno.yaml lacks %q:\n%s", want, kyverno)
		}
	}
	dockerConfig := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(reader.name + ":" + reader.pass))
	if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"),
		[]byte(`{"auths":{"`+r.Addr+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return testclis.NewVerifiers(t, testclis.Exports{CosignPub: get("cosign.pub"), TrustStore: get("notation-truststore.pem"),
		StoreName: migration.TrustStoreName(ns), TrustPolicy: get("trustpolicy.json"), RegistryCA: r.CABundle(),
		DockerConfig: dockerConfig})
}

// TestMigration: a repository with signed, drifted, missing and unsigned
// tags (and an index), one whose trust data expired, one trustdeck's
// registry account may not push to; the plan, a wrong passphrase, a run,
// the real CLIs, the signature status, an idempotent rerun, an altered
// signature.
func TestMigration(t *testing.T) {
	// trustdeck reads and writes the registry as jeff: write on prod, read
	// only on team (its pushes there are refused).
	w, r := registryWorldAs(t, false, jeff)
	resp, body := w.s.API(t, admin.name, admin.pass, http.MethodPut, "/api/v1/namespaces/team/members/jeff",
		map[string]string{"role": "read"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("jeff's role on team: %d %s", resp.StatusCode, body)
	}
	for _, repo := range []string{"prod/app", "prod/old", "team/tool"} {
		ns, n, _ := strings.Cut(repo, "/")
		w.s.MustCreateRepo(t, ns, n)
	}
	writer, admins := r.Client(jeff.name, jeff.pass), r.Client(admin.name, admin.pass)
	images := map[string]testregistry.Manifest{}
	for _, tag := range []string{"v1", "v2", "v3", "latest"} {
		images[tag] = writer.PushImage(t, "prod/app", tag)
	}
	images["multi"] = writer.PushIndex(t, "prod/app", "multi").Manifest
	tool := admins.PushImage(t, "team/tool", "1.0")
	laptop := w.newMachine("laptop")
	gun := r.Addr + "/prod/app"
	laptop.mustNotary(jeff, "init", gun, "--publish")
	for _, tag := range []string{"v1", "v2", "v3", "multi"} {
		laptop.mustNotary(jeff, "add", gun, tag, w.writeFile("manifest-"+tag, images[tag].Raw))
	}
	laptop.mustNotary(jeff, "publish", gun)
	laptop.mustNotary(admin, "init", r.Addr+"/team/tool", "--publish")
	laptop.mustNotary(admin, "add", r.Addr+"/team/tool", "1.0", w.writeFile("manifest-tool", tool.Raw))
	laptop.mustNotary(admin, "publish", r.Addr+"/team/tool")
	// Drifted and missing.
	moved := writer.PushImage(t, "prod/app", "v2")
	admins.Delete(t, "prod/app", images["v3"].Digest)
	// prod/old: signed by trust data whose targets role has expired.
	old := writer.PushImage(t, "prod/old", "1.0")
	exStore(t, w, testnotary.Fixture{GUN: r.Addr + "/prod/old",
		Expires: map[string]time.Time{"targets": time.Now().Add(-time.Hour)},
		Targets: map[string]map[string]string{"targets": {"1.0": string(old.Raw)}}})
	// Read the registry now (notifications are the registry service's
	// business, tested there).
	for repo, want := range map[string]map[string]string{
		"prod/app":  {"v1": "signed", "v2": "drifted", "v3": "missing", "latest": "unsigned", "multi": "signed"},
		"prod/old":  {"1.0": "signed"},
		"team/tool": {"1.0": "signed"},
	} {
		ns, n, _ := strings.Cut(repo, "/")
		if err := w.s.App.Registry.Sync(context.Background(), ns, n); err != nil {
			t.Fatal(err)
		}
		waitTags(t, w, repo, 10*time.Second, "tag states", sameStates(want))
	}
	for _, ns := range []string{"prod", "team"} {
		mgGenerateKeys(t, w.s, ns)
	}

	// The plan, readable by members.
	plan := mgGetPlan(t, w.s, reader, "prod/app")
	want := map[string]string{"v1": "sign ", "multi": "sign ", "v2": "skip drifted", "v3": "skip missing"}
	if got := plan.actions(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("plan of prod/app: %v, want %v", got, want)
	}
	if len(plan.Unsigned) != 1 || plan.Unsigned[0].Name != "latest" || plan.Unsigned[0].Digest != images["latest"].Digest {
		t.Errorf("unsigned tags of prod/app: %+v", plan.Unsigned)
	}
	if plan.Counts != (migration.Counts{Sign: 2, Skip: 2, Unsigned: 1}) || len(plan.Keys) != 2 {
		t.Errorf("plan counts %+v, keys %+v", plan.Counts, plan.Keys)
	}
	for _, tg := range plan.Tags {
		if tg.Name == "v1" && (tg.Digest != images["v1"].Digest || strings.Join(tg.Signers, ",") != "Repo Admin") {
			t.Errorf("v1 in the plan: %+v", tg)
		}
	}
	if got := mgGetPlan(t, w.s, reader, "prod/old").actions(); fmt.Sprint(got) != fmt.Sprint(map[string]string{"1.0": "skip expired trust data"}) {
		t.Errorf("plan of prod/old: %v", got)
	}

	// A wrong passphrase is refused before anything starts.
	status, _, body := mgStart(t, w.s, "not-the-passphrase", "prod/app", "prod/old", "team/tool")
	if status != http.StatusBadRequest || !strings.Contains(body, `"wrong_passphrase"`) {
		t.Fatalf("wrong passphrase: %d %s", status, body)
	}
	if _, body := w.s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/migrations", nil); body != `{"migrations":[]}`+"\n" {
		t.Fatalf("a run exists after a refused start: %s", body)
	}

	// The run: prod/app's two tags in both formats, prod/old skipped,
	// team/tool refused by the registry (per item), the rest goes on.
	status, started, body := mgStart(t, w.s, mgPassphrase, "prod/app", "prod/old", "team/tool")
	if status != http.StatusAccepted {
		t.Fatalf("start: %d %s", status, body)
	}
	// Only administrators of every namespace of the run see it.
	w.s.MustCreateUser(t, "olga", "olga-password-123", "prod", "admin")
	for _, who := range []account{reader, {"olga", "olga-password-123"}} {
		if resp, body := w.s.API(t, who.name, who.pass, http.MethodGet, "/api/v1/migrations/"+started.ID, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s sees the run of prod and team: %d %s", who.name, resp.StatusCode, body)
		}
	}
	run := mgWait(t, w.s, started.ID, 2*time.Minute)
	if run.State != migration.StateFailed || run.Total != 9 || run.Signed != 4 || run.Skipped != 3 || run.Failed != 2 ||
		run.Pending != 0 || run.Progress != 100 {
		t.Fatalf("run: %+v", run)
	}
	for _, it := range run.Items {
		switch {
		case it.Repository == "team/tool":
			t.Logf("refused item: %+v", it)
			if it.Status != "failed" || !strings.Contains(it.Message, "The registry refused") ||
				!strings.Contains(it.Message, "needs pull and push on team/tool") {
				t.Errorf("team/tool item: %+v", it)
			}
		case it.Status == "signed":
			if it.Key == "" || it.Format == "" || (it.Tag != "v1" && it.Tag != "multi") {
				t.Errorf("signed item: %+v", it)
			}
		case it.Tag == "1.0":
			if it.Reason != migration.ReasonExpired {
				t.Errorf("prod/old item: %+v", it)
			}
		}
	}
	signed := 0
	for _, e := range w.audit("prod/app") {
		if e.Action == "migration.sign" {
			signed++
			if e.Actor != admin.name || !strings.Contains(e.Detail, "with key ") {
				t.Errorf("audit event %s", e)
			}
		}
	}
	if signed != 4 {
		t.Errorf("%d migration.sign events for prod/app, want 4", signed)
	}

	// The real CLIs, set up from the exports, verify every migrated digest
	// and refuse the drifted tag's new digest and an unsigned one.
	v := mgVerifiers(t, w, r, "prod")
	ref := func(d string) string { return r.Addr + "/prod/app@" + d }
	v.WantBoth(t, ref(images["v1"].Digest), true)
	v.WantBoth(t, ref(images["multi"].Digest), true)
	v.WantBoth(t, ref(moved.Digest), false)
	v.WantBoth(t, ref(images["latest"].Digest), false)
	if out, err := v.CosignVerify(t, ref(images["v1"].Digest), "-a", "io.trustdeck.dct.tag=v1"); err != nil {
		t.Errorf("cosign verify -a io.trustdeck.dct.tag=v1: %v\n%s", err, out)
	}

	// The signature status of each tag, read from the registry.
	ctx := context.Background()
	tags, err := w.s.App.Registry.Tags(ctx, "prod", "app")
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := w.s.App.Migration.Signatures(ctx, "prod", "app", tags.States)
	if err != nil {
		t.Fatal(err)
	}
	marks := map[string]string{}
	for _, s := range sigs {
		marks[s.Tag] = fmt.Sprintf("dct=%v cosign=%v notation=%v others=%d", s.DCT, s.Cosign.Signed, s.Notation.Signed, len(s.Others))
	}
	for tag, want := range map[string]string{"v1": "dct=true cosign=true notation=true others=0",
		"multi": "dct=true cosign=true notation=true others=0", "v2": "dct=false cosign=false notation=false others=0",
		"latest": "dct=false cosign=false notation=false others=0"} {
		if marks[tag] != want {
			t.Errorf("signatures of %s: %s, want %s", tag, marks[tag], want)
		}
	}

	// Rerunning signs nothing new: one signature per format and digest.
	status, rerun, body := mgStart(t, w.s, mgPassphrase, "prod/app")
	if status != http.StatusAccepted || rerun.ID == started.ID {
		t.Fatalf("rerun: %d %s", status, body)
	}
	rerun = mgWait(t, w.s, rerun.ID, time.Minute)
	already := 0
	for _, it := range rerun.Items {
		if it.Reason == migration.ReasonAlreadySigned {
			already++
		}
	}
	if rerun.State != migration.StateDone || rerun.Signed != 0 || already != 4 {
		t.Fatalf("rerun: %+v", rerun)
	}
	reg := mgAccess(r)
	for _, tag := range []string{"v1", "multi"} {
		if c, n := reg.count(t, "prod/app", images[tag].Digest); c != 1 || n != 1 {
			t.Errorf("%s: %d cosign and %d Notation signatures, want one each", tag, c, n)
		}
	}

	// An altered signature fails both CLIs.
	reg.alter(t, "prod/app", images["multi"].Digest)
	v.WantBoth(t, ref(images["multi"].Digest), false)
	v.WantBoth(t, ref(images["v1"].Digest), true)
}

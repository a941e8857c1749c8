package interop

// trustdeck as the token realm of a real registry: Debian's docker-registry
// (internal/testregistry) trusts trustdeck's token certificate, docker
// logs in to the registry with a trustdeck account (client-side, without a
// daemon), and crane, the real registry client, pulls, pushes, deletes and
// lists the catalog with what the namespace roles allow.

import (
	"archive/tar"
	"bytes"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testregistry"
)

var (
	craneOnce sync.Once
	craneBin  string
	craneErr  error
)

// requireCrane builds go-containerregistry's crane, a tool dependency of
// go.mod (`go tool crane`), into binDir once.
func requireCrane(t *testing.T) {
	t.Helper()
	craneOnce.Do(func() {
		out := filepath.Join(binDir, "crane")
		if craneErr = buildTool(out, "github.com/google/go-containerregistry/cmd/crane"); craneErr == nil {
			craneBin = out
		}
	})
	if craneErr != nil {
		t.Fatalf("cannot build crane: %v", craneErr)
	}
}

// registryMachine is a client machine of the registry: its DOCKER_CONFIG
// holds the credentials docker login stored, which crane reads; its
// SSL_CERT_FILE trusts the registry's CA and trustdeck's (the realm).
type registryMachine struct {
	*machine
	r *testregistry.Registry
}

func (w *world) newRegistryMachine(name string, r *testregistry.Registry) *registryMachine {
	w.t.Helper()
	return &registryMachine{machine: w.newMachine(name), r: r}
}

func (c *registryMachine) regEnv() []string {
	return []string{"SSL_CERT_FILE=" + c.r.CABundle()}
}

// login runs `docker login <registry>` as a and returns what it did.
func (c *registryMachine) login(a account) result {
	c.w.t.Helper()
	return c.run(a.pass+"\n", c.regEnv(), dockerBin, "login", c.r.Addr, "--username", a.name, "--password-stdin")
}

func (c *registryMachine) crane(args ...string) result {
	c.w.t.Helper()
	return c.run("", c.regEnv(), craneBin, args...)
}

func (c *registryMachine) mustCrane(t *testing.T, args ...string) result {
	t.Helper()
	r := c.crane(args...)
	if !r.ok() {
		t.Fatalf("crane failed (%s):\n%s", c.name, r)
	}
	return r
}

// refuseCrane runs crane and fails the test unless the registry refused it
// for want of access (401 with the error code UNAUTHORIZED or DENIED; a
// HEAD's 401 has no body).
func (c *registryMachine) refuseCrane(t *testing.T, args ...string) result {
	t.Helper()
	r := c.crane(args...)
	out := r.stdout + r.stderr
	if r.ok() || r.exit < 1 || !(strings.Contains(out, "UNAUTHORIZED") || strings.Contains(out, "DENIED") ||
		strings.Contains(out, "401 Unauthorized")) {
		t.Fatalf("crane as %s should have been refused (401):\n%s", c.name, r)
	}
	return r
}

// layerTar is a one-file layer for crane append.
func layerTar(t *testing.T, w *world, name, content string) string {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(content))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return w.writeFile(name+".tar", b.Bytes())
}

// TestRegistryRealm: with trustdeck as the registry's token realm, one
// trustdeck account logs in to the registry with docker and its namespace
// role decides, in the registry, what crane may do: read pulls and cannot
// push, write pushes and cannot delete, a namespace admin deletes, a
// non-member and an anonymous client get nothing, and only a global admin
// lists the catalog.
func TestRegistryRealm(t *testing.T) {
	requireDocker(t)
	requireCrane(t)
	r := testregistry.New(t)
	w := newWorld(t, "--registry-host", r.Addr)
	nsadmin := account{"nsadmin", "nsadmin-password-123"}
	w.s.MustCreateUser(t, nsadmin.name, nsadmin.pass, "prod", "admin")
	opts := testregistry.ForTrustdeck(w.s, "")
	// Notifications are another test's subject.
	opts.NotifyURL = ""
	r.Start(opts)
	// The global admin pushes the first image, through go-containerregistry.
	v1 := r.Client(admin.name, admin.pass).PushImage(t, "prod/app", "v1")
	check := r.Client(admin.name, admin.pass)
	ref := func(repoTag string) string { return r.Addr + "/" + repoTag }

	machines := map[string]*registryMachine{}
	for _, a := range []account{reader, jeff, nsadmin, outsider, admin} {
		m := w.newRegistryMachine(a.name, r)
		res := m.login(a)
		if !res.ok() || !strings.Contains(res.stdout, "Login Succeeded") {
			t.Fatalf("docker login %s as %s (no daemon: client-side login):\n%s", r.Addr, a.name, res)
		}
		machines[a.name] = m
	}
	t.Run("docker login with a wrong password", func(t *testing.T) {
		m := w.newRegistryMachine("wrong", r)
		res := m.login(account{reader.name, "not-the-password"})
		if res.ok() || !strings.Contains(res.stdout+res.stderr, "401") && !strings.Contains(res.stdout+res.stderr, "nvalid username or password") {
			t.Errorf("docker login with a wrong password should fail saying so:\n%s", res)
		}
	})
	layer := layerTar(t, w, "hello", "hello from the registry realm test\n")

	t.Run("read pulls and cannot push", func(t *testing.T) {
		m := machines[reader.name]
		out := filepath.Join(w.dir, "reader-pull.tar")
		m.mustCrane(t, "pull", ref("prod/app:v1"), out)
		if d := strings.TrimSpace(m.mustCrane(t, "digest", ref("prod/app:v1")).stdout); d != v1.Digest {
			t.Errorf("reader's digest of prod/app:v1 %s, want %s", d, v1.Digest)
		}
		m.refuseCrane(t, "append", "-f", layer, "-t", ref("prod/app:by-reader"))
		m.refuseCrane(t, "tag", ref("prod/app:v1"), "by-reader")
		if tags := check.Tags(t, "prod/app"); strings.Contains(strings.Join(tags, " "), "by-reader") {
			t.Errorf("a read member's push landed: tags %q", tags)
		}
	})

	t.Run("write pushes and cannot delete", func(t *testing.T) {
		m := machines[jeff.name]
		m.mustCrane(t, "append", "-f", layer, "-t", ref("prod/app:w1"))
		m.mustCrane(t, "tag", ref("prod/app:v1"), "w2")
		pushed := strings.TrimSpace(m.mustCrane(t, "digest", ref("prod/app:w1")).stdout)
		if got := check.Digest(t, "prod/app", "w1"); got != pushed {
			t.Errorf("prod/app:w1 is %s in the registry, crane pushed %s", got, pushed)
		}
		if got := check.Digest(t, "prod/app", "w2"); got != v1.Digest {
			t.Errorf("prod/app:w2 is %s, want %s", got, v1.Digest)
		}
		// A new repository of the namespace needs nothing more.
		m.mustCrane(t, "append", "-f", layer, "-t", ref("prod/new:v1"))
		m.refuseCrane(t, "delete", ref("prod/app@"+pushed))
		if got := check.Digest(t, "prod/app", "w1"); got != pushed {
			t.Errorf("after a refused delete prod/app:w1 is %s, want %s", got, pushed)
		}
		// Another namespace is not the writer's.
		m.refuseCrane(t, "append", "-f", layer, "-t", ref("dev/app:v1"))
	})

	t.Run("a namespace admin deletes", func(t *testing.T) {
		m := machines[nsadmin.name]
		m.mustCrane(t, "append", "-f", layer, "-t", ref("prod/app:doomed"))
		d := strings.TrimSpace(m.mustCrane(t, "digest", ref("prod/app:doomed")).stdout)
		m.mustCrane(t, "delete", ref("prod/app@"+d))
		if res := m.crane("digest", ref("prod/app:doomed")); res.ok() || !strings.Contains(res.stderr, "MANIFEST_UNKNOWN") {
			t.Errorf("prod/app:doomed should be gone:\n%s", res)
		}
		m.refuseCrane(t, "catalog", r.Addr)
	})

	t.Run("a non-member and an anonymous client get nothing", func(t *testing.T) {
		m := machines[outsider.name]
		m.refuseCrane(t, "manifest", ref("prod/app:v1"))
		m.refuseCrane(t, "ls", r.Addr+"/prod/app")
		m.refuseCrane(t, "append", "-f", layer, "-t", ref("prod/app:by-outsider"))
		m.refuseCrane(t, "catalog", r.Addr)
		anon := w.newRegistryMachine("anonymous", r)
		anon.refuseCrane(t, "manifest", ref("prod/app:v1"))
		anon.refuseCrane(t, "catalog", r.Addr)
	})

	t.Run("a global admin lists the catalog", func(t *testing.T) {
		m := machines[admin.name]
		got := strings.Fields(m.mustCrane(t, "catalog", r.Addr).stdout)
		if strings.Join(got, " ") != "prod/app prod/new" {
			t.Errorf("catalog %q, want prod/app prod/new", got)
		}
	})
}

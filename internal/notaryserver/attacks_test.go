package notaryserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/tuf/data"
)

// The TUF attack tests: uploads by someone who holds some of a repository's
// keys and signs metadata that would mislead the clients reading it. Each is
// refused with 400 INVALID_UPDATE and stores nothing; beside each stands the
// nearest valid upload, which must still be accepted.

// wantRefused checks that resp refuses an update with the validation error
// named name, and that nothing of gun changed since before.
func wantRefused(t *testing.T, e *testEnv, gun string, resp *http.Response, name string, before map[string]string) {
	t.Helper()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("got %d %s, want 400 INVALID_UPDATE %s", resp.StatusCode, readBody(t, resp), name)
	} else {
		got := readError(t, resp)
		var detail struct{ Name string }
		_ = json.Unmarshal(got.Detail, &detail)
		if got.Code != "INVALID_UPDATE" || detail.Name != name {
			t.Errorf("got %s %s, want INVALID_UPDATE %s", got.Code, got.Detail, name)
		}
	}
	if !reflect.DeepEqual(e.state(gun), before) {
		t.Error("the store changed")
	}
}

// wantAccepted checks that resp accepted an update.
func wantAccepted(t *testing.T, resp *http.Response) {
	t.Helper()
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("got %d %s, want 200", resp.StatusCode, body)
	}
}

// fileMeta is the length and hashes of b as a snapshot lists them.
func fileMeta(t *testing.T, b []byte) data.FileMeta {
	t.Helper()
	m, err := data.NewFileMeta(bytes.NewReader(b), notary.SHA256, notary.SHA512)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A delegated role may only sign targets inside its paths, as its ancestors
// restrict them; clients ignore the others, and the server refuses them.
func TestTUFAttacksDelegationPaths(t *testing.T) {
	e := newTestEnv(t)
	const gun = "example.com/attacks/paths"
	admin, keys := e.initRepo(gun)
	e.addDelegationPaths(admin, "targets/restricted", keys, "allowed/")
	e.addDelegationPaths(admin, "targets/everything", keys, "")
	e.addDelegationPaths(admin, "targets/team", keys, "team/")
	e.addDelegationPaths(admin, "targets/team/qa", keys, "team/qa/")

	// Honest clients publish inside the paths.
	e.addTarget(admin, "targets/restricted", "allowed/v1", "one")
	e.addTarget(admin, "targets/everything", "anything", "two")
	e.addTarget(admin, "targets/team/qa", "team/qa/build", "three")

	// targets/team also gives targets/team/qa a path outside its own, which
	// the client would refuse to write and clients ignore when reading.
	team := decode[data.SignedTargets](t, e.current(gun, "targets/team"))
	team.Signed.Version++
	team.Signed.Delegations.Roles[0].Paths = append(team.Signed.Delegations.Roles[0].Paths, "other/")
	wantAccepted(t, e.upload(gun, part{filename: "targets/team", body: sign(t, keys, team, keyOf(t, keys, "targets/team"))}))

	// withTarget is the next version of role holding one more target,
	// signed by the role's key.
	withTarget := func(role, name string) part {
		tg := decode[data.SignedTargets](t, e.current(gun, role))
		tg.Signed.Version++
		tg.Signed.Targets[name] = fileMeta(t, []byte(name))
		return part{filename: role, body: sign(t, keys, tg, keyOf(t, keys, role))}
	}

	refused := []struct{ name, role, target string }{
		{"outside the only path", "targets/restricted", "outside-path"},
		{"a prefix of the path", "targets/restricted", "allowed"},
		{"nested: inside the parent's paths, outside its own", "targets/team/qa", "team/x"},
		{"nested: inside its own paths, outside the parent's", "targets/team/qa", "other/x"},
	}
	for _, tt := range refused {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			before := e.state(gun)
			stored := e.current(gun, tt.role)
			resp := e.upload(gun, withTarget(tt.role, tt.target))
			wantRefused(t, e, gun, resp, "ErrBadTargets", before)
			if !bytes.Equal(e.current(gun, tt.role), stored) {
				t.Errorf("%s changed", tt.role)
			}
		})
	}
	// withPaths is the next version of targets, delegating paths to role.
	withPaths := func(role string, paths ...string) part {
		tg := decode[data.SignedTargets](t, e.current(gun, "targets"))
		tg.Signed.Version++
		for _, r := range tg.Signed.Delegations.Roles {
			if r.Name == data.RoleName(role) {
				r.Paths = paths
			}
		}
		return part{filename: "targets", body: sign(t, keys, tg, keyOf(t, keys, "targets"))}
	}
	t.Run("refused/the parent narrowing the paths in the same upload", func(t *testing.T) {
		before := e.state(gun)
		resp := e.upload(gun, withPaths("targets/everything", "narrow/"), withTarget("targets/everything", "wide"))
		wantRefused(t, e, gun, resp, "ErrBadTargets", before)
	})

	accepted := []struct{ name, role, target string }{
		{"inside the path", "targets/restricted", "allowed/v2"},
		{`paths [""] allow every name`, "targets/everything", "outside-path"},
		{"nested: inside its own and its parent's paths", "targets/team/qa", "team/qa/v2"},
		{"the parent inside its own paths", "targets/team", "team/x"},
		{"top-level targets, which has no paths", "targets", "outside-path"},
	}
	for _, tt := range accepted {
		t.Run("accepted/"+tt.name, func(t *testing.T) {
			wantAccepted(t, e.upload(gun, withTarget(tt.role, tt.target)))
		})
	}
	t.Run("accepted/the parent widening the paths in the same upload", func(t *testing.T) {
		wantAccepted(t, e.upload(gun, withPaths("targets/restricted", ""), withTarget("targets/restricted", "now-allowed")))
	})
	t.Run("accepted/the signer keeping a target its parent has since excluded", func(t *testing.T) {
		// targets/everything holds "anything" and "outside-path"; once
		// narrowed, its signer still publishes inside the new paths.
		wantAccepted(t, e.upload(gun, withPaths("targets/everything", "narrow/")))
		wantAccepted(t, e.upload(gun, withTarget("targets/everything", "narrow/v1")))
	})

	// A fresh client sees what was accepted, each where it was signed
	// (and no longer what targets/everything holds outside its new paths).
	want := map[string]string{
		"allowed/v1": "targets/restricted", "allowed/v2": "targets/restricted", "now-allowed": "targets/restricted",
		"narrow/v1": "targets/everything", "team/qa/build": "targets/team/qa", "team/qa/v2": "targets/team/qa",
		"team/x": "targets/team", "outside-path": "targets",
	}
	if got := targetsByName(t, e, gun); !reflect.DeepEqual(got, want) {
		t.Errorf("targets = %v, want %v", got, want)
	}
}

// A snapshot signed by the client (who holds the snapshot key, notary's
// default) must name, for every role it lists, the metadata the server holds
// after the update, and may not leave out a role the stored snapshot lists.
func TestTUFAttacksSnapshot(t *testing.T) {
	e := newTestEnv(t)
	const gun = "example.com/attacks/snapshot"
	admin, keys := e.initRepoManaged(gun) // the client holds the snapshot key
	e.addDelegation(admin, "targets/releases", keys)
	e.addTarget(admin, "targets/releases", "v1", "one")
	e.addTarget(admin, "targets/releases", "v2", "two")
	e.addTarget(admin, "targets", "latest", "three")
	wantTargets := map[string]string{"v1": "targets/releases", "v2": "targets/releases", "latest": "targets"}

	snapshotKey := keyOf(t, keys, data.CanonicalSnapshotRole.String())
	// snapshot is the next version of the stored snapshot, its list of
	// roles changed by change, signed by the client's snapshot key.
	snapshot := func(change func(meta data.Files)) part {
		s := decode[data.SignedSnapshot](t, e.current(gun, "snapshot"))
		s.Signed.Version++
		change(s.Signed.Meta)
		return part{filename: "snapshot", body: sign(t, keys, s, snapshotKey)}
	}
	// older is the version before the current one of role.
	older := func(role string) []byte {
		current := decode[data.SignedTargets](t, e.current(gun, role)).Signed.Version
		_, b, err := e.store.GetVersion(gun, data.RoleName(role), current-1)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	refused := []struct {
		name  string
		parts func() []part
	}{
		{"targets back to an older version", func() []part {
			return []part{snapshot(func(m data.Files) { m["targets"] = fileMeta(t, older("targets")) })}
		}},
		{"a delegation back to an older version", func() []part {
			return []part{snapshot(func(m data.Files) { m["targets/releases"] = fileMeta(t, older("targets/releases")) })}
		}},
		{"a targets hash that exists nowhere", func() []part {
			return []part{snapshot(func(m data.Files) { m["targets"] = fileMeta(t, []byte(`{"signed":{}}`)) })}
		}},
		{"a delegation that exists nowhere", func() []part {
			return []part{snapshot(func(m data.Files) { m["targets/ghost"] = fileMeta(t, []byte(`{"signed":{}}`)) })}
		}},
		{"the right hashes with the wrong length", func() []part {
			return []part{snapshot(func(m data.Files) {
				f := m["targets"]
				f.Length--
				m["targets"] = f
			})}
		}},
		{"a role that is no targets role", func() []part {
			return []part{snapshot(func(m data.Files) { m["timestamp"] = fileMeta(t, e.current(gun, "timestamp")) })}
		}},
		{"leaving out a delegation that exists", func() []part {
			return []part{snapshot(func(m data.Files) { delete(m, "targets/releases") })}
		}},
		{"an uploaded delegation, naming the stored one", func() []part {
			tg := decode[data.SignedTargets](t, e.current(gun, "targets/releases"))
			tg.Signed.Version++
			return []part{
				{filename: "targets/releases", body: sign(t, keys, tg, keyOf(t, keys, "targets/releases"))},
				snapshot(func(data.Files) {}),
			}
		}},
	}
	for _, tt := range refused {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			before := e.state(gun)
			resp := e.upload(gun, tt.parts()...)
			wantRefused(t, e, gun, resp, "ErrBadSnapshot", before)
		})
	}
	// Fresh clients still read the repository.
	if got := targetsByName(t, e, gun); !reflect.DeepEqual(got, wantTargets) {
		t.Fatalf("targets = %v, want %v", got, wantTargets)
	}

	t.Run("accepted/a snapshot-only upload naming the current metadata", func(t *testing.T) {
		wantAccepted(t, e.upload(gun, snapshot(func(data.Files) {})))
	})
	t.Run("accepted/a delegation with the snapshot naming it", func(t *testing.T) {
		tg := decode[data.SignedTargets](t, e.current(gun, "targets/releases"))
		tg.Signed.Version++
		body := sign(t, keys, tg, keyOf(t, keys, "targets/releases"))
		wantAccepted(t, e.upload(gun,
			part{filename: "targets/releases", body: body},
			snapshot(func(m data.Files) { m["targets/releases"] = fileMeta(t, body) })))
	})
	t.Run("accepted/the client publishing", func(t *testing.T) {
		// a new client with the same keys, reading what was stored meanwhile
		e.addTarget(e.repo(gun, keys), "targets/releases", "v3", "three")
		wantTargets["v3"] = "targets/releases"
	})
	t.Run("accepted/the client removing a delegation and adding it again", func(t *testing.T) {
		// The client's snapshot leaves the removed role out, and still
		// does once it is delegated again before it signs anything.
		r := e.repo(gun, keys)
		if err := r.RemoveDelegationRole("targets/releases"); err != nil {
			t.Fatal(err)
		}
		if err := r.Publish(); err != nil {
			t.Fatalf("publish the removal: %v", err)
		}
		e.addDelegation(e.repo(gun, keys), "targets/releases", keys)
		for name, role := range wantTargets {
			if role == "targets/releases" {
				delete(wantTargets, name)
			}
		}
	})
	if got := targetsByName(t, e, gun); !reflect.DeepEqual(got, wantTargets) {
		t.Errorf("targets = %v, want %v", got, wantTargets)
	}
}

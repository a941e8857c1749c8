package trust

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
)

// TestRepoModel checks what Load reads besides docker's view: key material,
// role metadata, raw JSON, and the views of what docker hides.
func TestRepoModel(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/model/app"
	a := e.admin(gun).init()
	alice := a.key("targets/alice", "alice", true)
	bob := a.key("targets/bob", "bob", false)
	ci := a.key("targets/alice/ci", "ci", false)
	a.delegate(RoleReleases, alice).delegate("targets/alice", alice).delegate("targets/bob", bob).publish()
	a.delegate("targets/alice/ci", ci).publish()
	a.sign("v1", "m-1", RoleReleases, "targets/alice", "targets/bob").
		sign("v2", "m-2", RoleReleases, "targets/alice").
		sign("v2", "m-2-bob", "targets/bob").
		sign("dev", "m-dev", "targets/bob", "targets/alice/ci").
		sign("v3", "m-3-admin", "targets").
		sign("v3", "m-3-rel", RoleReleases).
		publish()

	before := time.Now()
	repo, err := NewReader(e.remote()).Load(context.Background(), gun)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("targets in walk order", func(t *testing.T) {
		var got []string
		for _, tg := range repo.Targets {
			got = append(got, tg.Role+":"+tg.Name)
		}
		want := []string{
			"targets:v3",
			"targets/releases:v1", "targets/releases:v2", "targets/releases:v3",
			"targets/alice:v1", "targets/alice:v2",
			"targets/bob:dev", "targets/bob:v1", "targets/bob:v2",
			"targets/alice/ci:dev",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("targets %q\nwant %q", got, want)
		}
		if tg := repo.Targets[0]; tg.SHA256 != digest("m-3-admin") || tg.Size != int64(len("m-3-admin")) {
			t.Fatalf("target %+v", tg)
		}
	})

	t.Run("keys", func(t *testing.T) {
		if len(repo.RootKeys) != 1 || !repo.RootKeys[0].Certificate || repo.RootKeys[0].Subject != gun ||
			repo.RootKeys[0].TUFID == repo.RootKeys[0].ID || repo.RootKeys[0].NotAfter.Before(time.Now().AddDate(9, 0, 0)) {
			t.Errorf("root keys %+v", repo.RootKeys)
		}
		if len(repo.TargetsKeys) != 1 || repo.TargetsKeys[0].Certificate || repo.TargetsKeys[0].TUFID != repo.TargetsKeys[0].ID ||
			repo.TargetsKeys[0].Algorithm != data.ECDSAKey {
			t.Errorf("targets keys %+v", repo.TargetsKeys)
		}
		var roles []string
		for _, d := range repo.Delegations {
			roles = append(roles, d.Role)
		}
		if want := []string{RoleReleases, "targets/alice", "targets/bob", "targets/alice/ci"}; !slices.Equal(roles, want) {
			t.Errorf("delegations %q, want %q", roles, want)
		}
	})

	t.Run("signers", func(t *testing.T) {
		signers := repo.Signers()
		var names []string
		for _, s := range signers {
			names = append(names, s.Name)
		}
		if want := []string{"alice", "alice/ci", "bob"}; !slices.Equal(names, want) {
			t.Fatalf("signers %q, want %q", names, want)
		}
		al, ac, bo := signers[0], signers[1], signers[2]
		k := al.Keys[0]
		if k.ID != canonical(t, alice) || k.TUFID != alice.ID() || k.Kind() != "x509" || k.Subject != "alice" ||
			k.NotAfter.IsZero() || k.ShortID() != k.ID[:12] || !al.CanRelease || al.Role != "targets/alice" {
			t.Errorf("alice %+v", al)
		}
		if k := bo.Keys[0]; k.ID != canonical(t, bob) || k.Kind() != "public key" || k.Subject != "" || bo.CanRelease {
			t.Errorf("bob %+v", bo)
		}
		if ac.Role != "targets/alice/ci" || ac.CanRelease || ac.Threshold != 1 || !slices.Equal(ac.Paths, []string{""}) {
			t.Errorf("alice/ci %+v", ac)
		}
	})

	t.Run("unreleased", func(t *testing.T) {
		got := repo.Unreleased()
		want := []UnreleasedTag{
			{Tag: "dev", Digest: digest("m-dev"), Roles: []string{"targets/bob", "targets/alice/ci"}},
			{Tag: "v2", Digest: digest("m-2-bob"), Roles: []string{"targets/bob"}, TagReleased: true},
		}
		if !equalJSON(got, want) {
			t.Errorf("unreleased %+v\nwant %+v", got, want)
		}
	})

	t.Run("tag view", func(t *testing.T) {
		v := repo.TagView("v3")
		if !v.Released || !v.Disagree || len(v.Entries) != 2 || v.Entries[0].Signer != "targets" || v.Entries[1].Signer != "releases" {
			t.Errorf("v3 %+v", v)
		}
		v = repo.TagView("v2")
		if !v.Disagree || !slices.Equal(v.Digests, []string{digest("m-2"), digest("m-2-bob")}) {
			t.Errorf("v2 %+v", v)
		}
		v = repo.TagView("v1")
		if v.Disagree || !v.Released || len(v.Entries) != 3 {
			t.Errorf("v1 %+v", v)
		}
		v = repo.TagView("dev")
		if v.Released || v.Disagree || len(v.Entries) != 2 {
			t.Errorf("dev %+v", v)
		}
		if v := repo.TagView("nope"); v.Released || v.Disagree || len(v.Entries) != 0 || v.Digests == nil || v.PulledRole != "" {
			t.Errorf("nope %+v", v)
		}
	})

	// docker pull asks for targets/releases first, then targets, and takes
	// nothing from another delegation.
	t.Run("what docker pulls", func(t *testing.T) {
		for _, tt := range []struct{ tag, role, digest string }{
			{"v3", RoleReleases, digest("m-3-rel")},
			{"v2", RoleReleases, digest("m-2")},
			{"dev", "", ""},
		} {
			if v := repo.TagView(tt.tag); v.PulledRole != tt.role || v.PulledDigest != tt.digest {
				t.Errorf("%s: pulls %q from %q, want %q from %q", tt.tag, v.PulledDigest, v.PulledRole, tt.digest, tt.role)
			}
		}
		if got := repo.Disagreeing(); len(got) != 2 || !got["v2"] || !got["v3"] {
			t.Errorf("disagreeing %v, want v2 and v3", got)
		}
	})

	t.Run("roles and raw JSON", func(t *testing.T) {
		var names []string
		for _, m := range repo.Roles {
			names = append(names, m.Role)
			_, current, err := e.store.GetCurrent(data.GUN(gun), data.RoleName(m.Role))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Raw, current) {
				t.Errorf("%s: raw JSON differs from the server's", m.Role)
			}
			if m.Version < 1 || m.Expires.IsZero() {
				t.Errorf("%s: version %d expires %v", m.Role, m.Version, m.Expires)
			}
		}
		want := []string{"root", "targets", "snapshot", "timestamp", RoleReleases, "targets/alice", "targets/bob", "targets/alice/ci"}
		if !slices.Equal(names, want) {
			t.Errorf("roles %q, want %q", names, want)
		}
		if repo.Role("targets/alice") == nil || repo.Role("targets/nobody") != nil {
			t.Error("Role lookup")
		}
		if len(repo.SkippedRoles) != 0 || repo.LoadedAt.Before(before) {
			t.Errorf("skipped %q loaded %v", repo.SkippedRoles, repo.LoadedAt)
		}
	})

	t.Run("expiries", func(t *testing.T) {
		now := time.Now()
		status := func(at time.Time) map[string]ExpiryStatus {
			m := map[string]ExpiryStatus{}
			for _, x := range repo.Expiries(at) {
				m[x.Role] = x.Status
			}
			return m
		}
		s := status(now)
		for _, role := range []string{"root", "targets", "snapshot", "timestamp", "targets/alice"} {
			if s[role] != ExpiryOK {
				t.Errorf("now: %s is %s", role, s[role])
			}
		}
		// The timestamp lasts 14 days and is renewed by the server: never "expiring".
		if s := status(now.Add(13 * 24 * time.Hour)); s["timestamp"] != ExpiryOK {
			t.Errorf("13 days: timestamp %s", s["timestamp"])
		}
		if s := status(now.Add(15 * 24 * time.Hour)); s["timestamp"] != ExpiryExpired || s["targets"] != ExpiryOK {
			t.Errorf("15 days: %v", s)
		}
		targets := repo.Role("targets").Expires
		if s := status(targets.Add(-ExpiringWithin + time.Hour)); s["targets"] != ExpiryExpiring || s["root"] != ExpiryOK {
			t.Errorf("near targets expiry: %v", s)
		}
		if s := status(targets); s["targets"] != ExpiryExpired {
			t.Errorf("at targets expiry: %v", s)
		}
		for _, x := range repo.Expiries(now) {
			if x.AutoRenewed != (x.Role == "timestamp") {
				t.Errorf("%s auto renewed %v", x.Role, x.AutoRenewed)
			}
		}
	})
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestInspectPaths checks that a tag query consults only roles whose paths
// cover the tag, as notary's walk does.
func TestInspectPaths(t *testing.T) {
	repo := &Repo{
		GUN: "reg.test/p/app",
		Targets: []Target{
			{Name: "prod-1", Role: RoleReleases, SHA256: "aa"},
			{Name: "prod-1", Role: "targets/ci", SHA256: "aa"},
			{Name: "prod-1", Role: "targets/qa", SHA256: "aa"},
		},
		rolePaths: map[string][]string{
			RoleTargets:  {""},
			RoleReleases: {"prod-"},
			"targets/ci": {"dev-"},
			"targets/qa": {""},
		},
	}
	all := repo.Inspect("x", "").SignedTags
	one := repo.Inspect("x:prod-1", "prod-1").SignedTags
	if len(all) != 1 || !slices.Equal(all[0].Signers, []string{"ci", "qa"}) {
		t.Errorf("all: %+v", all)
	}
	if len(one) != 1 || !slices.Equal(one[0].Signers, []string{"qa"}) {
		t.Errorf("prod-1: %+v", one)
	}
	if got := repo.Inspect("x:dev-1", "dev-1").SignedTags; len(got) != 0 {
		t.Errorf("dev-1: %+v", got)
	}
}

// TestHostileNames feeds names a malicious repository could hold through
// every function: nothing may panic, JSON must stay valid.
func TestHostileNames(t *testing.T) {
	names := []string{"", "\t", "\n", "a\tb\nc", "\xff", "\xff\xfe", "<script>", "targets/", "v1\x00", "日本語", "../../etc", strings.Repeat("9", 400), "0", "00", "v" + strings.Repeat("0", 100) + "1"}
	repo := &Repo{GUN: "reg.test/hostile/app"}
	for i, n := range names {
		repo.Targets = append(repo.Targets,
			Target{Name: n, Role: RoleTargets, SHA256: digest(n)},
			Target{Name: n, Role: RoleReleases, SHA256: ""},
			Target{Name: n, Role: "targets/" + n, SHA256: ""},
		)
		repo.Delegations = append(repo.Delegations, Delegation{Role: "targets/" + n, Keys: []Key{{ID: n}, {ID: names[(i+1)%len(names)]}}})
	}
	repo.Delegations = append(repo.Delegations, Delegation{Role: "targets/empty"})
	repo.RootKeys = []Key{{ID: "\xff", TUFID: "\t"}}
	for _, n := range names {
		results := []InspectResult{repo.Inspect(n, n), repo.Inspect(n, "")}
		out := FormatJSON(results)
		var v []map[string]any
		if err := json.Unmarshal(out, &v); err != nil || len(v) != 2 {
			t.Fatalf("JSON for %q: %v", n, err)
		}
		FormatPretty(results)
		repo.TagView(n)
		ParseRef(n)
		naturalLess(n, "v1")
	}
	repo.Unreleased()
	repo.Signers()
	repo.Expiries(time.Now())
	if got := FormatJSON(nil); string(got) != "[]\n" {
		t.Errorf("FormatJSON(nil) = %q", got)
	}
	if got := FormatPretty(nil); len(got) != 0 {
		t.Errorf("FormatPretty(nil) = %q", got)
	}
	// Results made by hand with nil lists still print [] (never null).
	got := string(FormatJSON([]InspectResult{{Name: "x", SignedTags: []InspectTag{{SignedTag: "t"}}}}))
	if strings.Contains(got, "null") {
		t.Errorf("null in %s", got)
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"reg.test:5000/ns/app:v1", "alpine", "[::1]:5000/a@sha256:" + strings.Repeat("a", 64), "A/b:c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		gun, tag, err := ParseRef(ref)
		if err != nil {
			return
		}
		if gun == "" || strings.ContainsAny(gun, "@ \t\n") || strings.Contains(tag, ":") {
			t.Fatalf("ParseRef(%q) = %q, %q", ref, gun, tag)
		}
		// The GUN parses to itself.
		if g2, t2, err := ParseRef(gun); err != nil || g2 != gun || t2 != "" {
			t.Fatalf("ParseRef(%q) = %q, %q, %v", gun, g2, t2, err)
		}
	})
}

func FuzzNaturalLess(f *testing.F) {
	f.Add("v2", "v10")
	f.Add("a01", "a1")
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := naturalLess(a, b), naturalLess(b, a)
		if ab && ba {
			t.Fatalf("%q and %q are both less than the other", a, b)
		}
		if a != b && !ab && !ba {
			t.Fatalf("%q and %q are unordered", a, b)
		}
	})
}

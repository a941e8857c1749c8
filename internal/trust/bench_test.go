package trust

import (
	"context"
	"fmt"
	"testing"
)

// bigRepo is a repository of 5,000 tags released in targets/releases, 100
// of them also in targets, each signed by 3 of 20 signers.
func bigRepo() *Repo {
	const tags, signers = 5000, 20
	repo := &Repo{GUN: "reg.test/bench/app"}
	repo.Delegations = append(repo.Delegations, Delegation{Role: RoleReleases})
	for s := range signers {
		d := Delegation{Role: fmt.Sprintf("targets/signer%d", s), Threshold: 1, Paths: []string{""},
			Keys: []Key{{ID: digest(fmt.Sprint("key", s)), Algorithm: "ecdsa"}}}
		repo.Delegations = append(repo.Delegations, d)
		repo.Delegations[0].Keys = append(repo.Delegations[0].Keys, d.Keys[0])
	}
	for i := range 100 {
		repo.Targets = append(repo.Targets, Target{Name: fmt.Sprintf("v%d", i), Role: RoleTargets, SHA256: digest(fmt.Sprint(i)), Size: 1000})
	}
	for i := range tags {
		repo.Targets = append(repo.Targets, Target{Name: fmt.Sprintf("v%d", i), Role: RoleReleases, SHA256: digest(fmt.Sprint(i)), Size: 1000})
	}
	for s := range signers {
		for i := range tags {
			if d := (i - s + signers) % signers; d < 3 {
				repo.Targets = append(repo.Targets, Target{Name: fmt.Sprintf("v%d", i), Role: fmt.Sprintf("targets/signer%d", s), SHA256: digest(fmt.Sprint(i)), Size: 1000})
			}
		}
	}
	repo.RootKeys = []Key{{ID: digest("root"), TUFID: digest("root cert")}}
	repo.TargetsKeys = []Key{{ID: digest("targets"), TUFID: digest("targets")}}
	return repo
}

// BenchmarkInspectJSON is a cold inspection (a Repo made by hand is never
// kept): rows computed and JSON printed.
func BenchmarkInspectJSON(b *testing.B) {
	repo := bigRepo()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(FormatJSON([]InspectResult{repo.Inspect(repo.GUN, "")}))
	}
	b.ReportMetric(float64(n), "bytes/op-output")
}

// BenchmarkInspectJSONKept is a warm inspection: the Repo is one Load
// built (it has an id), inspected and printed before.
func BenchmarkInspectJSONKept(b *testing.B) {
	repo := bigRepo()
	repo.id = repoIDs.Add(1)
	FormatJSON([]InspectResult{repo.Inspect(repo.GUN, "")})
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(FormatJSON([]InspectResult{repo.Inspect(repo.GUN, "")}))
	}
	b.ReportMetric(float64(n), "bytes/op-output")
}

func BenchmarkInspectPretty(b *testing.B) {
	repo := bigRepo()
	b.ReportAllocs()
	for b.Loop() {
		FormatPretty([]InspectResult{repo.Inspect(repo.GUN, "")})
	}
}

func BenchmarkInspectOneTag(b *testing.B) {
	repo := bigRepo()
	b.ReportAllocs()
	for b.Loop() {
		FormatJSON([]InspectResult{repo.Inspect(repo.GUN+":v4321", "v4321")})
	}
}

// benchEnv is a repository of 200 tags with 3 signers on a test server.
func benchEnv(b *testing.B) (*env, string) {
	e := newEnv(b)
	gun := "reg.test/bench/load"
	a := e.admin(gun).init()
	alice := a.key("targets/alice", "alice", true)
	bob := a.key("targets/bob", "bob", false)
	carol := a.key("targets/carol", "carol", false)
	a.delegate(RoleReleases, alice, bob, carol).delegate("targets/alice", alice).delegate("targets/bob", bob).delegate("targets/carol", carol).publish()
	signers := []string{"targets/alice", "targets/bob", "targets/carol"}
	for i := range 200 {
		a.sign(fmt.Sprintf("v%d", i), fmt.Sprint("bench", i), RoleReleases, signers[i%3])
	}
	a.publish()
	return e, gun
}

func BenchmarkLoadCold(b *testing.B) {
	e, gun := benchEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewReader(e.remote()).Load(ctx, gun); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadWarm(b *testing.B) {
	e, gun := benchEnv(b)
	ctx := context.Background()
	r := NewReader(e.remote())
	if _, err := r.Load(ctx, gun); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Load(ctx, gun); err != nil {
			b.Fatal(err)
		}
	}
}

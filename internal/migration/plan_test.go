package migration

import (
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/trust"
)

func digest(c string) string { return "sha256:" + strings.Repeat(c, 64) }

func TestPlan(t *testing.T) {
	signed := []trust.InspectTag{
		{SignedTag: "v1", Digest: strings.Repeat("1", 64), Signers: []string{"alice"}},
		{SignedTag: "v2", Digest: strings.Repeat("2", 64), Signers: []string{"alice", "bob"}},
		{SignedTag: "v3", Digest: strings.Repeat("3", 64), Signers: []string{"Repo Admin"}},
		{SignedTag: "v4", Digest: strings.Repeat("4", 64), Signers: []string{"alice"}},
		{SignedTag: "nohash", Digest: "", Signers: []string{"alice"}},
	}
	registry := trust.RegistryState{Known: true, Tags: []trust.RegistryTag{
		{Name: "v1", Digest: digest("1")},
		{Name: "v2", Digest: digest("9")}, // moved: drifted
		// v3 gone: missing
		{Name: "v4", Digest: digest("8")}, // moved, and the signed digest deleted: missing
		{Name: "latest", Digest: digest("7")},
		{Name: "sha256-" + strings.Repeat("1", 64) + ".sig", Digest: digest("a")}, // cosign's signature tag
		{Name: "sha256-" + strings.Repeat("1", 64), Digest: digest("b")},          // referrers tag schema
		{Name: "nohash", Digest: digest("c")},
	}, Absent: []string{digest("4")}}
	verified := map[string][]VerifiedRow{}
	for _, r := range signed {
		if r.Digest != "" {
			verified[r.SignedTag] = []VerifiedRow{{Digest: "sha256:" + r.Digest, Version: 7}}
		}
	}
	type want struct{ action, reason string }
	tests := []struct {
		name string
		in   Input
		want map[string]want
	}{
		{"verified trust data", Input{States: trust.TagStates(signed, registry), RegistryKnown: true, Verified: verified},
			map[string]want{"v1": {ActionSign, ""}, "v2": {ActionSkip, ReasonDrifted}, "v3": {ActionSkip, ReasonMissing},
				"v4": {ActionSkip, ReasonMissing}, "nohash": {ActionSkip, ReasonNotVerifiable}}},
		{"expired trust data", Input{States: trust.TagStates(signed, registry), RegistryKnown: true,
			TrustReason: ReasonExpired, TrustMessage: "targets expired"},
			map[string]want{"v1": {ActionSkip, ReasonExpired}, "v2": {ActionSkip, ReasonExpired},
				"v3": {ActionSkip, ReasonExpired}, "v4": {ActionSkip, ReasonExpired}, "nohash": {ActionSkip, ReasonNotVerifiable}}},
		{"trust data failing verification", Input{States: trust.TagStates(signed, registry), RegistryKnown: true,
			TrustReason: ReasonNotVerifiable, TrustMessage: "bad signature"},
			map[string]want{"v1": {ActionSkip, ReasonNotVerifiable}, "v2": {ActionSkip, ReasonNotVerifiable},
				"v3": {ActionSkip, ReasonNotVerifiable}, "v4": {ActionSkip, ReasonNotVerifiable}, "nohash": {ActionSkip, ReasonNotVerifiable}}},
		{"a row only an expired delegation signs", Input{States: trust.TagStates(signed, registry), RegistryKnown: true,
			Verified: map[string][]VerifiedRow{"v2": verified["v2"], "v3": verified["v3"], "v4": verified["v4"]}},
			map[string]want{"v1": {ActionSkip, ReasonExpired}, "v2": {ActionSkip, ReasonDrifted}, "v3": {ActionSkip, ReasonMissing},
				"v4": {ActionSkip, ReasonMissing}, "nohash": {ActionSkip, ReasonNotVerifiable}}},
		{"a verified row for another digest", Input{States: trust.TagStates(signed, registry), RegistryKnown: true,
			Verified: map[string][]VerifiedRow{"v1": {{Digest: digest("5")}}}},
			map[string]want{"v1": {ActionSkip, ReasonExpired}, "v2": {ActionSkip, ReasonExpired}, "v3": {ActionSkip, ReasonExpired},
				"v4": {ActionSkip, ReasonExpired}, "nohash": {ActionSkip, ReasonNotVerifiable}}},
		{"registry unknown", Input{States: trust.TagStates(signed, trust.RegistryState{Tags: registry.Tags}),
			RegistryError: "the registry is unreachable", Verified: verified},
			map[string]want{"v1": {ActionSkip, ReasonNotVerifiable}, "v2": {ActionSkip, ReasonNotVerifiable},
				"v3": {ActionSkip, ReasonNotVerifiable}, "v4": {ActionSkip, ReasonNotVerifiable}, "nohash": {ActionSkip, ReasonNotVerifiable}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Namespace, tc.in.Name = "prod", "app"
			p := Plan(tc.in)
			got := map[string]want{}
			for _, tg := range p.Tags {
				got[tg.Name] = want{tg.Action, tg.Reason}
				if tg.Message == "" {
					t.Errorf("%s: no message", tg.Name)
				}
				if tg.Action == ActionSign && (tg.TrustVersion != 7 || tg.Digest != tg.RegistryDigest) {
					t.Errorf("%s to sign: version %d, digest %s, registry %s", tg.Name, tg.TrustVersion, tg.Digest, tg.RegistryDigest)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("planned %v, want %v", got, tc.want)
			}
			for tag, w := range tc.want {
				if got[tag] != w {
					t.Errorf("%s: %+v, want %+v", tag, got[tag], w)
				}
			}
			// Unsigned tags apart, signature artifacts left out.
			var unsigned []string
			for _, u := range p.Unsigned {
				unsigned = append(unsigned, u.Name)
			}
			if strings.Join(unsigned, ",") != "latest" {
				t.Errorf("unsigned %v, want [latest]", unsigned)
			}
			if p.Tags[0].Name != "nohash" || p.Tags[1].Name != "v1" {
				t.Errorf("tags not in natural order: %v", p.Tags)
			}
		})
	}
	p := Plan(Input{States: trust.TagStates(signed, registry), RegistryKnown: true, Verified: verified})
	if c := p.Counts(); c != (Counts{Sign: 1, Skip: 4, Unsigned: 1}) {
		t.Errorf("counts %+v", c)
	}
	for _, tg := range p.Tags {
		if tg.Name == "v2" && strings.Join(tg.Signers, ",") != "alice,bob" {
			t.Errorf("v2's DCT signers: %v", tg.Signers)
		}
	}
}

package trust

import (
	"reflect"
	"strings"
	"testing"
)

func TestTagStates(t *testing.T) {
	const (
		a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		c = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	)
	row := func(tag, digest string, signers ...string) InspectTag {
		return InspectTag{SignedTag: tag, Digest: digest, Signers: signers}
	}
	released := func(r InspectTag) InspectTag { r.inReleases = true; return r }
	reg := func(name, hex string, platforms ...string) RegistryTag {
		if platforms == nil {
			return RegistryTag{Name: name, Digest: "sha256:" + hex}
		}
		return RegistryTag{Name: name, Digest: "sha256:" + hex, Platforms: platforms}
	}
	tests := []struct {
		name   string
		signed []InspectTag
		reg    RegistryState
		want   []TagState
	}{
		{"nothing", nil, RegistryState{Known: true}, []TagState{}},
		{"signed", []InspectTag{row("v1", a, "alice")}, RegistryState{Known: true, Tags: []RegistryTag{reg("v1", a)}},
			[]TagState{{Name: "v1", State: TagSigned, RegistryDigest: "sha256:" + a, SignedDigest: "sha256:" + a, Signers: []string{"alice"}}}},
		{"unsigned", nil, RegistryState{Known: true, Tags: []RegistryTag{reg("latest", b)}},
			[]TagState{{Name: "latest", State: TagUnsigned, RegistryDigest: "sha256:" + b}}},
		{"signature tags are no images", nil, RegistryState{Known: true, Tags: []RegistryTag{
			reg("sha256-"+a+".sig", b), reg("sha256-"+a, c), reg("sha256-"+a+".att", c), reg("sha256-"+a[:10], c), reg("sha256-"+a+".x", c)}},
			[]TagState{{Name: "sha256-" + a[:10], State: TagUnsigned, RegistryDigest: "sha256:" + c},
				{Name: "sha256-" + a + ".x", State: TagUnsigned, RegistryDigest: "sha256:" + c}}},
		{"drifted", []InspectTag{row("v1", a, RepoAdmin)}, RegistryState{Known: true, Tags: []RegistryTag{reg("v1", b)}},
			[]TagState{{Name: "v1", State: TagDrifted, RegistryDigest: "sha256:" + b, SignedDigest: "sha256:" + a, Signers: []string{RepoAdmin}}}},
		{"missing: the tag is gone", []InspectTag{row("v1", a, "alice")}, RegistryState{Known: true},
			[]TagState{{Name: "v1", State: TagMissing, SignedDigest: "sha256:" + a, Signers: []string{"alice"}}}},
		{"missing: moved, and the signed manifest is gone",
			[]InspectTag{row("v1", a, "alice")},
			RegistryState{Known: true, Tags: []RegistryTag{reg("v1", b)}, Absent: []string{"sha256:" + a}},
			[]TagState{{Name: "v1", State: TagMissing, RegistryDigest: "sha256:" + b, SignedDigest: "sha256:" + a, Signers: []string{"alice"}}}},
		{"an absent digest of another tag changes nothing",
			[]InspectTag{row("v1", a, "alice")},
			RegistryState{Known: true, Tags: []RegistryTag{reg("v1", a)}, Absent: []string{"sha256:" + b}},
			[]TagState{{Name: "v1", State: TagSigned, RegistryDigest: "sha256:" + a, SignedDigest: "sha256:" + a, Signers: []string{"alice"}}}},
		{"an index: its digest and platforms",
			[]InspectTag{row("multi", c, "alice")},
			RegistryState{Known: true, Tags: []RegistryTag{reg("multi", c, "linux/amd64", "linux/arm64/v8")}},
			[]TagState{{Name: "multi", State: TagSigned, RegistryDigest: "sha256:" + c, SignedDigest: "sha256:" + c,
				Signers: []string{"alice"}, Platforms: []string{"linux/amd64", "linux/arm64/v8"}}}},
		{"targets and releases disagree: the releases row is what DCT pulls",
			[]InspectTag{row("v1", a, RepoAdmin), released(row("v1", b, "releases"))},
			RegistryState{Known: true, Tags: []RegistryTag{reg("v1", b)}},
			[]TagState{{Name: "v1", State: TagSigned, RegistryDigest: "sha256:" + b, SignedDigest: "sha256:" + b, Signers: []string{"releases"}}}},
		{"targets and releases disagree, the registry holds the targets one: drifted from what DCT pulls",
			[]InspectTag{released(row("v1", b, "releases")), row("v1", a, RepoAdmin)},
			RegistryState{Known: true, Tags: []RegistryTag{reg("v1", a)}},
			[]TagState{{Name: "v1", State: TagDrifted, RegistryDigest: "sha256:" + a, SignedDigest: "sha256:" + b, Signers: []string{"releases"}}}},
		{"registry unknown: every tag, signed or last seen, is unknown with what was known",
			[]InspectTag{row("v1", a, "alice")},
			RegistryState{Tags: []RegistryTag{reg("v1", b), reg("v2", c)}},
			[]TagState{
				{Name: "v1", State: TagUnknown, RegistryDigest: "sha256:" + b, SignedDigest: "sha256:" + a, Signers: []string{"alice"}},
				{Name: "v2", State: TagUnknown, RegistryDigest: "sha256:" + c}}},
		{"no registry at all", []InspectTag{row("v1", a, "alice")}, RegistryState{},
			[]TagState{{Name: "v1", State: TagUnknown, SignedDigest: "sha256:" + a, Signers: []string{"alice"}}}},
		{"natural order across both sources, a tag listed twice once",
			[]InspectTag{row("v10", a, "x"), row("v2", a, "x")},
			RegistryState{Known: true, Tags: []RegistryTag{reg("v9", b), reg("v1", b), reg("v10", a), reg("v1", b)}},
			[]TagState{
				{Name: "v1", State: TagUnsigned, RegistryDigest: "sha256:" + b},
				{Name: "v2", State: TagMissing, SignedDigest: "sha256:" + a, Signers: []string{"x"}},
				{Name: "v9", State: TagUnsigned, RegistryDigest: "sha256:" + b},
				{Name: "v10", State: TagSigned, RegistryDigest: "sha256:" + a, SignedDigest: "sha256:" + a, Signers: []string{"x"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TagStates(tt.signed, tt.reg)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("TagStates:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestCountTagStates(t *testing.T) {
	got := CountTagStates([]TagState{{State: TagSigned}, {State: TagDrifted}, {State: TagDrifted}, {State: TagUnsigned},
		{State: TagMissing}, {State: TagUnknown}})
	if want := (TagCounts{Signed: 1, Unsigned: 1, Drifted: 2, Missing: 1, Unknown: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

// The rows Inspect builds mark the targets/releases row, so TagStates
// compares with what DCT pulls when targets and releases disagree.
func TestTagStatesOfALoadedRepo(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	repo := &Repo{GUN: "r.example/prod/app", Targets: []Target{
		{Name: "v1", Role: RoleTargets, SHA256: a},
		{Name: "v1", Role: RoleReleases, SHA256: b},
	}}
	got := TagStates(repo.Inspect(repo.GUN, "").SignedTags, RegistryState{Known: true, Tags: []RegistryTag{{Name: "v1", Digest: "sha256:" + b}}})
	if len(got) != 1 || got[0].State != TagSigned || got[0].SignedDigest != "sha256:"+b {
		t.Errorf("got %+v, want v1 signed with the releases digest", got)
	}
}

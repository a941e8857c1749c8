package trust

import (
	"slices"
	"strings"
)

// Tag states: how a tag in the registry compares with the trust data.
const (
	// TagSigned: the registry's digest is the digest signed for the tag
	// (the row `docker trust inspect` shows, the one DCT clients pull).
	TagSigned = "signed"
	// TagUnsigned: in the registry, no signed row for the tag.
	TagUnsigned = "unsigned"
	// TagDrifted: signed, but the registry's tag points at another digest:
	// DCT clients pull the signed digest, every other client the registry's.
	TagDrifted = "drifted"
	// TagMissing: signed, but the tag is gone from the registry, or it
	// moved and the signed manifest is gone too (DCT clients cannot pull it).
	TagMissing = "missing"
	// TagUnknown: the registry's state is not known (no registry, or its
	// last read failed).
	TagUnknown = "unknown"
)

// DigestPrefix prefixes a hex sha256 to make an OCI digest.
const DigestPrefix = "sha256:"

// RegistryTag is a tag as the registry serves it.
type RegistryTag struct {
	Name string
	// Digest is the tag's digest as docker resolves it ("sha256:<hex>"):
	// an index's for a multi-platform image.
	Digest string
	// Platforms are an index's platforms, os/arch[/variant], in its order
	// (nil for a single-platform image).
	Platforms []string
}

// RegistryState is what is known of one repository in the registry.
type RegistryState struct {
	// Known is set when the registry's tags are current: its last read
	// succeeded. Without it every tag's state is TagUnknown, and Tags are
	// the last tags known (if any).
	Known bool
	Tags  []RegistryTag
	// Absent lists digests ("sha256:<hex>") the registry answered it does
	// not hold: a drifted tag whose signed digest is absent is missing.
	Absent []string
}

// TagState is one tag compared across the registry and the trust data.
type TagState struct {
	Name  string
	State string
	// RegistryDigest is the registry's digest of the tag ("" when the
	// registry has no such tag); with TagUnknown, the last one known.
	RegistryDigest string
	// SignedDigest is the digest DCT clients pull for the tag
	// ("sha256:<hex>", "" when the tag is not signed).
	SignedDigest string
	// Signers are the signed row's signers (as docker trust inspect shows
	// them); nil when the tag is not signed.
	Signers []string
	// Platforms are the registry's platforms of an index.
	Platforms []string
}

// TagCounts counts tags by state.
type TagCounts struct {
	Signed, Unsigned, Drifted, Missing, Unknown int
}

// CountTagStates counts states by state.
func CountTagStates(states []TagState) TagCounts {
	var c TagCounts
	for _, s := range states {
		switch s.State {
		case TagSigned:
			c.Signed++
		case TagUnsigned:
			c.Unsigned++
		case TagDrifted:
			c.Drifted++
		case TagMissing:
			c.Missing++
		default:
			c.Unknown++
		}
	}
	return c
}

// TagStates compares docker's signed rows of a repository (Inspect's
// SignedTags) with its tags in the registry: one state per tag found in
// either, tags in docker's natural order. A tag with several signed rows
// (targets and targets/releases disagree) is compared with the row DCT
// clients pull: targets/releases first, as docker looks it up. It is a pure
// function, so the pages, the API, the list's counts and the migration plan
// compute states one way.
func TagStates(signed []InspectTag, reg RegistryState) []TagState {
	pulled := map[string]InspectTag{}
	for _, row := range signed {
		if cur, ok := pulled[row.SignedTag]; !ok || row.inReleases && !cur.inReleases {
			pulled[row.SignedTag] = row
		}
	}
	inRegistry := make(map[string]RegistryTag, len(reg.Tags))
	for _, t := range reg.Tags {
		inRegistry[t.Name] = t
	}
	absent := make(map[string]bool, len(reg.Absent))
	for _, d := range reg.Absent {
		absent[d] = true
	}
	out := make([]TagState, 0, len(inRegistry)+len(pulled))
	for name, row := range pulled {
		st := TagState{Name: name, SignedDigest: signedDigest(row.Digest), Signers: slices.Clone(row.Signers)}
		rt, found := inRegistry[name]
		if found {
			st.RegistryDigest, st.Platforms = rt.Digest, slices.Clone(rt.Platforms)
		}
		switch {
		case !reg.Known:
			st.State = TagUnknown
		case !found:
			st.State = TagMissing
		case rt.Digest == st.SignedDigest:
			st.State = TagSigned
		case st.SignedDigest != "" && absent[st.SignedDigest]:
			st.State = TagMissing
		default:
			st.State = TagDrifted
		}
		out = append(out, st)
	}
	for _, rt := range reg.Tags {
		if _, ok := pulled[rt.Name]; ok || inRegistry[rt.Name].Name == "" || IsSignatureTag(rt.Name) {
			continue
		}
		delete(inRegistry, rt.Name) // once per name
		st := TagState{Name: rt.Name, State: TagUnsigned, RegistryDigest: rt.Digest, Platforms: slices.Clone(rt.Platforms)}
		if !reg.Known {
			st.State = TagUnknown
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b TagState) int {
		if c := naturalCompare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// signedDigest is a target's hex sha256 as a digest ("" without one).
func signedDigest(hex string) string {
	if hex == "" {
		return ""
	}
	return DigestPrefix + hex
}

// IsSignatureTag reports whether a registry tag names signatures or other
// artifacts of an image rather than an image: cosign's sha256-<hex>.sig
// (and .att, .sbom) and the OCI referrers tag schema's sha256-<hex> (where
// Notation keeps its signatures without a referrers API). They are not
// tags anyone pulls: no state of their own, not unsigned.
func IsSignatureTag(name string) bool {
	rest, ok := strings.CutPrefix(name, "sha256-")
	if !ok || len(rest) < 64 {
		return false
	}
	hex, suffix := rest[:64], rest[64:]
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	switch suffix {
	case "", ".sig", ".att", ".sbom":
		return true
	}
	return false
}

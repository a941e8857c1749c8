package trust

import (
	"slices"
	"strings"
	"time"
)

// What `docker trust inspect` does not show.

// UnreleasedTag is a tag and digest that signers signed in their own roles
// but that is not released with that digest (in targets or
// targets/releases): docker shows no row for it, and `docker pull` with
// content trust does not see it.
type UnreleasedTag struct {
	Tag    string
	Digest string
	// Roles are the roles holding the pair, in walk order.
	Roles []string
	// TagReleased is set when the tag is released, but with another digest.
	TagReleased bool
}

// Unreleased lists the signatures docker hides, tags in natural order, then
// by digest.
func (r *Repo) Unreleased() []UnreleasedTag {
	released := map[tagDigest]bool{}
	releasedTag := map[string]bool{}
	for _, t := range r.Targets {
		if isReleased(t.Role) {
			released[tagDigest{t.Name, t.SHA256}] = true
			releasedTag[t.Name] = true
		}
	}
	index := map[tagDigest]int{}
	out := []UnreleasedTag{}
	for _, t := range r.Targets {
		k := tagDigest{t.Name, t.SHA256}
		if isReleased(t.Role) || released[k] {
			continue
		}
		n, ok := index[k]
		if !ok {
			n = len(out)
			index[k] = n
			out = append(out, UnreleasedTag{Tag: t.Name, Digest: t.SHA256, TagReleased: releasedTag[t.Name]})
		}
		out[n].Roles = append(out[n].Roles, t.Role)
	}
	slices.SortStableFunc(out, func(a, b UnreleasedTag) int {
		if c := naturalCompare(a.Tag, b.Tag); c != 0 {
			return c
		}
		return strings.Compare(a.Digest, b.Digest)
	})
	return out
}

// TagEntry is one role's signature of a tag.
type TagEntry struct {
	Role   string
	Signer string // the role as docker names a signer ("targets" stays "targets")
	Digest string
	Size   int64
	// Released is set for targets and targets/releases.
	Released bool
}

// TagView is every role's view of one tag.
type TagView struct {
	Tag string
	// Entries are in walk order.
	Entries []TagEntry
	// Released is set when targets or targets/releases holds the tag.
	Released bool
	// Disagree is set when the roles hold more than one digest for the tag.
	Disagree bool
	// Digests are the distinct digests, released ones first, then in walk
	// order.
	Digests []string
	// PulledRole and PulledDigest are what `docker pull` with content trust
	// resolves the tag to: docker asks notary for the tag in
	// targets/releases, then in targets, and takes nothing from any other
	// delegation. Both are "" when neither role holds the tag.
	PulledRole, PulledDigest string
}

// TagView shows what every role says about tag.
func (r *Repo) TagView(tag string) TagView {
	v := TagView{Tag: tag, Entries: []TagEntry{}, Digests: []string{}}
	var later []string
	for _, t := range r.Targets {
		if t.Name != tag {
			continue
		}
		rel := isReleased(t.Role)
		signer := t.Role
		if t.Role != RoleTargets {
			signer = signerName(t.Role)
		}
		v.Entries = append(v.Entries, TagEntry{Role: t.Role, Signer: signer, Digest: t.SHA256, Size: t.Size, Released: rel})
		if rel {
			v.Released = true
			if !slices.Contains(v.Digests, t.SHA256) {
				v.Digests = append(v.Digests, t.SHA256)
			}
		} else if !slices.Contains(later, t.SHA256) {
			later = append(later, t.SHA256)
		}
	}
	for _, d := range later {
		if !slices.Contains(v.Digests, d) {
			v.Digests = append(v.Digests, d)
		}
	}
	v.Disagree = len(v.Digests) > 1
	for _, role := range []string{RoleReleases, RoleTargets} {
		if i := slices.IndexFunc(v.Entries, func(e TagEntry) bool { return e.Role == role }); i >= 0 {
			v.PulledRole, v.PulledDigest = role, v.Entries[i].Digest
			break
		}
	}
	return v
}

// Disagreeing is the set of released tags (in targets or targets/releases)
// whose roles hold more than one digest: another role signs another image
// than the released one (TagView's Disagree, for every released tag at
// once).
func (r *Repo) Disagreeing() map[string]bool {
	first := map[string]string{}
	differs := map[string]bool{}
	released := map[string]bool{}
	for _, t := range r.Targets {
		if isReleased(t.Role) {
			released[t.Name] = true
		}
		if d, ok := first[t.Name]; !ok {
			first[t.Name] = t.SHA256
		} else if d != t.SHA256 {
			differs[t.Name] = true
		}
	}
	out := map[string]bool{}
	for tag := range differs {
		if released[tag] {
			out[tag] = true
		}
	}
	return out
}

// ExpiryStatus is how close a role is to expiring.
type ExpiryStatus string

const (
	ExpiryOK       ExpiryStatus = "ok"
	ExpiryExpiring ExpiryStatus = "expiring"
	ExpiryExpired  ExpiryStatus = "expired"
)

// ExpiringWithin is how soon an expiry counts as "expiring".
const ExpiringWithin = 30 * 24 * time.Hour

// RootResignWithin is how close to root's expiry notary's client starts to
// sign root again with every publish, which then needs the root key: six
// calendar months, so at most 184 days.
const RootResignWithin = 184 * 24 * time.Hour

// RoleExpiry is the version and expiry of one role.
type RoleExpiry struct {
	Role    string
	Version int
	Expires time.Time
	Status  ExpiryStatus
	// AutoRenewed is set for the timestamp: the notary server signs a new
	// one when it expires (it lasts 14 days), so it is only ever ok or, if
	// the server lost its key, expired.
	AutoRenewed bool
}

// Expiries lists every loaded role (root, targets, snapshot, timestamp,
// delegations in walk order) with its status at now.
func (r *Repo) Expiries(now time.Time) []RoleExpiry {
	out := make([]RoleExpiry, 0, len(r.Roles))
	for _, m := range r.Roles {
		e := RoleExpiry{Role: m.Role, Version: m.Version, Expires: m.Expires, AutoRenewed: m.Role == RoleTimestamp}
		switch {
		case !now.Before(m.Expires):
			e.Status = ExpiryExpired
		case !e.AutoRenewed && m.Expires.Sub(now) <= ExpiringWithin:
			e.Status = ExpiryExpiring
		default:
			e.Status = ExpiryOK
		}
		out = append(out, e)
	}
	return out
}

// Signer is a delegation as docker lists signers, with key details.
type Signer struct {
	// Name is the role without "targets/" (nested roles keep "a/b").
	Name string
	Role string
	// Keys are sorted by ID.
	Keys []Key
	// CanRelease is set when one of the signer's keys may sign
	// targets/releases (docker's `signer add` puts the key in both roles).
	CanRelease bool
	Threshold  int
	Paths      []string
}

// Signers lists every delegation except targets/releases, in docker's pretty
// order (natural, by name).
func (r *Repo) Signers() []Signer {
	releaseKeys := map[string]bool{}
	for _, d := range r.Delegations {
		if d.Role == RoleReleases {
			for _, k := range d.Keys {
				releaseKeys[k.ID] = true
			}
		}
	}
	out := []Signer{}
	for _, d := range r.Delegations {
		if d.Role == RoleReleases {
			continue
		}
		s := Signer{Name: signerName(d.Role), Role: d.Role, Keys: slices.Clone(d.Keys), Threshold: d.Threshold, Paths: slices.Clone(d.Paths)}
		slices.SortFunc(s.Keys, func(a, b Key) int { return strings.Compare(a.ID, b.ID) })
		for _, k := range s.Keys {
			if releaseKeys[k.ID] {
				s.CanRelease = true
			}
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b Signer) int { return naturalCompare(a.Name, b.Name) })
	return out
}

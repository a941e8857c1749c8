package signers

import (
	"fmt"
	"slices"
	"strings"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// revokePlan is what Revoke changes, worked out from verified trust data.
type revokePlan struct {
	role     string // targets/<name>
	releases releasesPlan
	impact   *Impact
}

// releasesPlan is what an operation changes in targets/releases besides
// adding a signer's key.
type releasesPlan struct {
	// remove are the canonical key IDs to take out of the role: a revoked
	// signer's, and retired keys no longer needed.
	remove []string
	// reset re-signs the role with a new retired key and no targets (see
	// releases.go). drop are the targets the verified data shows in it (the
	// server's current ones are dropped too).
	reset bool
	drop  []string
	// removeRole removes the role instead: it would be left without keys
	// and has no metadata yet (nobody ever released), so nothing can block
	// recreating it.
	removeRole bool
}

// releasesState is what the verified trust data says about targets/releases.
type releasesState struct {
	del     *trust.Delegation // nil if not delegated
	loaded  bool              // its metadata verifies
	skipped bool              // it has metadata that does not verify
	// signedBy are the canonical IDs of its keys that validly sign its
	// current metadata.
	signedBy map[string]bool
	// retired are its retired keys (see releases.go) held by no signer.
	retired []string
}

func releasesOf(repo *trust.Repo) releasesState {
	st := releasesState{
		del:      delegationOf(repo, trust.RoleReleases),
		loaded:   repo.Role(trust.RoleReleases) != nil,
		skipped:  slices.Contains(repo.SkippedRoles, trust.RoleReleases),
		signedBy: map[string]bool{},
	}
	if st.del == nil {
		return st
	}
	if st.loaded {
		st.signedBy = validSigners(repo, st.del.KeyIDs())
	}
	held := map[string]bool{}
	for _, d := range repo.Delegations {
		if d.Role != trust.RoleReleases {
			for _, id := range d.KeyIDs() {
				held[id] = true
			}
		}
	}
	for _, k := range st.del.Keys {
		if IsRetiredKey(k) && !held[k.ID] {
			st.retired = append(st.retired, k.ID)
		}
	}
	return st
}

// idle are the retired keys that no longer sign the role's metadata: they
// can go.
func (st releasesState) idle() []string {
	var out []string
	for _, id := range st.retired {
		if !st.signedBy[id] {
			out = append(out, id)
		}
	}
	return out
}

func delegationOf(repo *trust.Repo, role string) *trust.Delegation {
	for i := range repo.Delegations {
		if repo.Delegations[i].Role == role {
			return &repo.Delegations[i]
		}
	}
	return nil
}

// releasedTargets are the names of the targets in targets/releases.
func releasedTargets(repo *trust.Repo) []string {
	var out []string
	for _, t := range repo.Targets {
		if t.Role == trust.RoleReleases && !slices.Contains(out, t.Name) {
			out = append(out, t.Name)
		}
	}
	return out
}

// planRevoke works out what revoking signer name changes.
//
// What a docker client will believe afterwards:
//   - targets/<name> is no longer delegated, so its targets count for
//     nobody: a released tag loses this signer.
//   - the signer's keys leave targets/releases. The releases metadata keeps
//     the signatures it has (only its own keys can sign it); if none of them
//     is by a key that stays (fewer than the threshold), the role no longer
//     verifies and none of its tags count: docker's "will make the
//     repository unpullable" case. trustdeck then resets the role (see
//     releases.go) rather than leave it unverifiable, which would make
//     every later `docker trust sign` fail.
//   - a tag whose releases entry stops counting is still pulled from the
//     targets role if that holds it (with its digest there).
func planRevoke(repo *trust.Repo, name string) (*revokePlan, error) {
	role := "targets/" + name
	signer := delegationOf(repo, role)
	if signer == nil {
		return nil, errs.NotFoundf("signer_not_found", "%s has no signer %s.", repo.GUN, name)
	}
	others := map[string]bool{} // keys held by the other signers
	for _, d := range repo.Delegations {
		if d.Role != role && d.Role != trust.RoleReleases {
			for _, id := range d.KeyIDs() {
				others[id] = true
			}
		}
	}
	im := &Impact{Signer: name, Keys: signer.KeyIDs(), ReleaseKeys: []string{},
		LosesLastSigner: []string{}, Unpullable: []string{}, RevertsToTargets: []string{},
		RemovedUnreleased: []RemovedTag{}, KeepRelease: []string{}}
	// Deleting the role deletes every signature only it (or a role nested
	// below it, no longer reachable) holds.
	gone := func(r string) bool { return r == role || strings.HasPrefix(r, role+"/") }
	for _, u := range repo.Unreleased() {
		if !slices.ContainsFunc(u.Roles, func(r string) bool { return !gone(r) }) {
			im.RemovedUnreleased = append(im.RemovedUnreleased, RemovedTag{Tag: u.Tag, Digest: u.Digest, TagReleased: u.TagReleased})
		}
	}
	p := &revokePlan{role: role, impact: im}

	rel := releasesOf(repo)
	if rel.del != nil {
		p.releases.remove = rel.idle()
		for _, id := range rel.del.KeyIDs() {
			if slices.Contains(im.Keys, id) && !others[id] {
				im.ReleaseKeys = append(im.ReleaseKeys, id)
				p.releases.remove = append(p.releases.remove, id)
			}
		}
		if rel.loaded && len(im.ReleaseKeys) > 0 {
			valid := 0
			for _, id := range rel.del.KeyIDs() {
				if rel.signedBy[id] && !slices.Contains(p.releases.remove, id) {
					valid++
				}
			}
			im.ReleasesInvalid = valid < max(rel.del.Threshold, 1)
		}
		if !rel.loaded && !rel.skipped && len(p.releases.remove) == len(rel.del.Keys) {
			p.releases = releasesPlan{removeRole: true}
		}
		if im.ReleasesInvalid || rel.skipped {
			im.ReleasesReset = true
			p.releases = releasesPlan{reset: true, drop: releasedTargets(repo),
				remove: slices.Concat(im.ReleaseKeys, rel.retired)}
		}
	}

	// What docker pulls for each tag: targets/releases first, then targets.
	releasedAs := map[string]string{} // tag → digest in targets/releases
	targetsAs := map[string]string{}  // tag → digest in targets
	for _, t := range repo.Targets {
		switch t.Role {
		case trust.RoleReleases:
			releasedAs[t.Name] = t.SHA256
		case trust.RoleTargets:
			targetsAs[t.Name] = t.SHA256
		}
	}
	affected := map[string]bool{}
	for _, row := range repo.Inspect(repo.GUN, "").SignedTags {
		tag := row.SignedTag
		if affected[tag] {
			continue
		}
		if rd, ok := releasedAs[tag]; ok && im.ReleasesInvalid {
			td, inTargets := targetsAs[tag]
			switch {
			case !inTargets:
				im.Unpullable = append(im.Unpullable, tag)
				affected[tag] = true
				continue
			case td != rd:
				im.RevertsToTargets = append(im.RevertsToTargets, tag)
				affected[tag] = true
				continue
			}
		}
		// A row stays unless its only source is the releases role that stops
		// counting; it loses this signer.
		stays := !im.ReleasesInvalid || targetsAs[tag] == row.Digest
		if stays && slices.Equal(row.Signers, []string{name}) {
			im.LosesLastSigner = append(im.LosesLastSigner, tag)
			affected[tag] = true
		}
		if stays && slices.Contains(row.Signers, name) && !slices.Contains(im.KeepRelease, tag) {
			im.KeepRelease = append(im.KeepRelease, tag)
		}
	}
	im.RequiresConfirm = len(affected) > 0
	return p, nil
}

// validSigners returns which of keyIDs (canonical) validly sign the current
// targets/releases metadata. The public keys are those targets.json
// delegates with; each signature is checked, not just its key ID.
func validSigners(repo *trust.Repo, keyIDs []string) map[string]bool {
	out := map[string]bool{}
	targetsMeta, releasesMeta := repo.Role(trust.RoleTargets), repo.Role(trust.RoleReleases)
	if targetsMeta == nil || releasesMeta == nil {
		return out
	}
	var targets data.Signed
	if json.Unmarshal(targetsMeta.Raw, &targets) != nil {
		return out
	}
	st, err := data.TargetsFromSigned(&targets, data.CanonicalTargetsRole)
	if err != nil {
		return out
	}
	for id, pub := range st.Signed.Delegations.Keys {
		canonical, err := utils.CanonicalKeyID(pub)
		if err != nil || !slices.Contains(keyIDs, canonical) {
			continue
		}
		var releases data.Signed // VerifySignatures marks signatures: a fresh copy each time
		if json.Unmarshal(releasesMeta.Raw, &releases) != nil {
			return out
		}
		one := data.BaseRole{Name: data.RoleName(trust.RoleReleases), Threshold: 1, Keys: map[string]data.PublicKey{id: pub}}
		if signed.VerifySignatures(&releases, one) == nil {
			out[canonical] = true
		}
	}
	return out
}

// describe says in a sentence or two what the revocation does to tags.
func (im *Impact) describe(gun string) string {
	var parts []string
	if len(im.Unpullable) > 0 {
		parts = append(parts, fmt.Sprintf("Revoking %s leaves %s without a valid signature: unpullable from %s with content trust (%s).",
			im.Signer, plural(len(im.Unpullable), "tag", "tags"), gun, strings.Join(im.Unpullable, ", ")))
	}
	if len(im.RevertsToTargets) > 0 {
		parts = append(parts, fmt.Sprintf("%s will resolve to the digest the repository key signed instead (%s).",
			capitalise(plural(len(im.RevertsToTargets), "tag", "tags")), strings.Join(im.RevertsToTargets, ", ")))
	}
	if len(im.LosesLastSigner) > 0 {
		parts = append(parts, fmt.Sprintf("%s will no longer name any signer (%s).",
			capitalise(plural(len(im.LosesLastSigner), "tag", "tags")), strings.Join(im.LosesLastSigner, ", ")))
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("Revoking %s changes no released tag of %s.", im.Signer, gun))
	}
	if n := len(im.RemovedUnreleased); n > 0 {
		parts = append(parts, fmt.Sprintf("It deletes %s signed only by %s.", plural(n, "unreleased tag", "unreleased tags"), im.Signer))
	}
	return strings.Join(parts, " ")
}

// Counts is the impact in one line, counts first: what leaves the trust
// data with the signer's role.
func (im *Impact) Counts() string {
	return fmt.Sprintf("Revoking %s removes %s and %s.", im.Signer,
		plural(len(im.RemovedUnreleased), "unreleased tag", "unreleased tags"), plural(len(im.Unpullable), "released tag", "released tags"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

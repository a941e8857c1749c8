package signers

import (
	"fmt"
	"slices"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/trust"
)

// pairs are every (role-independent) tag=digest signature of repo, and the
// released tags docker shows.
func pairs(repo *trust.Repo) (all map[string]bool, released map[string]bool) {
	all, released = map[string]bool{}, map[string]bool{}
	for _, t := range repo.Targets {
		all[t.Name+"="+t.SHA256] = true
	}
	for _, row := range repo.Inspect(repo.GUN, "").SignedTags {
		released[row.SignedTag] = true
	}
	return all, released
}

// The revoke preview tells the whole truth: deleting the signer's role
// deletes the unreleased tags signed only there, and the preview counts
// exactly what leaves the trust data (checked by revoking and comparing).
func TestRevokePreviewMatchesWhatDisappears(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/app"
	e.initialise(gun)
	jeff, ian := newSigner(t, "jeff", true), newSigner(t, "ian", true)
	e.addSigner(gun, jeff)
	e.addSigner(gun, ian)
	e.mustSign(gun, jeff, "v2", "image v2")
	e.mustSign(gun, ian, "v2", "image v2")
	// jeff's own role only: three tags nobody released, and v1 with another
	// digest than the released one.
	jr, _ := e.client(gun, map[data.RoleName][]data.PrivateKey{"targets/jeff": {jeff.priv}})
	for tag, content := range map[string]string{"dev1": "d1", "dev2": "d2", "dev3": "d3", "v1": "jeff's v1"} {
		if err := jr.AddTarget(target(t, tag, content), "targets/jeff"); err != nil {
			t.Fatal(err)
		}
	}
	if err := jr.Publish(); err != nil {
		t.Fatal(err)
	}
	// ian releases last: targets/releases stays valid without jeff's key.
	e.mustSign(gun, ian, "v1", "image v1")
	e.mustSign(gun, jeff, "v3", "image v3")
	e.mustSign(gun, ian, "v4", "image v4")

	before := e.load(gun)
	im, err := e.svc.Impact(e.ctx, gun, "jeff")
	if err != nil {
		t.Fatal(err)
	}
	var removed []string
	for _, r := range im.RemovedUnreleased {
		removed = append(removed, fmt.Sprintf("%s released:%v", r.Tag, r.TagReleased))
	}
	if want := []string{"dev1 released:false", "dev2 released:false", "dev3 released:false", "v1 released:true"}; !slices.Equal(removed, want) {
		t.Errorf("removed unreleased %q, want %q", removed, want)
	}
	if got := im.Counts(); got != "Revoking jeff removes 4 unreleased tags and 0 released tags." {
		t.Errorf("counts %q", got)
	}
	if !slices.Equal(im.LosesLastSigner, []string{"v3"}) || !slices.Equal(im.KeepRelease, []string{"v2", "v3"}) || im.ReleasesInvalid {
		t.Errorf("impact %+v", im)
	}

	revokeAndCompare(t, e, gun, "jeff", before, im)
}

// revokeAndCompare revokes signer and checks that what left the trust data
// is what the preview (im, of before) said.
func revokeAndCompare(t *testing.T, e *env, gun, signer string, before *trust.Repo, im *Impact) {
	t.Helper()
	if _, err := e.svc.Revoke(e.ctx, gun, signer, RepoKey{Passphrase: repoPass}, signer, "admin"); err != nil {
		t.Fatal(err)
	}
	allBefore, relBefore := pairs(before)
	allAfter, relAfter := pairs(e.load(gun))
	var gone []string
	for p := range allBefore {
		if !allAfter[p] {
			gone = append(gone, p)
		}
	}
	previewed := []string{}
	for _, r := range im.RemovedUnreleased {
		previewed = append(previewed, r.Tag+"="+r.Digest)
	}
	// Released tags that leave: their signatures go too unless another
	// role keeps them (then they are unreleased afterwards).
	for _, tag := range im.Unpullable {
		for _, tg := range before.Targets {
			if tg.Name == tag && !allAfter[tag+"="+tg.SHA256] && !slices.Contains(previewed, tag+"="+tg.SHA256) {
				previewed = append(previewed, tag+"="+tg.SHA256)
			}
		}
	}
	slices.Sort(gone)
	slices.Sort(previewed)
	if !slices.Equal(gone, previewed) {
		t.Errorf("signatures gone after the revoke %q, the preview said %q", gone, previewed)
	}
	relGone := []string{}
	for tag := range relBefore {
		if !relAfter[tag] {
			relGone = append(relGone, tag)
		}
	}
	slices.Sort(relGone)
	if !slices.Equal(relGone, im.Unpullable) {
		t.Errorf("released tags gone %q, the preview said %q", relGone, im.Unpullable)
	}
}

// When targets/releases was signed by the signer's key alone it is reset:
// the released tags only it held leave too, and the preview counts them.
func TestRevokePreviewCountsReleasedTagsThatLeave(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/solo"
	e.initialise(gun)
	jeff := newSigner(t, "jeff", true)
	e.addSigner(gun, jeff)
	jr, _ := e.client(gun, map[data.RoleName][]data.PrivateKey{"targets/jeff": {jeff.priv}})
	if err := jr.AddTarget(target(t, "dev", "d"), "targets/jeff"); err != nil {
		t.Fatal(err)
	}
	if err := jr.Publish(); err != nil {
		t.Fatal(err)
	}
	e.mustSign(gun, jeff, "v1", "image v1")
	e.mustSign(gun, jeff, "v2", "image v2")
	before := e.load(gun)
	im, err := e.svc.Impact(e.ctx, gun, "jeff")
	if err != nil {
		t.Fatal(err)
	}
	if got := im.Counts(); got != "Revoking jeff removes 1 unreleased tag and 2 released tags." {
		t.Errorf("counts %q", got)
	}
	revokeAndCompare(t, e, gun, "jeff", before, im)
}

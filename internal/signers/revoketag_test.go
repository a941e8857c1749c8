package signers

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/trust"
)

const (
	jeffPass = "jeff-passphrase"
	ianPass  = "ian-passphrase"
)

// tagRepo is a repository with signers jeff and ian who both signed tag 1
// (into targets/releases and their own roles), and tag base signed by the
// repository key into targets. jeff's key is in the vault as `docker trust
// key load` writes it (role header "jeff", no gun); ian's key is a file
// trustdeck never stores.
type tagRepo struct {
	*env
	gun       string
	init      *InitResult
	jeff, ian *signer
	ianPEM    []byte
}

func newTagRepo(t *testing.T) *tagRepo {
	t.Helper()
	e := newEnv(t)
	r := &tagRepo{env: e, gun: "reg.test/team/app"}
	r.init = e.initialise(r.gun)
	r.jeff, r.ian = newSigner(t, "jeff", true), newSigner(t, "ian", false)
	e.addSigner(r.gun, r.jeff)
	e.addSigner(r.gun, r.ian)
	e.mustSign(r.gun, r.jeff, "1", "image-1")
	e.mustSign(r.gun, r.ian, "1", "image-1")
	r.adminSign("base", "image-base")

	jeffPEM, err := utils.ConvertPrivateKeyToPKCS8(r.jeff.priv, "jeff", "", jeffPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.vault.Import(e.ctx, jeffPEM, jeffPass, "jeff"); err != nil {
		t.Fatal(err)
	}
	if r.ianPEM, err = utils.ConvertPrivateKeyToPKCS8(r.ian.priv, "ian", "", ianPass); err != nil {
		t.Fatal(err)
	}
	return r
}

// adminSign signs tag into targets with the repository key.
func (r *tagRepo) adminSign(tag, content string) {
	r.t.Helper()
	targetsKey, err := r.vault.Unlock(r.ctx, r.init.RepositoryKeyID, repoPass)
	if err != nil {
		r.t.Fatal(err)
	}
	admin, _ := r.client(r.gun, map[data.RoleName][]data.PrivateKey{data.CanonicalTargetsRole: {targetsKey}})
	if err := admin.AddTarget(target(r.t, tag, content), data.CanonicalTargetsRole); err != nil {
		r.t.Fatal(err)
	}
	if err := admin.Publish(); err != nil {
		r.t.Fatal(err)
	}
}

// entries is the roles TagView shows for tag.
func entries(repo *trust.Repo, tag string) []string {
	out := []string{}
	for _, en := range repo.TagView(tag).Entries {
		out = append(out, en.Role)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestPlanTagRevoke(t *testing.T) {
	r := newTagRepo(t)
	repo := r.load(r.gun)
	digest := repo.TagView("1").Digests[0]

	plan, err := r.svc.PlanTagRevoke(r.ctx, r.gun, "1")
	if err != nil {
		t.Fatal(err)
	}
	if plan.Tag != "1" || !slices.Equal(planRoles(plan), entries(repo, "1")) {
		t.Fatalf("plan roles %v, tag view %v", planRoles(plan), entries(repo, "1"))
	}
	jeffID, ianID := r.jeff.pub.CanonicalID, r.ian.pub.CanonicalID
	want := map[string]TagRole{
		// jeff's vault key (role header "jeff") signs releases too.
		trust.RoleReleases: {Role: trust.RoleReleases, Digest: digest, KeyIDs: sorted([]string{jeffID, ianID}), VaultKeyID: jeffID},
		"targets/jeff":     {Role: "targets/jeff", Digest: digest, KeyIDs: []string{jeffID}, VaultKeyID: jeffID},
		"targets/ian":      {Role: "targets/ian", Digest: digest, KeyIDs: []string{ianID}},
	}
	if len(plan.Roles) != len(want) {
		t.Fatalf("plan %+v", plan)
	}
	for _, got := range plan.Roles {
		w, ok := want[got.Role]
		got.KeyIDs = sorted(got.KeyIDs)
		if !ok || got.Digest != w.Digest || !slices.Equal(got.KeyIDs, w.KeyIDs) || got.VaultKeyID != w.VaultKeyID {
			t.Fatalf("role %+v, want %+v", got, w)
		}
	}

	plan, err = r.svc.PlanTagRevoke(r.ctx, r.gun, "base")
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Roles) != 1 || plan.Roles[0].Role != trust.RoleTargets || plan.Roles[0].Digest != repo.TagView("base").Digests[0] ||
		!slices.Equal(plan.Roles[0].KeyIDs, []string{r.init.RepositoryKeyID}) || plan.Roles[0].VaultKeyID != r.init.RepositoryKeyID {
		t.Fatalf("plan %+v", plan)
	}

	_, err = r.svc.PlanTagRevoke(r.ctx, r.gun, "nope")
	wantErr(t, err, errs.NotFound, "tag_not_found")
	_, err = r.svc.PlanTagRevoke(r.ctx, "reg.test/team/none", "1")
	wantErr(t, err, errs.Conflict, "no_trust_data")
}

func planRoles(p *TagPlan) []string {
	out := []string{}
	for _, r := range p.Roles {
		out = append(out, r.Role)
	}
	return out
}

func TestRevokeTagFromEveryRole(t *testing.T) {
	r := newTagRepo(t)
	if got := tags(r.load(r.gun)); len(got) != 2 || !strings.HasPrefix(got[0], "1=") || got[1] != "base="+trust.RepoAdmin {
		t.Fatalf("tags %v", got)
	}
	plan, err := r.svc.PlanTagRevoke(r.ctx, r.gun, "1")
	if err != nil {
		t.Fatal(err)
	}
	keysBefore, _ := r.vault.List(r.ctx, "")

	removed, err := r.svc.RevokeTag(r.ctx, r.gun, "1", map[string]RepoKey{
		trust.RoleReleases: {Passphrase: jeffPass},
		"targets/jeff":     {Passphrase: jeffPass},
		"targets/ian":      {Passphrase: ianPass, OneOffPEM: r.ianPEM},
	}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, planRoles(plan)) {
		t.Fatalf("removed from %v, plan %v", removed, planRoles(plan))
	}
	repo := r.load(r.gun)
	if got := tags(repo); !slices.Equal(got, []string{"base=" + trust.RepoAdmin}) {
		t.Fatalf("tags %v", got)
	}
	if got := entries(repo, "1"); len(got) != 0 {
		t.Fatalf("tag 1 still in %v", got)
	}
	if len(repo.Unreleased()) != 0 || len(repo.SkippedRoles) != 0 {
		t.Fatalf("unreleased %v, skipped %v", repo.Unreleased(), repo.SkippedRoles)
	}
	if keysAfter, _ := r.vault.List(r.ctx, ""); len(keysAfter) != len(keysBefore) {
		t.Fatalf("ian's one-off key was stored")
	}
	// The reader the service shares sees it at once.
	if shared, err := r.reader.Load(r.ctx, r.gun); err != nil || len(entries(shared, "1")) != 0 {
		t.Fatalf("shared reader: %v, %v", err, entries(shared, "1"))
	}
	_, err = r.svc.PlanTagRevoke(r.ctx, r.gun, "1")
	wantErr(t, err, errs.NotFound, "tag_not_found")
	_, err = r.svc.RevokeTag(r.ctx, r.gun, "1", map[string]RepoKey{"targets/jeff": {Passphrase: jeffPass}}, "admin")
	wantErr(t, err, errs.NotFound, "tag_not_found")

	// The repository key removes what it signed.
	removed, err = r.svc.RevokeTag(r.ctx, r.gun, "base", map[string]RepoKey{trust.RoleTargets: {Passphrase: repoPass}}, "admin")
	if err != nil || !slices.Equal(removed, []string{trust.RoleTargets}) {
		t.Fatalf("removed from %v: %v", removed, err)
	}
	if got := tags(r.load(r.gun)); len(got) != 0 {
		t.Fatalf("tags %v", got)
	}
	// Signers still sign: every role they re-signed verifies.
	r.mustSign(r.gun, r.ian, "2", "image-2")
	r.mustSign(r.gun, r.jeff, "1", "image-1b")
	if got := tags(r.load(r.gun)); !slices.Equal(got, []string{"1=jeff", "2=ian"}) {
		t.Fatalf("tags %v", got)
	}
	if v := r.load(r.gun).Role(trust.RoleRoot).Version; v != 1 {
		t.Fatalf("root version %d", v)
	}
}

func TestRevokeTagFromSomeRoles(t *testing.T) {
	r := newTagRepo(t)
	r.mustSign(r.gun, r.jeff, "base", "image-base") // base: targets, releases, jeff

	// jeff withdraws his own signature: tag 1 stays released, signed by ian.
	removed, err := r.svc.RevokeTag(r.ctx, r.gun, "1", map[string]RepoKey{"targets/jeff": {Passphrase: jeffPass}}, "admin")
	if err != nil || !slices.Equal(removed, []string{"targets/jeff"}) {
		t.Fatalf("removed from %v: %v", removed, err)
	}
	repo := r.load(r.gun)
	if got := tags(repo); !slices.Equal(got, []string{"1=ian", "base=jeff"}) {
		t.Fatalf("tags %v", got)
	}
	if got := sorted(entries(repo, "1")); !slices.Equal(got, []string{"targets/ian", trust.RoleReleases}) {
		t.Fatalf("tag 1 in %v", got)
	}

	// Removed from releases (with ian's key, which releases also lists): no
	// longer released, so docker no longer shows it, though ian's own role
	// still holds it.
	removed, err = r.svc.RevokeTag(r.ctx, r.gun, "1", map[string]RepoKey{trust.RoleReleases: {Passphrase: ianPass, OneOffPEM: r.ianPEM}}, "admin")
	if err != nil || !slices.Equal(removed, []string{trust.RoleReleases}) {
		t.Fatalf("removed from %v: %v", removed, err)
	}
	repo = r.load(r.gun)
	if got := tags(repo); !slices.Equal(got, []string{"base=jeff"}) {
		t.Fatalf("tags %v", got)
	}
	if got := entries(repo, "1"); !slices.Equal(got, []string{"targets/ian"}) {
		t.Fatalf("tag 1 in %v", got)
	}
	if u := repo.Unreleased(); len(u) != 1 || u[0].Tag != "1" || !slices.Equal(u[0].Roles, []string{"targets/ian"}) {
		t.Fatalf("unreleased %+v", u)
	}

	// A tag the repository key signed stays released while targets holds it.
	removed, err = r.svc.RevokeTag(r.ctx, r.gun, "base", map[string]RepoKey{
		trust.RoleReleases: {Passphrase: jeffPass},
		"targets/jeff":     {Passphrase: jeffPass},
	}, "admin")
	if err != nil || len(removed) != 2 {
		t.Fatalf("removed from %v: %v", removed, err)
	}
	repo = r.load(r.gun)
	if got := tags(repo); !slices.Equal(got, []string{"base=" + trust.RepoAdmin}) {
		t.Fatalf("tags %v", got)
	}
	if got := entries(repo, "base"); !slices.Equal(got, []string{trust.RoleTargets}) {
		t.Fatalf("base in %v", got)
	}
}

func TestRevokeTagRefusalsChangeNothing(t *testing.T) {
	r := newTagRepo(t)
	jeffPEM, err := utils.ConvertPrivateKeyToPKCS8(r.jeff.priv, "jeff", "", jeffPass)
	if err != nil {
		t.Fatal(err)
	}
	all := func(change func(map[string]RepoKey)) map[string]RepoKey {
		k := map[string]RepoKey{
			trust.RoleReleases: {Passphrase: jeffPass},
			"targets/jeff":     {Passphrase: jeffPass},
			"targets/ian":      {Passphrase: ianPass, OneOffPEM: r.ianPEM},
		}
		change(k)
		return k
	}
	cases := []struct {
		name     string
		tag      string
		keys     map[string]RepoKey
		kind     errs.Kind
		code     string
		mentions string
	}{
		{name: "wrong passphrase for a vault key", keys: all(func(k map[string]RepoKey) { k["targets/jeff"] = RepoKey{Passphrase: "wrong-passphrase"} }),
			kind: errs.Invalid, code: "wrong_passphrase", mentions: "targets/jeff"},
		{name: "wrong passphrase for a one-off key", keys: all(func(k map[string]RepoKey) {
			k["targets/ian"] = RepoKey{Passphrase: "wrong-passphrase", OneOffPEM: r.ianPEM}
		}),
			kind: errs.Invalid, code: "wrong_passphrase", mentions: "targets/ian"},
		{name: "no passphrase", keys: all(func(k map[string]RepoKey) { k[trust.RoleReleases] = RepoKey{} }),
			kind: errs.Invalid, code: "passphrase_required"},
		{name: "one-off key of another role", keys: all(func(k map[string]RepoKey) { k["targets/ian"] = RepoKey{Passphrase: jeffPass, OneOffPEM: jeffPEM} }),
			kind: errs.Invalid, code: "not_role_key", mentions: r.jeff.pub.CanonicalID},
		{name: "key not in the vault", keys: all(func(k map[string]RepoKey) { k["targets/ian"] = RepoKey{Passphrase: ianPass} }),
			kind: errs.Conflict, code: "key_not_in_vault", mentions: r.ian.pub.CanonicalID},
		{name: "role without the tag", keys: all(func(k map[string]RepoKey) { k[trust.RoleTargets] = RepoKey{Passphrase: repoPass} }),
			kind: errs.Invalid, code: "role_without_tag", mentions: trust.RoleTargets},
		{name: "no keys", keys: nil, kind: errs.Invalid, code: "keys_missing", mentions: "targets/jeff"},
		{name: "unknown tag", tag: "nope", keys: all(func(map[string]RepoKey) {}), kind: errs.NotFound, code: "tag_not_found"},
		{name: "repository key, wrong passphrase", tag: "base", keys: map[string]RepoKey{trust.RoleTargets: {Passphrase: "wrong-passphrase"}},
			kind: errs.Invalid, code: "wrong_passphrase"},
	}
	before := r.versions(r.gun)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tag := c.tag
			if tag == "" {
				tag = "1"
			}
			removed, err := r.svc.RevokeTag(r.ctx, r.gun, tag, c.keys, "admin")
			de := wantErr(t, err, c.kind, c.code)
			if removed != nil {
				t.Fatalf("removed from %v", removed)
			}
			if c.mentions != "" && !strings.Contains(de.Message, c.mentions) {
				t.Fatalf("message %q does not mention %q", de.Message, c.mentions)
			}
			if after := r.versions(r.gun); !maps.Equal(before, after) {
				t.Fatalf("versions changed: %v → %v", before, after)
			}
		})
	}
	_, err = r.svc.RevokeTag(r.ctx, "reg.test/team/none", "1", map[string]RepoKey{"targets/jeff": {Passphrase: jeffPass}}, "admin")
	wantErr(t, err, errs.Conflict, "no_trust_data")
}

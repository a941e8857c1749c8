package signers

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/testnotary"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// setExpiry signs role of gun again, unchanged but for its expiry, with key,
// and uploads it as a notary client would (the server then signs a new
// snapshot and timestamp): a role that nears, or will soon pass, its expiry.
// The server refuses expired uploads, so expires must be in the future.
func (e *env) setExpiry(gun, role string, key data.PrivateKey, expires time.Time) {
	e.t.Helper()
	repo, err := trust.NewReader(e.remote).LoadAllowingExpiry(e.ctx, gun)
	if err != nil {
		e.t.Fatal(err)
	}
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("")))
	if err := cs.AddKey(data.RoleName(role), data.GUN(gun), key); err != nil {
		e.t.Fatal(err)
	}
	b := tuf.NewRepoBuilder(data.GUN(gun), cs, trustpinning.TrustPinConfig{})
	order := []string{trust.RoleRoot, trust.RoleTimestamp, trust.RoleSnapshot, trust.RoleTargets}
	for _, m := range repo.Roles {
		if !slices.Contains(order, m.Role) {
			order = append(order, m.Role) // delegations, parents first
		}
	}
	for _, name := range order {
		if err := b.Load(data.RoleName(name), repo.Role(name).Raw, 1, true); err != nil {
			e.t.Fatalf("load %s: %v", name, err)
		}
	}
	tr, _, err := b.Finish()
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := tr.SignTargets(data.RoleName(role), expires)
	if err != nil {
		e.t.Fatalf("sign %s: %v", role, err)
	}
	raw, err := canonicaljson.Marshal(s)
	if err != nil {
		e.t.Fatal(err)
	}
	remote, err := e.remote(gun)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := remote.SetMulti(map[string][]byte{role: raw}); err != nil {
		e.t.Fatalf("publish %s with expiry %v: %v", role, expires, err)
	}
	e.reader.Invalidate(gun)
}

// loadExpired reads gun verified but for expiry, through a fresh reader.
func (e *env) loadExpired(gun string) *trust.Repo {
	e.t.Helper()
	repo, err := trust.NewReader(e.remote).LoadAllowingExpiry(e.ctx, gun)
	if err != nil {
		e.t.Fatalf("load %s allowing expiry: %v", gun, err)
	}
	return repo
}

// rawOf is every role's file, verified but for expiry.
func (e *env) rawOf(gun string) map[string][]byte {
	e.t.Helper()
	out := map[string][]byte{}
	for _, m := range e.loadExpired(gun).Roles {
		out[m.Role] = m.Raw
	}
	return out
}

// signedContent is a targets file's signed part without version and
// expiry: what a renewal must leave as it was.
func signedContent(t *testing.T, raw []byte) string {
	t.Helper()
	var f struct {
		Signed map[string]json.RawMessage `json:"signed"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	delete(f.Signed, "version")
	delete(f.Signed, "expires")
	out, err := json.Marshal(f.Signed)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// waitExpired waits until t has passed (by a margin).
func waitExpired(t time.Time) { time.Sleep(time.Until(t) + 300*time.Millisecond) }

// within checks that got is in [from, to] (to the second).
func within(t *testing.T, what string, got, from, to time.Time) {
	t.Helper()
	if got.Before(from.Truncate(time.Second)) || got.After(to.Add(time.Second)) {
		t.Errorf("%s: %v, want between %v and %v", what, got, from, to)
	}
}

// expectRenewed checks that only role changed between before and after
// (files by role): its version is one more, its content the same; snapshot
// and timestamp are new; every other file is byte for byte the same.
func expectRenewed(t *testing.T, role string, before, after map[string][]byte) {
	t.Helper()
	if !slices.Equal(slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after))) {
		t.Fatalf("roles %v → %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
	}
	version := func(raw []byte) int {
		var f struct {
			Signed struct{ Version int } `json:"signed"`
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		return f.Signed.Version
	}
	for name, b := range before {
		a := after[name]
		switch name {
		case role:
			if version(a) != version(b)+1 {
				t.Errorf("%s: version %d → %d, want one more", name, version(b), version(a))
			}
			if signedContent(t, a) != signedContent(t, b) {
				t.Errorf("%s: content changed:\n%s\n→\n%s", name, signedContent(t, b), signedContent(t, a))
			}
		case trust.RoleSnapshot, trust.RoleTimestamp:
			if version(a) != version(b)+1 {
				t.Errorf("%s: version %d → %d, want the server's next one", name, version(b), version(a))
			}
		default:
			if !bytes.Equal(a, b) {
				t.Errorf("%s changed (version %d → %d): only %s may be signed again", name, version(b), version(a), role)
			}
		}
	}
}

func TestRenewTargetsNearExpiry(t *testing.T) {
	r := newTagRepo(t)
	targetsKey, err := r.vault.Unlock(r.ctx, r.init.RepositoryKeyID, repoPass)
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	r.setExpiry(r.gun, trust.RoleTargets, targetsKey, soon)
	repo := r.load(r.gun)
	old := *repo.Role(trust.RoleTargets)
	if !old.Expires.Equal(soon) {
		t.Fatalf("targets expires %v, want %v", old.Expires, soon)
	}
	if st := repo.Expiries(time.Now())[1]; st.Role != trust.RoleTargets || st.Status != trust.ExpiryExpiring {
		t.Fatalf("targets expiry status %+v, want expiring", st)
	}
	tagsBefore, signersBefore := tags(repo), repo.Signers()
	before := r.rawOf(r.gun)

	start := time.Now()
	plan, err := r.svc.PlanRenew(r.ctx, r.gun, trust.RoleTargets)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Role != trust.RoleTargets || plan.Version != old.Version || !plan.Expires.Equal(soon) || plan.Expired ||
		plan.VaultKeyID != r.init.RepositoryKeyID || !slices.Equal(plan.KeyIDs, []string{r.init.RepositoryKeyID}) {
		t.Errorf("plan %+v, want targets v%d expiring %v, the vault's key %s", plan, old.Version, soon, r.init.RepositoryKeyID)
	}
	within(t, "plan's new expiry", plan.NewExpires, start.Add(RenewValidity), time.Now().Add(RenewValidity))

	// Refusals publish nothing.
	_, err = r.svc.Renew(r.ctx, r.gun, trust.RoleTargets, RepoKey{Passphrase: "wrong-passphrase"}, "admin")
	wantErr(t, err, errs.Invalid, "wrong_passphrase")
	_, err = r.svc.Renew(r.ctx, r.gun, trust.RoleTargets, RepoKey{}, "admin")
	wantErr(t, err, errs.Invalid, "passphrase_required")
	if got := r.rawOf(r.gun); !maps.EqualFunc(got, before, bytes.Equal) {
		t.Fatal("a refused renewal changed the trust data")
	}

	start = time.Now()
	res, err := r.svc.Renew(r.ctx, r.gun, trust.RoleTargets, RepoKey{Passphrase: repoPass}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	if res.Role != trust.RoleTargets || res.PreviousVersion != old.Version || res.Version != old.Version+1 ||
		!res.PreviousExpires.Equal(soon) {
		t.Errorf("renewal %+v, want targets v%d → v%d, previously expiring %v", res, old.Version, old.Version+1, soon)
	}
	within(t, "renewed expiry", res.Expires, start.Add(RenewValidity), end.Add(RenewValidity))
	if d := res.Expires.Sub(end); d < 3*365*24*time.Hour-time.Minute {
		t.Errorf("renewed for %v, want three years", d)
	}

	after := r.load(r.gun)
	now := *after.Role(trust.RoleTargets)
	if now.Version != res.Version || !now.Expires.Equal(res.Expires) {
		t.Errorf("targets now v%d expiring %v; the renewal said v%d expiring %v", now.Version, now.Expires, res.Version, res.Expires)
	}
	expectRenewed(t, trust.RoleTargets, before, r.rawOf(r.gun))
	if got := tags(after); !slices.Equal(got, tagsBefore) {
		t.Errorf("tags %v → %v", tagsBefore, got)
	}
	if got := after.Signers(); len(got) != len(signersBefore) {
		t.Errorf("signers %+v → %+v", signersBefore, got)
	}
	if st := after.Expiries(time.Now())[1]; st.Status != trust.ExpiryOK {
		t.Errorf("targets after renewal: %+v, want ok", st)
	}
	// Signers can still sign after the renewal.
	r.mustSign(r.gun, r.jeff, "2", "image-2")
}

func TestRenewExpiredTargets(t *testing.T) {
	r := newTagRepo(t)
	targetsKey, err := r.vault.Unlock(r.ctx, r.init.RepositoryKeyID, repoPass)
	if err != nil {
		t.Fatal(err)
	}
	tagsBefore := tags(r.load(r.gun))
	expiry := time.Now().Add(1500 * time.Millisecond)
	r.setExpiry(r.gun, trust.RoleTargets, targetsKey, expiry)
	waitExpired(expiry)

	// notary's client (and so docker) refuses it now.
	if _, err := trust.NewReader(r.remote).Load(r.ctx, r.gun); !errors.Is(err, trust.ErrExpired) {
		t.Fatalf("load of expired targets: %v, want ErrExpired", err)
	}
	cl, _ := r.client(r.gun, map[data.RoleName][]data.PrivateKey{data.CanonicalTargetsRole: {targetsKey}})
	if _, err := cl.Witness(data.CanonicalTargetsRole); err != nil {
		t.Fatal(err)
	}
	if err := cl.Publish(); err == nil {
		t.Fatal("notary's client witnessed expired targets: renewing would not need trustdeck's own path")
	} else {
		t.Logf("notary's client refuses to witness expired targets, as expected: %v", err)
	}
	before := r.rawOf(r.gun)

	plan, err := r.svc.PlanRenew(r.ctx, r.gun, trust.RoleTargets)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Expired || plan.VaultKeyID != r.init.RepositoryKeyID {
		t.Errorf("plan %+v, want expired, with the vault's key", plan)
	}
	// A delegation cannot be renewed while targets has expired.
	_, err = r.svc.Renew(r.ctx, r.gun, trust.RoleReleases, RepoKey{Passphrase: jeffPass}, "admin")
	if de := wantErr(t, err, errs.Conflict, "trust_data_expired"); !strings.Contains(de.Message, "renew targets first") {
		t.Errorf("message %q should say to renew targets first", de.Message)
	}
	_, err = r.svc.Renew(r.ctx, r.gun, trust.RoleTargets, RepoKey{Passphrase: "wrong-passphrase"}, "admin")
	wantErr(t, err, errs.Invalid, "wrong_passphrase")
	if got := r.rawOf(r.gun); !maps.EqualFunc(got, before, bytes.Equal) {
		t.Fatal("a refused renewal changed the trust data")
	}

	start := time.Now()
	res, err := r.svc.Renew(r.ctx, r.gun, trust.RoleTargets, RepoKey{Passphrase: repoPass}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	within(t, "renewed expiry", res.Expires, start.Add(RenewValidity), time.Now().Add(RenewValidity))
	repo := r.load(r.gun) // loads again, as docker will
	if m := repo.Role(trust.RoleTargets); m.Version != res.Version || !m.Expires.Equal(res.Expires) ||
		res.Version != res.PreviousVersion+1 {
		t.Errorf("targets v%d expiring %v; renewal %+v", m.Version, m.Expires, res)
	}
	expectRenewed(t, trust.RoleTargets, before, r.rawOf(r.gun))
	if got := tags(repo); !slices.Equal(got, tagsBefore) {
		t.Errorf("tags %v → %v", tagsBefore, got)
	}
	r.mustSign(r.gun, r.jeff, "2", "image-2")
}

func TestRenewDelegations(t *testing.T) {
	r := newTagRepo(t)

	// targets/releases with jeff's key from the vault.
	before := r.rawOf(r.gun)
	start := time.Now()
	res, err := r.svc.Renew(r.ctx, r.gun, trust.RoleReleases, RepoKey{Passphrase: jeffPass}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	within(t, "renewed expiry", res.Expires, start.Add(RenewValidity), time.Now().Add(RenewValidity))
	expectRenewed(t, trust.RoleReleases, before, r.rawOf(r.gun))

	// targets/ian with a one-off key; the vault holds none of ian's.
	plan, err := r.svc.PlanRenew(r.ctx, r.gun, "targets/ian")
	if err != nil {
		t.Fatal(err)
	}
	if plan.VaultKeyID != "" || !slices.Equal(plan.KeyIDs, []string{r.ian.pub.CanonicalID}) {
		t.Errorf("plan %+v, want ian's key, not in the vault", plan)
	}
	_, err = r.svc.Renew(r.ctx, r.gun, "targets/ian", RepoKey{Passphrase: ianPass}, "admin")
	wantErr(t, err, errs.Conflict, "key_not_in_vault")
	before = r.rawOf(r.gun)
	if _, err := r.svc.Renew(r.ctx, r.gun, "targets/ian", RepoKey{Passphrase: ianPass, OneOffPEM: r.ianPEM}, "admin"); err != nil {
		t.Fatal(err)
	}
	expectRenewed(t, "targets/ian", before, r.rawOf(r.gun))

	// An expired signer's role: docker ignores it (tag 1 loses jeff) until
	// it is renewed.
	expiry := time.Now().Add(1500 * time.Millisecond)
	r.setExpiry(r.gun, "targets/jeff", r.jeff.priv, expiry)
	withJeff := tags(r.load(r.gun))
	waitExpired(expiry)
	repo := r.load(r.gun)
	if !slices.Contains(repo.SkippedRoles, "targets/jeff") || slices.Equal(tags(repo), withJeff) {
		t.Fatalf("expired targets/jeff: skipped %v, tags %v", repo.SkippedRoles, tags(repo))
	}
	plan, err = r.svc.PlanRenew(r.ctx, r.gun, "targets/jeff")
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Expired || plan.VaultKeyID != r.jeff.pub.CanonicalID {
		t.Errorf("plan %+v, want expired, with jeff's vault key", plan)
	}
	before = r.rawOf(r.gun)
	if _, err := r.svc.Renew(r.ctx, r.gun, "targets/jeff", RepoKey{Passphrase: jeffPass}, "admin"); err != nil {
		t.Fatal(err)
	}
	expectRenewed(t, "targets/jeff", before, r.rawOf(r.gun))
	repo = r.load(r.gun)
	if slices.Contains(repo.SkippedRoles, "targets/jeff") || !slices.Equal(tags(repo), withJeff) {
		t.Errorf("after renewing targets/jeff: skipped %v, tags %v, want %v", repo.SkippedRoles, tags(repo), withJeff)
	}
}

func TestRenewRefusalsChangeNothing(t *testing.T) {
	r := newTagRepo(t)
	jeffPEM, err := utils.ConvertPrivateKeyToPKCS8(r.jeff.priv, "jeff", "", jeffPass)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, role string
		key        RepoKey
		kind       errs.Kind
		code       string
		mentions   string
	}{
		{"root", trust.RoleRoot, RepoKey{Passphrase: rootPass}, errs.Invalid, "role_not_renewable", "root key"},
		{"snapshot", trust.RoleSnapshot, RepoKey{Passphrase: repoPass}, errs.Invalid, "server_managed", "snapshot"},
		{"timestamp", trust.RoleTimestamp, RepoKey{Passphrase: repoPass}, errs.Invalid, "server_managed", "timestamp"},
		{"not a role", "releases", RepoKey{Passphrase: repoPass}, errs.Invalid, "invalid_role", "releases"},
		{"unknown delegation", "targets/nobody", RepoKey{Passphrase: repoPass}, errs.NotFound, "role_not_found", "targets/nobody"},
		{"wrong passphrase", trust.RoleTargets, RepoKey{Passphrase: "wrong-passphrase"}, errs.Invalid, "wrong_passphrase", ""},
		{"one-off key of a signer for targets", trust.RoleTargets, RepoKey{Passphrase: jeffPass, OneOffPEM: jeffPEM},
			errs.Invalid, "not_repository_key", r.jeff.pub.CanonicalID},
		{"one-off key of another signer", "targets/ian", RepoKey{Passphrase: jeffPass, OneOffPEM: jeffPEM},
			errs.Invalid, "not_role_key", r.jeff.pub.CanonicalID},
		{"one-off key, wrong passphrase", "targets/ian", RepoKey{Passphrase: "wrong-passphrase", OneOffPEM: r.ianPEM},
			errs.Invalid, "wrong_passphrase", ""},
	}
	before := r.rawOf(r.gun)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := r.svc.Renew(r.ctx, r.gun, c.role, c.key, "admin")
			de := wantErr(t, err, c.kind, c.code)
			if res != nil {
				t.Errorf("renewal %+v with an error", res)
			}
			if !strings.Contains(de.Message, c.mentions) {
				t.Errorf("message %q does not mention %q", de.Message, c.mentions)
			}
			if got := r.rawOf(r.gun); !maps.EqualFunc(got, before, bytes.Equal) {
				t.Fatal("the trust data changed")
			}
		})
	}

	_, err = r.svc.Renew(r.ctx, "reg.test/team/none", trust.RoleTargets, RepoKey{Passphrase: repoPass}, "admin")
	wantErr(t, err, errs.Conflict, "no_trust_data")
	_, err = r.svc.PlanRenew(r.ctx, "reg.test/team/none", trust.RoleTargets)
	wantErr(t, err, errs.Conflict, "no_trust_data")

	// ian's role re-keyed by the repository key: its metadata, signed by
	// ian, no longer verifies. Re-signing it with the new key would vouch
	// for what nobody current signed.
	targetsKey, err := r.vault.Unlock(r.ctx, r.init.RepositoryKeyID, repoPass)
	if err != nil {
		t.Fatal(err)
	}
	newIan := newSigner(t, "ian", false)
	adm, _ := r.client(r.gun, map[data.RoleName][]data.PrivateKey{data.CanonicalTargetsRole: {targetsKey}})
	if err := adm.RemoveDelegationKeys("targets/ian", []string{r.ian.pub.CanonicalID}); err != nil {
		t.Fatal(err)
	}
	if err := adm.AddDelegationRoleAndKeys("targets/ian", []data.PublicKey{newIan.pub.Key}); err != nil {
		t.Fatal(err)
	}
	if err := adm.Publish(); err != nil {
		t.Fatal(err)
	}
	r.reader.Invalidate(r.gun)
	if repo := r.load(r.gun); !slices.Contains(repo.SkippedRoles, "targets/ian") {
		t.Fatalf("targets/ian should no longer verify: skipped %v", repo.SkippedRoles)
	}
	newIanPEM, err := utils.ConvertPrivateKeyToPKCS8(newIan.priv, "ian", "", ianPass)
	if err != nil {
		t.Fatal(err)
	}
	before = r.rawOf(r.gun)
	_, err = r.svc.PlanRenew(r.ctx, r.gun, "targets/ian")
	wantErr(t, err, errs.Conflict, "role_does_not_verify")
	_, err = r.svc.Renew(r.ctx, r.gun, "targets/ian", RepoKey{Passphrase: ianPass, OneOffPEM: newIanPEM}, "admin")
	wantErr(t, err, errs.Conflict, "role_does_not_verify")

	// The vault without the repository key.
	if err := r.vault.Delete(r.ctx, r.init.RepositoryKeyID); err != nil {
		t.Fatal(err)
	}
	_, err = r.svc.Renew(r.ctx, r.gun, trust.RoleTargets, RepoKey{Passphrase: repoPass}, "admin")
	if de := wantErr(t, err, errs.Conflict, "key_not_in_vault"); !strings.Contains(de.Message, r.init.RepositoryKeyID) {
		t.Errorf("message %q should name the repository key", de.Message)
	}
	if got := r.rawOf(r.gun); !maps.EqualFunc(got, before, bytes.Equal) {
		t.Fatal("a refused renewal changed the trust data")
	}
}

// TestRenewWithExpiredRoot: only the root key could help; trustdeck says so
// rather than renew targets in a repository docker would still refuse.
func TestRenewWithExpiredRoot(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/oldroot"
	built, err := testnotary.Fixture{GUN: gun,
		Expires: map[string]time.Time{"root": time.Now().Add(-time.Hour), "targets": time.Now().Add(-time.Minute)},
		Targets: map[string]map[string]string{"targets": {"v1": "content v1"}}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.TUF().UpdateMany(data.GUN(gun), built.Updates()); err != nil {
		t.Fatal(err)
	}
	// A key the vault holds for nothing of this repository: refused before
	// any key is looked at.
	priv, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := utils.ConvertPrivateKeyToPKCS8(priv, data.CanonicalTargetsRole, data.GUN(gun), repoPass)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() error{
		func() error { _, err := e.svc.PlanRenew(e.ctx, gun, trust.RoleTargets); return err },
		func() error {
			_, err := e.svc.Renew(e.ctx, gun, trust.RoleTargets, RepoKey{Passphrase: repoPass, OneOffPEM: pemBytes}, "admin")
			return err
		},
	} {
		de := wantErr(t, f(), errs.Conflict, "root_expired")
		if !strings.Contains(de.Message, "root key") {
			t.Errorf("message %q should say the root key is needed", de.Message)
		}
	}
}

// TestRootNearExpiryNamesTheFix: within six months of root's expiry notary's
// client signs root again with every publish, which needs the root key; a
// signer change with the repository key alone is refused with what to do
// (rotate root with the notary CLI), and nothing is published.
func TestRootNearExpiryNamesTheFix(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/agingroot"
	rootExpiry := time.Now().Add(60 * 24 * time.Hour).UTC().Truncate(time.Second)
	built, err := testnotary.Fixture{GUN: gun,
		Expires: map[string]time.Time{"root": rootExpiry},
		Targets: map[string]map[string]string{"targets": {"v1": "content v1"}}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.TUF().UpdateMany(data.GUN(gun), built.Updates()); err != nil {
		t.Fatal(err)
	}
	pemBytes, err := utils.ConvertPrivateKeyToPKCS8(built.TargetsKey, data.CanonicalTargetsRole, data.GUN(gun), repoPass)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := e.st.TUF().GetChanges("0", 1000, gun)
	_, err = e.svc.AddSigner(e.ctx, gun, "nina", newSigner(t, "nina", false).pub,
		RepoKey{Passphrase: repoPass, OneOffPEM: pemBytes}, "admin")
	de := wantErr(t, err, errs.Conflict, "root_expiring")
	if !strings.Contains(de.Message, rootExpiry.Format("2006-01-02 15:04")) ||
		!strings.Contains(de.Message, "notary key rotate "+gun+" root") {
		t.Errorf("message %q should give root's expiry and the command that fixes it", de.Message)
	}
	if after, _ := e.st.TUF().GetChanges("0", 1000, gun); len(after) != len(before) {
		t.Errorf("%d changes after the refusal, want %d", len(after), len(before))
	}
}

package signers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// Renewing a role's expiry: `notary witness <gun> <role>` then `notary
// publish`, which docker cannot do. The role is signed again, unchanged, at
// its next version with a fresh expiry; snapshot and timestamp are then
// signed by the server; no other role is touched.
//
// notary's client does this when the trust data loads: Witness marks the
// role dirty and Publish signs it with tuf.Repo.SignTargets at
// data.DefaultExpires(targets), which notary's client package sets to
// notary.NotaryTargetsExpiry (3 years) for targets and delegations alike. It
// also re-signs a delegation whose metadata expired (its Witness moves the
// role from the "invalid" roles back). But it cannot renew an expired
// targets role: its update refuses expired top-level targets (also expired
// snapshots and timestamps), so Publish fails before anything is applied.
// trustdeck then loads the trust data verified in every respect but expiry
// (trust.Reader.LoadAllowingExpiry), loads it into notary's tuf.RepoBuilder
// allowing expiry, signs targets with tuf.Repo.SignTargets (exactly what
// Publish would) and uploads that one file. The server accepts it: it checks
// the new targets without allowing expiry and its stored ancestors with.

// RenewValidity is how long a renewed role lasts: what notary's client and
// docker give targets and delegations.
const RenewValidity = notary.NotaryTargetsExpiry

// RenewPlan is what renewing a role would do.
type RenewPlan struct {
	Role string
	// Version and Expires are the role's current metadata; Expired is set
	// when it has expired.
	Version int
	Expires time.Time
	Expired bool
	// NewExpires is the expiry a renewal now would give (RenewValidity from
	// now).
	NewExpires time.Time
	// KeyIDs are the canonical IDs of the keys that may sign the role;
	// VaultKeyID is the vault's key among them ("" if it holds none).
	KeyIDs     []string
	VaultKeyID string
}

// Renewal is what a renewal did.
type Renewal struct {
	Role            string
	PreviousVersion int
	PreviousExpires time.Time
	Version         int
	Expires         time.Time
}

// renewal is the verified trust data a renewal starts from.
type renewal struct {
	repo *trust.Repo
	meta trust.RoleMeta
	// expiredLoad is set when notary's client would refuse the trust data
	// for expiry (repo then comes from LoadAllowingExpiry).
	expiredLoad bool
	keyIDs      []string
	del         *trust.Delegation // the delegation renewed, nil for targets
}

// checkRenewable accepts targets and delegation roles.
func checkRenewable(role string) error {
	switch role {
	case trust.RoleTargets:
		return nil
	case trust.RoleRoot:
		return errs.Invalidf("role_not_renewable",
			"root is renewed with the root key, which trustdeck does not use for this: renew it where the root key is kept (notary's client re-signs root on a publish when it expires within six months).")
	case trust.RoleSnapshot, trust.RoleTimestamp:
		return errs.Invalidf("server_managed", "The Notary server signs %s and renews it itself.", role)
	}
	if !data.IsDelegation(data.RoleName(role)) {
		return errs.Invalidf("invalid_role", "%q is not a role that can be renewed: name targets or a delegation (targets/<name>).", role)
	}
	return nil
}

// PlanRenew tells what renewing role of gun would do and which key it
// needs. Errors are Renew's refusals that need no key.
func (s *Service) PlanRenew(ctx context.Context, gun, role string) (*RenewPlan, error) {
	if err := checkRenewable(role); err != nil {
		return nil, err
	}
	st, err := s.renewState(ctx, gun, role)
	if err != nil {
		return nil, err
	}
	now := s.now()
	p := &RenewPlan{Role: role, Version: st.meta.Version, Expires: st.meta.Expires,
		Expired: !now.Before(st.meta.Expires), NewExpires: now.Add(RenewValidity), KeyIDs: canonicalIDs(st)}
	if len(st.keyIDs) > 0 {
		var err error
		if p.VaultKeyID, err = s.vaultKeyID(ctx, gun, role, st.keyIDs); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Renew signs role of gun again, unchanged, at its next version with an
// expiry RenewValidity from now, and publishes it (the server signs a new
// snapshot and timestamp). role is targets, signed with the repository key,
// or a delegation, signed with one of its keys; key says where the key comes
// from (the vault's, unlocked with key.Passphrase, or key.OneOffPEM). An
// expired targets role is renewed too; an expired delegation once targets
// is valid.
//
// Refusals, before anything is published: errs.Invalid "role_not_renewable"
// (root), "server_managed" (snapshot, timestamp), "invalid_role"; Conflict
// "no_trust_data"; NotFound "role_not_found" (no such delegation, or one
// without metadata); Conflict "root_expired" (only the root key could
// help); Conflict "trust_data_expired" (a delegation while targets,
// snapshot or timestamp has expired: renew targets first); Conflict
// "role_does_not_verify" (a delegation whose metadata is signed by keys it
// no longer has: re-signing it would vouch for what nobody current signed);
// the key's errors (Invalid "wrong_passphrase", "passphrase_required",
// "not_repository_key", "not_role_key", Conflict "key_not_in_vault",
// "role_threshold"); and the trust server's.
func (s *Service) Renew(ctx context.Context, gun, role string, key RepoKey, actor string) (*Renewal, error) {
	if err := checkRenewable(role); err != nil {
		return nil, err
	}
	unlock, err := s.locks.lock(ctx, gun)
	if err != nil {
		return nil, cancelled(gun, err)
	}
	defer unlock()

	st, err := s.renewState(ctx, gun, role)
	if err != nil {
		return nil, err
	}
	var priv data.PrivateKey
	if st.del == nil {
		priv, err = s.repositoryKey(ctx, gun, st.repo, key)
	} else {
		priv, err = s.delegationKey(ctx, gun, st.repo, TagRole{Role: role, KeyIDs: st.del.KeyIDs()}, key)
	}
	if err != nil {
		return nil, err
	}

	res := &Renewal{Role: role, PreviousVersion: st.meta.Version, PreviousExpires: st.meta.Expires}
	ch := change{actor: actor, action: audit.TrustRenew, subject: role, detail: renewed(role, st.meta.Version, st.meta.Expires)}
	if st.expiredLoad {
		res.Version, res.Expires, err = s.resignExpiredTargets(ctx, gun, ch, st.repo, priv)
		if err != nil {
			return nil, err
		}
	} else {
		if err := s.witness(ctx, gun, ch, role, priv); err != nil {
			return nil, err
		}
		res.Version, res.Expires = s.readBack(ctx, gun, role, st.meta.Version)
	}
	s.log.Info("role renewed", "gun", gun, "role", role, "actor", actor, "version", res.Version,
		"expires", res.Expires, "previous_expires", res.PreviousExpires, "was_expired", st.expiredLoad)
	return res, nil
}

// renewState loads gun's trust data for renewing role and checks that role
// can be renewed.
func (s *Service) renewState(ctx context.Context, gun, role string) (*renewal, error) {
	st := &renewal{}
	repo, err := s.load(ctx, gun)
	switch {
	case errors.Is(err, trust.ErrExpired):
		// notary's client refuses it: read it verified but for expiry.
		if repo, err = s.reader.LoadAllowingExpiry(ctx, gun); err != nil {
			return nil, err
		}
		st.expiredLoad = true
		var expired []string
		for _, m := range repo.ExpiredRoles() {
			switch m.Role {
			case trust.RoleRoot:
				return nil, errs.Conflictf("root_expired",
					"The root metadata of %s expired on %s. Only the root key can renew it, and trustdeck does not use it for this: renewing %s would not make the repository usable.",
					gun, fmtTime(m.Expires), role)
			case trust.RoleTargets, trust.RoleSnapshot, trust.RoleTimestamp:
				expired = append(expired, m.Role)
			}
		}
		if role != trust.RoleTargets {
			return nil, errs.Conflictf("trust_data_expired",
				"The %s metadata of %s has expired, so notary's client cannot load it to re-sign %s: renew targets first (the server then also signs a new snapshot and timestamp).",
				strings.Join(expired, " and "), gun, role)
		}
	case err != nil:
		return nil, err
	}
	st.repo = repo

	if role == trust.RoleTargets {
		m := repo.Role(trust.RoleTargets)
		if m == nil {
			return nil, fmt.Errorf("signers: no targets metadata loaded for %s", gun)
		}
		st.meta = *m
		for _, k := range repo.TargetsKeys {
			st.keyIDs = append(st.keyIDs, k.ID)
			if k.TUFID != "" && k.TUFID != k.ID {
				st.keyIDs = append(st.keyIDs, k.TUFID)
			}
		}
		return st, nil
	}

	st.del = delegationOf(repo, role)
	if st.del == nil {
		return nil, errs.NotFoundf("role_not_found", "%s has no role %s.", gun, role)
	}
	st.keyIDs = st.del.KeyIDs()
	if m := repo.Role(role); m != nil {
		st.meta = *m
		return st, nil
	}
	if !slices.Contains(repo.SkippedRoles, role) {
		return nil, errs.NotFoundf("role_not_found", "%s delegates %s, but it has no metadata yet: there is nothing to renew.", gun, role)
	}
	// Skipped by Load: expired (notary's Witness renews it) or signed by
	// keys it no longer has (re-signing would vouch for what nobody
	// current signed).
	all, err := s.reader.LoadAllowingExpiry(ctx, gun)
	if err != nil {
		return nil, err
	}
	m := all.Role(role)
	if m == nil || slices.Contains(all.SkippedRoles, role) {
		return nil, errs.Conflictf("role_does_not_verify",
			"The metadata of %s in %s is not signed by the keys the role has now. Renewing it would vouch for targets nobody current signed; a signer of the role must sign it anew (or revoke its signer).",
			role, gun)
	}
	st.meta = *m
	return st, nil
}

// canonicalIDs are the canonical IDs among a renewal's key IDs (for targets,
// keyIDs also holds the IDs root.json uses).
func canonicalIDs(st *renewal) []string {
	if st.del != nil {
		return slices.Clone(st.keyIDs)
	}
	ids := make([]string, 0, len(st.repo.TargetsKeys))
	for _, k := range st.repo.TargetsKeys {
		ids = append(ids, k.ID)
	}
	return ids
}

// renewed is the audit detail of renewing role from version previous (that
// expired at previousExpires), read from the role's metadata uploaded.
func renewed(role string, previous int, previousExpires time.Time) func(map[string][]byte) string {
	return func(uploaded map[string][]byte) string {
		m := signedOf(uploaded[role])
		return fmt.Sprintf("%s re-signed unchanged: version %d → %d, expires %s (was %s)",
			role, previous, m.Version, fmtTime(m.Expires), fmtTime(previousExpires))
	}
}

// witness renews role through notary's client, as change ch: Witness, then
// Publish.
func (s *Service) witness(ctx context.Context, gun string, ch change, role string, key data.PrivateKey) error {
	op, err := s.open(ctx, gun, ch, keyFor(data.RoleName(role), key))
	if err != nil {
		return err
	}
	if _, err := op.repo.Witness(data.RoleName(role)); err != nil {
		return writeError(gun, "renew "+role, err)
	}
	return s.publish(ctx, gun, op)
}

// readBack reads role's version and expiry after a publish. Should reading
// fail (the renewal itself succeeded), it answers what notary signed, as
// near as it can tell: the next version, and RenewValidity from now.
func (s *Service) readBack(ctx context.Context, gun, role string, previous int) (int, time.Time) {
	repo, err := s.reader.Load(ctx, gun)
	if err == nil {
		if m := repo.Role(role); m != nil {
			return m.Version, m.Expires
		}
	}
	s.log.Warn("renewed, but the new metadata could not be read back", "gun", gun, "role", role, "error", err)
	return previous + 1, s.now().Add(RenewValidity)
}

// resignExpiredTargets renews the targets role of repo, which notary's
// client refuses to load because targets (or the snapshot or timestamp) has
// expired. repo was verified in every respect but expiry; its files are
// loaded into notary's builder again (which verifies them again, expiry
// aside), targets is signed at its next version and uploaded alone.
func (s *Service) resignExpiredTargets(ctx context.Context, gun string, ch change, repo *trust.Repo, key data.PrivateKey) (int, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, cancelled(gun, err)
	}
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("")))
	if err := cs.AddKey(data.CanonicalTargetsRole, data.GUN(gun), key); err != nil {
		return 0, time.Time{}, fmt.Errorf("signers: load targets key: %w", err)
	}
	builder := tuf.NewRepoBuilder(data.GUN(gun), cs, trustpinning.TrustPinConfig{})
	for _, role := range []string{trust.RoleRoot, trust.RoleTimestamp, trust.RoleSnapshot, trust.RoleTargets} {
		m := repo.Role(role)
		if m == nil || len(m.Raw) == 0 {
			return 0, time.Time{}, fmt.Errorf("signers: %s of %s was not kept", role, gun)
		}
		if err := builder.Load(data.RoleName(role), m.Raw, 1, true); err != nil {
			return 0, time.Time{}, fmt.Errorf("signers: load %s of %s again: %w", role, gun, err)
		}
	}
	tr, _, err := builder.Finish()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("signers: load %s: %w", gun, err)
	}
	expires := s.now().Add(RenewValidity)
	sgn, err := tr.SignTargets(data.CanonicalTargetsRole, expires)
	if err != nil {
		return 0, time.Time{}, writeError(gun, "renew targets", err)
	}
	raw, err := json.Marshal(sgn)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("signers: encode targets of %s: %w", gun, err)
	}
	remote, err := s.remoteFor(ctx, gun, ch)
	if err != nil {
		return 0, time.Time{}, err
	}
	err = remote.SetMulti(map[string][]byte{data.CanonicalTargetsRole.String(): raw})
	s.reader.Invalidate(gun)
	if err != nil {
		return 0, time.Time{}, writeError(gun, "publish", err)
	}
	return tr.Targets[data.CanonicalTargetsRole].Signed.Version, expires, nil
}

// fmtTime renders a time as the pages do.
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

package signers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/vault"
)

// Revoking a signed tag (`docker trust revoke repo:tag`).
//
// A tag is removed from a role by re-signing that role without it, so each
// role needs one of its own keys: targets the repository key, a delegation
// (targets/releases, targets/<signer>) one of the keys it delegates to.
// targets/releases is delegated to the signers' keys, so any signer's key
// can remove a tag from it. docker shows a tag (and pulls it) as long as
// targets or targets/releases holds it; the signers' own roles only name
// who signed it.

// TagPlan is every role that holds a tag, in walk order (targets, then the
// delegations in the order their parents list them).
type TagPlan struct {
	Tag   string
	Roles []TagRole
}

// TagRole is one role holding the tag.
type TagRole struct {
	Role string
	// Digest is the lowercase hex sha256 the role holds for the tag.
	Digest string
	// KeyIDs are the canonical IDs of the keys that can sign the role.
	KeyIDs []string
	// VaultKeyID is the vault's key for the role among KeyIDs (what
	// RevokeTag unlocks with a passphrase alone), "" if the vault holds none.
	VaultKeyID string
}

// PlanTagRevoke lists the roles of gun that hold tag and which of them the
// vault can sign. errs NotFound "tag_not_found" if no role holds it;
// Conflict "no_trust_data" if gun has no trust data.
func (s *Service) PlanTagRevoke(ctx context.Context, gun, tag string) (*TagPlan, error) {
	repo, err := s.load(ctx, gun)
	if err != nil {
		return nil, err
	}
	return s.planTag(ctx, repo, tag)
}

// RevokeTag removes tag from the roles of gun named in keys (role → how to
// get a key of that role: the vault's, unlocked with Passphrase, or the
// one-off PEM, which must be one of the role's keys) and publishes once. It
// returns the roles the tag was removed from, in walk order. Roles holding
// the tag that keys does not name keep it (PlanTagRevoke lists them).
//
// When the revocation of tag was attempted lately (a retry whose earlier
// answer was lost, or a repeated request), roles named that no longer hold
// it are done already: if none is left, nothing is published and the list
// of roles is empty (no error).
//
// Every key is unlocked before anything is staged, so any refusal leaves
// the trust data untouched: errs NotFound "tag_not_found"; Invalid
// "keys_missing" when keys names no role; Invalid "role_without_tag" when it
// names a role not holding the tag; Invalid "not_role_key" for a one-off key
// that is not one of the role's; Conflict "role_threshold" for a role that
// needs more than one signature; the vault's errors (Invalid
// "wrong_passphrase", "passphrase_required", Conflict "key_not_in_vault"),
// with the role in the message.
func (s *Service) RevokeTag(ctx context.Context, gun, tag string, keys map[string]RepoKey, actor string) ([]string, error) {
	unlock, err := s.locks.lock(ctx, gun)
	if err != nil {
		return nil, cancelled(gun, err)
	}
	defer unlock()

	repo, err := s.load(ctx, gun)
	if err != nil {
		return nil, err
	}
	plan, err := s.planTag(ctx, repo, tag)
	if de, ok := errs.As(err); ok && de.Code == "tag_not_found" && len(keys) > 0 && s.journal.Settle(ctx, gun, audit.TagRevoke, tag) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, plan.keysMissing(gun)
	}
	var unknown []string
	for role := range keys {
		if !slices.ContainsFunc(plan.Roles, func(r TagRole) bool { return r.Role == role }) {
			unknown = append(unknown, role)
		}
	}
	if len(unknown) > 0 && s.journal.Settle(ctx, gun, audit.TagRevoke, tag) {
		keys = maps.Clone(keys)
		for _, role := range unknown {
			delete(keys, role)
		}
		if len(keys) == 0 {
			return []string{}, nil
		}
		unknown = nil
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, errs.Invalidf("role_without_tag", "%s:%s is not signed in %s; it is held by %s.",
			gun, tag, strings.Join(unknown, ", "), strings.Join(plan.roleNames(), ", "))
	}

	var (
		opKeys  []roleKey
		removed []data.RoleName
		names   []string
		kept    []string
	)
	for _, r := range plan.Roles {
		rk, ok := keys[r.Role]
		if !ok {
			kept = append(kept, r.Role)
			continue
		}
		var key data.PrivateKey
		if r.Role == trust.RoleTargets {
			key, err = s.repositoryKey(ctx, gun, repo, rk)
		} else {
			key, err = s.delegationKey(ctx, gun, repo, r, rk)
		}
		if err != nil {
			return nil, forRole(r.Role, err)
		}
		// One key may sign several roles (a signer's key signs its own role
		// and targets/releases); the crypto service holds it once, and
		// notary signs each role with every key it holds for that role.
		if !slices.ContainsFunc(opKeys, func(k roleKey) bool { return k.key.ID() == key.ID() }) {
			opKeys = append(opKeys, keyFor(data.RoleName(r.Role), key))
		}
		removed = append(removed, data.RoleName(r.Role))
		names = append(names, r.Role)
	}

	op, err := s.open(ctx, gun, change{actor: actor, action: audit.TagRevoke, subject: tag,
		detail: saying("tag " + tag + " removed from " + strings.Join(names, ", "))}, opKeys...)
	if err != nil {
		return nil, err
	}
	if err := op.repo.RemoveTarget(tag, removed...); err != nil {
		return nil, writeError(gun, "revoke tag", err)
	}
	if err := s.publish(ctx, gun, op); err != nil {
		return nil, err
	}
	s.log.Info("tag revoked", "gun", gun, "tag", tag, "removed_from", names, "kept_in", kept, "actor", actor)
	return names, nil
}

// planTag lists the roles of repo holding tag.
func (s *Service) planTag(ctx context.Context, repo *trust.Repo, tag string) (*TagPlan, error) {
	p := &TagPlan{Tag: tag, Roles: []TagRole{}}
	for _, t := range repo.Targets {
		if t.Name != tag || slices.ContainsFunc(p.Roles, func(r TagRole) bool { return r.Role == t.Role }) {
			continue
		}
		r := TagRole{Role: t.Role, Digest: t.SHA256, KeyIDs: []string{}}
		if t.Role == trust.RoleTargets {
			for _, k := range repo.TargetsKeys {
				r.KeyIDs = append(r.KeyIDs, k.ID)
			}
		} else if d := delegationOf(repo, t.Role); d != nil {
			r.KeyIDs = d.KeyIDs()
		}
		if len(r.KeyIDs) > 0 {
			var err error
			if r.VaultKeyID, err = s.vaultKeyID(ctx, repo.GUN, t.Role, lookupIDs(repo, r)); err != nil {
				return nil, err
			}
		}
		p.Roles = append(p.Roles, r)
	}
	if len(p.Roles) == 0 {
		return nil, errs.NotFoundf("tag_not_found", "No role of %s holds a signature for tag %s.", repo.GUN, tag)
	}
	return p, nil
}

// lookupIDs are the IDs under which the vault may hold a key of r: the
// canonical IDs, and for targets the IDs root.json uses too.
func lookupIDs(repo *trust.Repo, r TagRole) []string {
	if r.Role != trust.RoleTargets {
		return r.KeyIDs
	}
	ids := slices.Clone(r.KeyIDs)
	for _, k := range repo.TargetsKeys {
		if k.TUFID != "" && !slices.Contains(ids, k.TUFID) {
			ids = append(ids, k.TUFID)
		}
	}
	return ids
}

// delegationKey returns a private key of delegation role r: from the
// one-off PEM if given, else from the vault.
func (s *Service) delegationKey(ctx context.Context, gun string, repo *trust.Repo, r TagRole, rk RepoKey) (data.PrivateKey, error) {
	d := delegationOf(repo, r.Role)
	if d == nil || len(r.KeyIDs) == 0 {
		return nil, errs.Conflictf("key_not_in_vault", "The trust data of %s lists no key for %s.", gun, r.Role)
	}
	if d.Threshold > 1 {
		return nil, errs.Conflictf("role_threshold",
			"%s of %s needs %d signatures; trustdeck signs with one key.", r.Role, gun, d.Threshold)
	}
	if len(rk.OneOffPEM) > 0 {
		priv, _, err := vault.ParseOneOff(rk.OneOffPEM, rk.Passphrase)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(r.KeyIDs, priv.ID()) {
			return nil, errs.Invalidf("not_role_key",
				"The key given (%s) is not a key of %s in %s (%s).", priv.ID(), r.Role, gun, strings.Join(r.KeyIDs, ", "))
		}
		return priv, nil
	}
	info, err := s.vault.FindForRole(ctx, gun, r.Role, r.KeyIDs)
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, errs.Conflictf("key_not_in_vault",
			"No key of %s in %s (%s) is in trustdeck's key vault; import one or give the key file.", r.Role, gun, strings.Join(r.KeyIDs, ", "))
	}
	return s.vault.Unlock(ctx, info.ID, rk.Passphrase)
}

// forRole prefixes a domain error's message with the role it concerns, so
// that users know which key or passphrase was refused.
func forRole(role string, err error) error {
	de, ok := errs.As(err)
	if !ok {
		return err
	}
	return &errs.Error{Kind: de.Kind, Code: de.Code, Message: role + ": " + de.Message, Err: de.Err}
}

func (p *TagPlan) roleNames() []string {
	out := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		out[i] = r.Role
	}
	return out
}

// keysMissing is the refusal when no role holding the tag is given a key.
func (p *TagPlan) keysMissing(gun string) error {
	held := make([]string, 0, len(p.Roles))
	for _, r := range p.Roles {
		if r.VaultKeyID != "" {
			held = append(held, r.Role)
		}
	}
	msg := fmt.Sprintf("%s:%s is signed in %s; give the key (vault passphrase or key file) of at least one of them.",
		gun, p.Tag, strings.Join(p.roleNames(), ", "))
	if len(held) > 0 {
		msg += fmt.Sprintf(" The vault holds keys for %s.", strings.Join(held, ", "))
	}
	return errs.Invalidf("keys_missing", "%s", msg)
}

package signers

import (
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/cryptoservice"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/trust"
)

// Resetting targets/releases.
//
// notary's server refuses any metadata whose version is not above the stored
// one, and notary's client (docker's too) starts a role it cannot verify
// afresh at version 1. So once targets/releases stops verifying (its
// metadata is signed only by keys no longer in the role: what `docker trust
// signer remove` does when the removed signer released last), every later
// `docker trust sign` is refused ("trust server rejected operation") until
// someone holding a releases key runs `notary witness`.
//
// trustdeck does not leave the role in that state. When a change would
// leave it unverifiable, or finds it so, the same publish also adds a
// retired key to the role and uses it, once, to sign the role's next version
// with no targets (so nothing the role held counts any more, exactly as
// docker's result, but remaining and future signers can sign again). The
// retired key is a fresh key in a self-signed certificate whose subject is
// RetiredKeySubject; its private part exists only during the operation. It
// grants nothing: nobody can sign with it again, and the repository key that
// delegated it could release anything itself. Once a signer has signed the
// role anew, the next signer change removes it.

// RetiredKeySubject is the certificate subject of retired releases keys.
const RetiredKeySubject = "trustdeck retired releases key"

// IsRetiredKey reports whether k is a retired releases key: listed in
// targets/releases so that the role verifies until a signer signs it again,
// its private key destroyed.
func IsRetiredKey(k trust.Key) bool { return k.Certificate && k.Subject == RetiredKeySubject }

// newRetiredKey makes a retired releases key: the private key, to sign with
// once, and the certificate to delegate to.
func newRetiredKey(gun string, now time.Time) (data.PrivateKey, data.PublicKey, error) {
	priv, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("signers: generate retired key for %s: %w", gun, err)
	}
	cert, err := cryptoservice.GenerateCertificate(priv, data.GUN(RetiredKeySubject), now, now.Add(10*notary.Year))
	if err != nil {
		return nil, nil, fmt.Errorf("signers: certificate of retired key for %s: %w", gun, err)
	}
	return priv, utils.CertToKey(cert), nil
}

// changeReleases stages the changes of targets/releases: remove the role if
// p.removeRole, else add keys (for every path), remove p.remove, and if
// p.reset, witness the role (re-sign it at its next version, with the
// retired key the operation holds) without any of its targets.
func (s *Service) changeReleases(op *operation, gun string, add []data.PublicKey, p releasesPlan) error {
	role := data.RoleName(trust.RoleReleases)
	if p.removeRole {
		return op.repo.RemoveDelegationRole(role)
	}
	if len(add) > 0 {
		if err := op.repo.AddDelegationRoleAndKeys(role, add); err != nil {
			return err
		}
		if err := op.repo.AddDelegationPaths(role, []string{""}); err != nil {
			return err
		}
	}
	if len(p.remove) > 0 {
		if err := op.repo.RemoveDelegationKeys(role, p.remove); err != nil {
			return err
		}
	}
	if !p.reset {
		return nil
	}
	// Drop what the verified data showed and what the server holds now (the
	// same, unless someone published meanwhile: nothing may survive the
	// reset under the retired key's signature).
	stored, err := storedTargets(op.remote, gun, trust.RoleReleases)
	if err != nil {
		return err
	}
	drop := slices.Concat(p.drop, stored)
	slices.Sort(drop)
	drop = slices.Compact(drop)
	if _, err := op.repo.Witness(role); err != nil {
		return err
	}
	for _, name := range drop {
		if err := op.repo.RemoveTarget(name, role); err != nil {
			return err
		}
	}
	return nil
}

// storedTargets reads the target names of role's current metadata on the
// server (through the operation's remote), unverified (it does not verify:
// that is why it is reset).
func storedTargets(remote store.RemoteStore, gun, role string) ([]string, error) {
	raw, err := remote.GetSized(role, notary.MaxDownloadSize)
	if err != nil {
		return nil, err
	}
	var meta struct {
		Signed struct {
			Targets map[string]json.RawMessage `json:"targets"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("signers: read stored %s of %s: %w", role, gun, err)
	}
	names := make([]string, 0, len(meta.Signed.Targets))
	for name := range meta.Signed.Targets {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

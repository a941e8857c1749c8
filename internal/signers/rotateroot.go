package signers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/vault"
)

// Rotating the root key: `notary key rotate <gun> root`, with the root key
// held in trustdeck's vault.
//
// notary's client does it in RotateKey(root, false, [new key ID]): the new
// key must be in the operation's crypto service; notary wraps it in a fresh
// self-signed certificate (10 years, client.rootCertKey), stages a change
// that replaces every root key of root.json with that certificate, and
// publishes at once. The publish signs root at its next version with the
// default root expiry (data.DefaultExpires: 10 years) and, because the root
// role changed, tuf.Repo.SignRoot signs it with the previous root role's
// keys as well as the new one's. That cross-signature is what lets every
// client that trusted the old root (notary's and docker's TOFU caches, a
// pinned trust directory) accept the new one: they verify the new root.json
// against the root they hold. The server checks the same before storing it.
// Targets, delegations and their signatures are untouched; the server signs
// a new snapshot and timestamp.

// RootValidity is how long the new root metadata and its certificate last,
// as notary makes them.
const RootValidity = 10 * notary.Year

// RootKey says where the current root key comes from: the vault, unlocked
// with Passphrase, unless OneOffPEM is given, in which case that PEM,
// decrypted with Passphrase, is used once and never stored.
type RootKey struct {
	Passphrase string
	OneOffPEM  []byte
}

// RootRotationPlan is what rotating the root key of a repository would do.
type RootRotationPlan struct {
	// Version and Expires are the current root metadata's.
	Version int
	Expires time.Time
	// KeyIDs are the canonical IDs of the current root keys and
	// CertificateIDs the IDs root.json lists for them (what docker shows);
	// CertificateExpires is the earliest expiry of their certificates (zero
	// if none is a certificate).
	KeyIDs             []string
	CertificateIDs     []string
	CertificateExpires time.Time
	// VaultKeyID is the vault's key among KeyIDs ("" if it holds none).
	VaultKeyID string
	// NewExpires is the expiry a rotation now gives root and its new
	// certificate.
	NewExpires time.Time
}

// RootRotation is what a root key rotation did.
type RootRotation struct {
	// PreviousKeyIDs and PreviousCertificateIDs name the replaced root keys
	// (canonical IDs, and the IDs root.json listed).
	PreviousKeyIDs         []string
	PreviousCertificateIDs []string
	PreviousVersion        int
	PreviousExpires        time.Time
	// KeyID is the new root key's canonical ID (its ID in the vault, where
	// it is stored as a global root key); CertificateID is what root.json
	// lists for it.
	KeyID              string
	CertificateID      string
	CertificateExpires time.Time
	Version            int
	Expires            time.Time
}

// rootIDs are the canonical and metadata IDs of repo's root keys.
func rootIDs(repo *trust.Repo) (canonical, tuf []string, certExpires time.Time) {
	for _, k := range repo.RootKeys {
		canonical = append(canonical, k.ID)
		tuf = append(tuf, k.TUFID)
		if k.Certificate && (certExpires.IsZero() || k.NotAfter.Before(certExpires)) {
			certExpires = k.NotAfter
		}
	}
	return canonical, tuf, certExpires
}

// loadForRotation reads gun's trust data for a root rotation.
func (s *Service) loadForRotation(ctx context.Context, gun string) (*trust.Repo, error) {
	repo, err := s.load(ctx, gun)
	if errors.Is(err, trust.ErrExpired) {
		return nil, &errs.Error{Kind: errs.Conflict, Code: "trust_data_expired", Err: err,
			Message: fmt.Sprintf("Some trust data of %s has expired, so notary's client cannot load it to rotate the root key. "+
				"Renew targets first if it is targets; an expired root can only be replaced where the root key is kept (notary key rotate %s root).", gun, gun)}
	}
	if err != nil {
		return nil, err
	}
	if repo.Role(trust.RoleRoot) == nil || len(repo.RootKeys) == 0 {
		return nil, fmt.Errorf("signers: no root metadata loaded for %s", gun)
	}
	return repo, nil
}

// PlanRotateRoot tells what rotating gun's root key would do and whether the
// vault holds the current root key. Errors are RotateRoot's refusals that
// need no key.
func (s *Service) PlanRotateRoot(ctx context.Context, gun string) (*RootRotationPlan, error) {
	repo, err := s.loadForRotation(ctx, gun)
	if err != nil {
		return nil, err
	}
	m := repo.Role(trust.RoleRoot)
	p := &RootRotationPlan{Version: m.Version, Expires: m.Expires, NewExpires: s.now().Add(RootValidity)}
	p.KeyIDs, p.CertificateIDs, p.CertificateExpires = rootIDs(repo)
	if p.VaultKeyID, err = s.vaultKeyID(ctx, gun, data.CanonicalRootRole.String(), p.KeyIDs); err != nil {
		return nil, err
	}
	return p, nil
}

// RotateRoot replaces the root key of gun with a new ECDSA key, stored in
// the vault as a global root key encrypted with newPassphrase, and
// publishes a new root (next version, RootValidity) that lists only the new
// key's fresh self-signed certificate and is signed by both the current and
// the new root key, so that clients that trusted the current root accept
// it. key says where the current root key comes from (the vault, unlocked
// with key.Passphrase, or key.OneOffPEM). The old key stays in the vault.
//
// Refusals, before anything is published: errs Invalid
// "passphrase_too_short" (newPassphrase); Conflict "no_trust_data",
// "trust_data_expired"; Conflict "key_not_in_vault" (naming the root key
// IDs); Invalid "not_root_key" (a one-off key that is not the root key);
// the vault's "wrong_passphrase" and "passphrase_required"; and the trust
// server's errors.
func (s *Service) RotateRoot(ctx context.Context, gun string, key RootKey, newPassphrase, actor string) (*RootRotation, error) {
	if len(newPassphrase) < vault.MinPassphraseLength {
		return nil, errs.Invalidf("passphrase_too_short",
			"The new root key needs a passphrase of at least %d characters.", vault.MinPassphraseLength)
	}
	unlock, err := s.locks.lock(ctx, gun)
	if err != nil {
		return nil, cancelled(gun, err)
	}
	defer unlock()

	repo, err := s.loadForRotation(ctx, gun)
	if err != nil {
		return nil, err
	}
	prev := repo.Role(trust.RoleRoot)
	res := &RootRotation{PreviousVersion: prev.Version, PreviousExpires: prev.Expires}
	res.PreviousKeyIDs, res.PreviousCertificateIDs, _ = rootIDs(repo)

	oldKey, err := s.rootKey(ctx, gun, res.PreviousKeyIDs, key)
	if err != nil {
		return nil, err
	}
	newKey, _, err := s.vault.Generate(ctx, data.CanonicalRootRole.String(), gun, newPassphrase, actor)
	if err != nil {
		return nil, err
	}
	res.KeyID = newKey.ID()

	if err := s.rotateRoot(ctx, gun, change{actor: actor, action: audit.TrustRotateRoot, detail: rotated(res)}, oldKey, newKey); err != nil {
		if !unknownOutcome(err) { // else root may list the new key: keep it
			s.discardRootKey(gun, res.KeyID)
		}
		return nil, err
	}

	after, err := s.reader.Load(ctx, gun)
	if err == nil {
		for _, k := range after.RootKeys {
			if k.ID == res.KeyID {
				res.CertificateID, res.CertificateExpires = k.TUFID, k.NotAfter
			}
		}
		if m := after.Role(trust.RoleRoot); m != nil {
			res.Version, res.Expires = m.Version, m.Expires
		}
	}
	if res.Version == 0 {
		s.log.Warn("root rotated, but the new root could not be read back", "gun", gun, "error", err)
		res.Version, res.Expires = prev.Version+1, s.now().Add(RootValidity)
	}
	s.log.Info("root key rotated", "gun", gun, "actor", actor, "previous_keys", res.PreviousKeyIDs,
		"key", res.KeyID, "certificate", res.CertificateID, "version", res.Version, "expires", res.Expires)
	return res, nil
}

// rootKey returns the private key of one of the root keys ids (canonical):
// from the one-off PEM if given, else from the vault.
func (s *Service) rootKey(ctx context.Context, gun string, ids []string, rk RootKey) (data.PrivateKey, error) {
	if len(rk.OneOffPEM) > 0 {
		priv, _, err := vault.ParseOneOff(rk.OneOffPEM, rk.Passphrase)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, priv.ID()) {
			return nil, errs.Invalidf("not_root_key",
				"The key given (%s) is not the root key of %s (%s).", priv.ID(), gun, strings.Join(ids, ", "))
		}
		return priv, nil
	}
	info, err := s.vault.FindForRole(ctx, gun, data.CanonicalRootRole.String(), ids)
	if de, ok := errs.As(err); (ok && de.Code == "key_not_in_vault") || (err == nil && info == nil) {
		return nil, &errs.Error{Kind: errs.Conflict, Code: "key_not_in_vault", Err: err,
			Message: fmt.Sprintf("The root key of %s (%s) is not in trustdeck's key vault: import its key file "+
				"(<id>.key, from ~/.docker/trust/private/ where the repository was initialised) or give it for this one operation.",
				gun, strings.Join(ids, ", "))}
	}
	if err != nil {
		return nil, err
	}
	return s.vault.Unlock(ctx, info.ID, rk.Passphrase)
}

// rotated is the audit detail of rotation res (its previous keys and
// version, and its new key), read from the root metadata uploaded.
func rotated(res *RootRotation) func(map[string][]byte) string {
	return func(uploaded map[string][]byte) string {
		raw := uploaded[data.CanonicalRootRole.String()]
		m := signedOf(raw)
		return fmt.Sprintf("root key %s → %s (new key in the vault, old key kept; root cross-signed by both): root version %d → %d, expires %s, certificate expires %s",
			strings.Join(res.PreviousKeyIDs, ", "), res.KeyID, res.PreviousVersion, m.Version, fmtTime(m.Expires),
			fmtTime(certificateExpiry(raw, res.KeyID)))
	}
}

// certificateExpiry is when the certificate root.json (raw) lists for the
// root key keyID (canonical ID) expires; zero if it lists none.
func certificateExpiry(raw []byte, keyID string) time.Time {
	var root data.SignedRoot
	if json.Unmarshal(raw, &root) != nil {
		return time.Time{}
	}
	for _, k := range root.Signed.Keys {
		if id, err := utils.CanonicalKeyID(k); err == nil && id == keyID {
			if cert, err := utils.LoadCertFromPEM(k.Public()); err == nil {
				return cert.NotAfter
			}
		}
	}
	return time.Time{}
}

// rotateRoot publishes the new root through notary's client, which
// cross-signs it with oldKey and newKey, as change ch.
func (s *Service) rotateRoot(ctx context.Context, gun string, ch change, oldKey, newKey data.PrivateKey) error {
	op, err := s.open(ctx, gun, ch, keyFor(data.CanonicalRootRole, oldKey), keyFor(data.CanonicalRootRole, newKey))
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return cancelled(gun, err)
	}
	// RotateKey publishes at once.
	err = op.repo.RotateKey(data.CanonicalRootRole, false, []string{newKey.ID()})
	s.reader.Invalidate(gun)
	if err != nil {
		return writeError(gun, "rotate the root key of", err)
	}
	return nil
}

// discardRootKey deletes a new root key when its rotation failed, unless the
// published root lists it (a failed publish may still have been stored) or
// that cannot be told: keys of published trust data must never be lost.
func (s *Service) discardRootKey(gun, keyID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	repo, err := s.reader.Load(ctx, gun)
	if err != nil {
		s.log.Warn("root rotation failed; keeping its new key in the vault", "gun", gun, "key", keyID, "read_error", err)
		return
	}
	for _, k := range repo.RootKeys {
		if k.ID == keyID {
			s.log.Warn("root rotation reported an error but was stored; keeping its new key", "gun", gun, "key", keyID)
			return
		}
	}
	if err := s.vault.Delete(ctx, keyID); err != nil {
		s.log.Warn("root rotation failed; could not delete its new key from the vault", "gun", gun, "key", keyID, "error", err)
	}
}

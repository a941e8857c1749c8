// Package signers changes who may sign a repository's tags: it initialises
// trust data and adds and revokes signers (delegations) with docker's
// semantics (`docker trust signer add` / `remove`), publishing through
// notary's own client library. It also revokes tags (revoketag.go) and
// renews a role's expiry (renew.go).
//
// Every operation works on fresh state: a new notary client repository over
// an empty in-memory cache and changelist, and a crypto service holding only
// the private keys the operation needs, decrypted from the vault (or from a
// one-off PEM) for the duration of the call. Signer changes are signed with
// the repository (targets) key alone; the root key is needed only to
// initialise.
//
// Operations on one GUN run one at a time within a Service (use one Service
// per process). Every refusal happens before anything is published.
//
// One deliberate difference from docker: docker's `signer remove` can leave
// targets/releases signed only by removed keys, after which notary's server
// refuses every `docker trust sign` (the client restarts the role at version
// 1). trustdeck resets the role instead: see releases.go.
package signers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/cryptoservice"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/keys"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/vault"
)

// KeyVault is what the signer operations need from the key vault
// (*vault.Vault implements it).
type KeyVault interface {
	// Generate creates a key for role in gun, stores it encrypted with
	// passphrase and returns it.
	Generate(ctx context.Context, role, gun, passphrase, actor string) (data.PrivateKey, *vault.KeyInfo, error)
	// FindForRole returns the vault's key for role in gun among keyIDs
	// (canonical IDs); an errs Conflict "key_not_in_vault" if it holds none.
	FindForRole(ctx context.Context, gun, role string, keyIDs []string) (*vault.KeyInfo, error)
	// Unlock decrypts a key: errs Invalid "wrong_passphrase" for a wrong
	// passphrase, errs Conflict "key_not_in_vault" for an unknown key.
	Unlock(ctx context.Context, keyID, passphrase string) (data.PrivateKey, error)
	// Delete removes a key (Initialise's, when initialising failed).
	Delete(ctx context.Context, keyID string) error
}

// RepoKey says where the repository (targets) key comes from: the vault,
// unlocked with Passphrase, unless OneOffPEM is given, in which case that
// PEM, decrypted with Passphrase, is used once and never stored.
type RepoKey struct {
	Passphrase string
	OneOffPEM  []byte
}

// InitResult names the keys Initialise created.
type InitResult struct {
	// RootKeyID is the canonical ID of the root key (its ID in the vault,
	// and what docker names the private key file after).
	RootKeyID string
	// RootCertificateID is the ID root.json lists for root: the key of the
	// self-signed certificate wrapping the root key, which docker shows as
	// the administrative Root key.
	RootCertificateID string
	// RepositoryKeyID is the ID of the targets key (docker's "Repository
	// Key").
	RepositoryKeyID string
	// Already is set when the trust data was in place already: a retry of
	// an initialisation whose answer was lost. The IDs are those in place.
	Already bool
}

// Impact is what revoking a signer changes for released tags. Tags are in
// natural order.
type Impact struct {
	Signer string
	// Keys are the signer's key IDs (canonical) and ReleaseKeys those of them
	// removed from targets/releases (a key another signer also holds stays).
	Keys        []string
	ReleaseKeys []string
	// LosesLastSigner: released tags that stay pullable but no longer name
	// any signer (docker then shows them as signed by "Repo Admin").
	LosesLastSigner []string
	// Unpullable: released tags that are left without any valid signature;
	// `docker pull` with content trust refuses them.
	Unpullable []string
	// RevertsToTargets: released tags whose targets/releases entry stops
	// counting while the targets role holds the tag with another digest, so
	// docker pulls that digest instead.
	RevertsToTargets []string
	// RemovedUnreleased are the unreleased signatures (tag and digest) that
	// only the signer's role holds: deleting the role deletes them, in
	// natural tag order. The released tags that leave the trust data are
	// Unpullable's.
	RemovedUnreleased []RemovedTag
	// KeepRelease are released tags the signer signed too that stay
	// released (without the signer's name).
	KeepRelease []string
	// ReleasesInvalid is set when the current targets/releases metadata
	// will stop verifying: it is signed only by keys being removed from the
	// role. Every tag released only through it stops counting (docker's
	// "will make the repository unpullable").
	ReleasesInvalid bool
	// ReleasesReset is set when targets/releases is re-signed with no
	// targets by a retired key (see IsRetiredKey), because it stops
	// verifying or did not verify before: signers can then sign again, which
	// docker's client could not.
	ReleasesReset bool
	// RequiresConfirm is set when any released tag is affected; Revoke then
	// requires confirm == the signer's name.
	RequiresConfirm bool
	// AlreadyRevoked is set by Revoke when the signer was gone already (a
	// retry): nothing was changed.
	AlreadyRevoked bool
}

// RemovedTag is an unreleased signature that a revocation deletes.
type RemovedTag struct {
	Tag    string
	Digest string // hex sha256
	// TagReleased is set when the tag stays released with another digest.
	TagReleased bool
}

// Remote returns the notary server's store for gun, for an operation made on
// behalf of actor (the trustdeck account the operation's own audit event
// names). Every publish of an operation goes through the store it returns, so
// a server that can learn the actor (trustdeck's embedded one, through
// notaryserver.ActingAs) records the change under that name too. A Remote
// may ignore actor.
type Remote func(gun, actor string) (store.RemoteStore, error)

// Service runs the signer operations.
type Service struct {
	remote  Remote
	reader  *trust.Reader
	vault   KeyVault
	journal audit.Journal
	log     *slog.Logger
	now     func() time.Time
	locks   gunLocks
}

// New returns a Service publishing through remote (a store of the same
// server the reader reads) and reading through reader, which it invalidates
// after every publish. Every publish is recorded in journal, which audits
// it (the operations record no event of their own).
func New(remote Remote, reader *trust.Reader, vault KeyVault, journal audit.Journal, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{remote: remote, reader: reader, vault: vault, journal: journal, log: log, now: time.Now}
}

// nameRE is docker's rule for signer names.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// maxNameLength keeps a role name well inside notary's limits.
const maxNameLength = 200

// rootCertValidity is how long the self-signed root certificate lasts, as
// docker and notary make it.
const rootCertValidity = 10 * notary.Year

// CheckName refuses (errs Invalid) a name docker does not accept for a
// signer, and "releases".
func CheckName(name string) error {
	if name == "releases" {
		return errs.Invalidf("reserved_name", "%q is reserved for the releases role; choose another signer name.", name)
	}
	if len(name) > maxNameLength || !nameRE.MatchString(name) {
		return errs.Invalidf("invalid_name",
			"Signer names must start with a lowercase letter or digit and contain only lowercase letters, digits, '_' and '-': %q is not valid.", name)
	}
	return nil
}

// Initialise creates the trust data of gun as docker does on first use:
// a root key and a repository (targets) key generated into the vault,
// encrypted with the given passphrases; snapshot and timestamp managed by
// the server. It refuses (errs Conflict "trust_data_exists") if gun has
// trust data, unless that is a retry of an initialisation of gun whose
// answer was lost: then it answers the keys of the trust data in place
// (InitResult.Already).
func (s *Service) Initialise(ctx context.Context, gun, rootPassphrase, repoPassphrase, actor string) (*InitResult, error) {
	if gun == "" {
		return nil, errs.Invalidf("invalid_gun", "The repository name is empty.")
	}
	if len(rootPassphrase) < vault.MinPassphraseLength || len(repoPassphrase) < vault.MinPassphraseLength {
		return nil, errs.Invalidf("passphrase_too_short",
			"The root key and the repository key each need a passphrase of at least %d characters.", vault.MinPassphraseLength)
	}
	unlock, err := s.locks.lock(ctx, gun)
	if err != nil {
		return nil, cancelled(gun, err)
	}
	defer unlock()

	switch repo, err := s.reader.Load(ctx, gun); {
	case err == nil && s.journal.Settle(ctx, gun, audit.TrustInit, "") && len(repo.RootKeys) > 0 && len(repo.TargetsKeys) > 0:
		return &InitResult{RootKeyID: repo.RootKeys[0].ID, RootCertificateID: repo.RootKeys[0].TUFID,
			RepositoryKeyID: repo.TargetsKeys[0].ID, Already: true}, nil
	case err == nil:
		return nil, errs.Conflictf("trust_data_exists", "%s already has trust data.", gun)
	case !errors.Is(err, trust.ErrNoTrustData):
		return nil, err
	}

	rootKey, _, err := s.vault.Generate(ctx, data.CanonicalRootRole.String(), gun, rootPassphrase, actor)
	if err != nil {
		return nil, err
	}
	targetsKey, _, err := s.vault.Generate(ctx, data.CanonicalTargetsRole.String(), gun, repoPassphrase, actor)
	if err != nil {
		s.discard(gun, rootKey.ID())
		return nil, err
	}
	rootCert, err := s.initialise(ctx, gun, actor, rootKey, targetsKey)
	if err != nil {
		if !unknownOutcome(err) { // else the trust data may exist: keep its keys
			s.discard(gun, rootKey.ID(), targetsKey.ID())
		}
		return nil, err
	}
	res := &InitResult{RootKeyID: rootKey.ID(), RootCertificateID: rootCert.ID(), RepositoryKeyID: targetsKey.ID()}
	s.log.Info("trust data initialised", "gun", gun, "actor", actor,
		"root_key", res.RootKeyID, "repository_key", res.RepositoryKeyID)
	return res, nil
}

// initialise publishes the first trust data of gun, signed with rootKey
// (wrapped in a self-signed certificate, as docker does) and targetsKey. It
// returns the root certificate's key.
func (s *Service) initialise(ctx context.Context, gun, actor string, rootKey, targetsKey data.PrivateKey) (data.PublicKey, error) {
	start := s.now()
	cert, err := cryptoservice.GenerateCertificate(rootKey, data.GUN(gun), start, start.Add(rootCertValidity))
	if err != nil {
		return nil, fmt.Errorf("signers: root certificate for %s: %w", gun, err)
	}
	rootCert := utils.CertToKey(cert)
	if rootCert == nil {
		return nil, fmt.Errorf("signers: root certificate for %s: unsupported key type %s", gun, rootKey.Algorithm())
	}
	op, err := s.open(ctx, gun, change{actor: actor, action: audit.TrustInit,
		detail: saying("root key " + rootKey.ID() + ", repository key " + targetsKey.ID() + " (both in the vault)")},
		keyFor(data.CanonicalRootRole, rootKey), keyFor(data.CanonicalTargetsRole, targetsKey))
	if err != nil {
		return nil, err
	}
	if err := op.repo.InitializeWithCertificate([]string{rootKey.ID()}, []data.PublicKey{rootCert}, data.CanonicalSnapshotRole); err != nil {
		return nil, writeError(gun, "initialise", err)
	}
	if err := s.publish(ctx, gun, op); err != nil {
		return nil, err
	}
	return rootCert, nil
}

// discard deletes keys Initialise generated when initialising failed, but
// only if gun certainly has no trust data (a publish that failed may still
// have been stored, and keys of published trust data must never be lost).
func (s *Service) discard(gun string, keyIDs ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.reader.Load(ctx, gun); !errors.Is(err, trust.ErrNoTrustData) {
		s.log.Warn("initialisation failed; keeping its keys in the vault", "gun", gun, "keys", keyIDs, "read_error", err)
		return
	}
	for _, id := range keyIDs {
		if err := s.vault.Delete(ctx, id); err != nil {
			s.log.Warn("initialisation failed; could not delete its key from the vault", "gun", gun, "key", id, "error", err)
		}
	}
}

// AddSigner adds pub as a key of signer name: to targets/<name> and to
// targets/releases (for every path), in one publish signed with the
// repository key. Adding to an existing signer adds the key. When the
// signer has the key already (a retry of an addition whose answer was lost,
// or a repeated request) nothing is published and already is true.
// Refusals: errs.Invalid for a bad or reserved name; Conflict
// "no_trust_data" when gun has no trust data; Conflict "key_in_use" when
// another signer (or the repository itself) holds the key; Conflict
// "stale_signer_metadata" when an earlier
// signer of that name left metadata that no longer verifies (notary clients
// could not sign over it); the repository key's errors (see RepoKey). If
// targets/releases does not verify (left so by docker's `signer remove`), it
// is reset too (see IsRetiredKey); retired keys no longer needed are
// removed.
func (s *Service) AddSigner(ctx context.Context, gun, name string, pub *keys.Public, repoKey RepoKey, actor string) (already bool, err error) {
	if err := CheckName(name); err != nil {
		return false, err
	}
	if pub == nil || pub.Key == nil {
		return false, errs.Invalidf("key_required", "A public key or certificate is required.")
	}
	keyID := pub.CanonicalID
	if keyID == "" {
		var err error
		if keyID, err = utils.CanonicalKeyID(pub.Key); err != nil {
			return false, errs.Invalidf("invalid_key", "The key cannot be used: %v", err)
		}
	}
	unlock, err := s.locks.lock(ctx, gun)
	if err != nil {
		return false, cancelled(gun, err)
	}
	defer unlock()

	repo, err := s.load(ctx, gun)
	if err != nil {
		return false, err
	}
	role := "targets/" + name
	for _, d := range repo.Delegations {
		if d.Role == trust.RoleReleases || !slices.Contains(d.KeyIDs(), keyID) {
			continue
		}
		if d.Role == role {
			s.journal.Settle(ctx, gun, audit.SignerAdd, name)
			return true, nil
		}
		return false, errs.Conflictf("key_in_use", "Key %s already belongs to signer %s of %s; each signer needs its own key.",
			keyID, strings.TrimPrefix(d.Role, "targets/"), gun)
	}
	for _, k := range slices.Concat(repo.RootKeys, repo.TargetsKeys) {
		if k.ID == keyID || k.TUFID == keyID {
			return false, errs.Conflictf("key_in_use", "Key %s is an administrative key of %s and cannot be a signer's key.", keyID, gun)
		}
	}

	if slices.Contains(repo.SkippedRoles, role) {
		return false, errs.Conflictf("stale_signer_metadata",
			"%s holds metadata of an earlier signer %s that no longer verifies (removed, or expired); notary clients could not sign over it. Choose another name.",
			gun, name)
	}
	rel := releasesOf(repo)
	plan := releasesPlan{}
	if rel.loaded {
		plan.remove = rel.idle()
	}
	// targets/releases with metadata that does not verify: reset it in this
	// publish if it is delegated (notary's client then knows its version),
	// else once it is.
	resetNow := rel.skipped && rel.del != nil
	resetAfter := rel.skipped && rel.del == nil
	if resetNow {
		plan = releasesPlan{reset: true, remove: rel.retired}
	}

	targetsKey, err := s.repositoryKey(ctx, gun, repo, repoKey)
	if err != nil {
		return false, err
	}
	opKeys := []roleKey{keyFor(data.CanonicalTargetsRole, targetsKey)}
	add := []data.PublicKey{pub.Key}
	var retired data.PrivateKey
	if resetNow || resetAfter {
		var cert data.PublicKey
		if retired, cert, err = newRetiredKey(gun, s.now()); err != nil {
			return false, err
		}
		opKeys = append(opKeys, keyFor(data.RoleName(trust.RoleReleases), retired))
		add = append(add, cert)
	}
	op, err := s.open(ctx, gun, change{actor: actor, action: audit.SignerAdd, subject: name,
		detail: saying("signer " + name + " with key " + keyID + " (" + pub.Type + ")")}, opKeys...)
	if err != nil {
		return false, err
	}
	if err := op.repo.AddDelegationRoleAndKeys(data.RoleName(role), []data.PublicKey{pub.Key}); err != nil {
		return false, writeError(gun, "add signer", err)
	}
	if err := op.repo.AddDelegationPaths(data.RoleName(role), []string{""}); err != nil {
		return false, writeError(gun, "add signer", err)
	}
	if err := s.changeReleases(op, gun, add, plan); err != nil {
		return false, writeError(gun, "add signer", err)
	}
	if err := s.publish(ctx, gun, op); err != nil {
		return false, err
	}
	if resetAfter {
		// Part of the signer's addition, audited above.
		op, err := s.open(ctx, gun, change{actor: actor}, keyFor(data.RoleName(trust.RoleReleases), retired))
		if err == nil {
			err = s.changeReleases(op, gun, nil, releasesPlan{reset: true})
			if err != nil {
				err = writeError(gun, "reset releases", err)
			} else {
				err = s.publish(ctx, gun, op)
			}
		}
		if err != nil {
			// The signer is added; only the reset failed.
			s.log.Error("signer added, but targets/releases could not be reset", "gun", gun, "signer", name, "error", err)
			return false, err
		}
	}
	s.log.Info("signer added", "gun", gun, "signer", name, "key", keyID, "actor", actor)
	return false, nil
}

// Impact tells what revoking signer name would change. errs NotFound
// "signer_not_found" if gun has no such signer.
func (s *Service) Impact(ctx context.Context, gun, name string) (*Impact, error) {
	if err := checkRevokable(name); err != nil {
		return nil, err
	}
	repo, err := s.load(ctx, gun)
	if err != nil {
		return nil, err
	}
	p, err := planRevoke(repo, name)
	if err != nil {
		return nil, err
	}
	return p.impact, nil
}

// Revoke removes signer name: role targets/<name> is removed and the
// signer's keys leave targets/releases (unless another signer holds them
// too), in one publish signed with the repository key. If targets/releases
// would stop verifying it is reset (Impact.ReleasesReset, see
// IsRetiredKey); if it would be left without keys and was never signed, it
// is removed. When the impact requires it
// (Impact.RequiresConfirm), confirm must equal name, else errs.Invalid
// "confirm_required" (the impact is returned with the error). It returns
// the impact it acted on. A signer that is gone already is no error when
// its revocation was attempted lately (a retry whose earlier answer was
// lost, or a repeated request): nothing is published and the impact says
// AlreadyRevoked. Otherwise errs NotFound "signer_not_found".
func (s *Service) Revoke(ctx context.Context, gun, name string, repoKey RepoKey, confirm string, actor string) (*Impact, error) {
	if err := checkRevokable(name); err != nil {
		return nil, err
	}
	unlock, err := s.locks.lock(ctx, gun)
	if err != nil {
		return nil, cancelled(gun, err)
	}
	defer unlock()

	repo, err := s.load(ctx, gun)
	if err != nil {
		return nil, err
	}
	p, err := planRevoke(repo, name)
	if de, ok := errs.As(err); ok && de.Code == "signer_not_found" && s.journal.Settle(ctx, gun, audit.SignerRevoke, name) {
		return &Impact{Signer: name, Keys: []string{}, AlreadyRevoked: true}, nil
	}
	if err != nil {
		return nil, err
	}
	if p.impact.RequiresConfirm && confirm != name {
		return p.impact, &errs.Error{Kind: errs.Invalid, Code: "confirm_required",
			Message: p.impact.describe(gun) + fmt.Sprintf(" Type the signer's name (%s) to confirm.", name)}
	}

	targetsKey, err := s.repositoryKey(ctx, gun, repo, repoKey)
	if err != nil {
		return p.impact, err
	}
	opKeys := []roleKey{keyFor(data.CanonicalTargetsRole, targetsKey)}
	var add []data.PublicKey
	if p.releases.reset {
		retired, cert, err := newRetiredKey(gun, s.now())
		if err != nil {
			return p.impact, err
		}
		opKeys = append(opKeys, keyFor(data.RoleName(trust.RoleReleases), retired))
		add = append(add, cert)
	}
	op, err := s.open(ctx, gun, change{actor: actor, action: audit.SignerRevoke, subject: name,
		detail: saying("signer " + name + " revoked (keys " + strings.Join(p.impact.Keys, ", ") + ")")}, opKeys...)
	if err != nil {
		return p.impact, err
	}
	if err := s.changeReleases(op, gun, add, p.releases); err != nil {
		return p.impact, writeError(gun, "revoke signer", err)
	}
	if err := op.repo.RemoveDelegationRole(data.RoleName(p.role)); err != nil {
		return p.impact, writeError(gun, "revoke signer", err)
	}
	if err := s.publish(ctx, gun, op); err != nil {
		return p.impact, err
	}
	s.log.Info("signer revoked", "gun", gun, "signer", name, "keys", p.impact.Keys, "actor", actor,
		"releases_reset", p.impact.ReleasesReset, "unpullable", len(p.impact.Unpullable))
	return p.impact, nil
}

// checkRevokable accepts any direct delegation name but releases: signers
// created elsewhere may not follow docker's naming rule, and must still be
// removable. Nested roles (a/b) are delegated by their parent, whose key the
// repository key cannot stand in for.
func checkRevokable(name string) error {
	switch {
	case name == "":
		return errs.Invalidf("invalid_name", "The signer name is empty.")
	case name == "releases":
		return errs.Invalidf("reserved_name", "targets/releases is not a signer; revoke the signers whose keys it holds.")
	case strings.Contains(name, "/"):
		return errs.Invalidf("invalid_name", "%q is a nested delegation; only its parent's key can remove it.", name)
	}
	return nil
}

// load reads gun's trust data, turning "no trust data" into a Conflict
// that offers initialisation.
func (s *Service) load(ctx context.Context, gun string) (*trust.Repo, error) {
	repo, err := s.reader.Load(ctx, gun)
	if errors.Is(err, trust.ErrNoTrustData) {
		return nil, &errs.Error{Kind: errs.Conflict, Code: "no_trust_data",
			Message: fmt.Sprintf("%s has no trust data yet. Initialise it first (this creates its root and repository keys).", gun),
			Err:     err}
	}
	return repo, err
}

// repositoryKey returns the private targets key of repo: from the one-off
// PEM if given, else from the vault.
func (s *Service) repositoryKey(ctx context.Context, gun string, repo *trust.Repo, rk RepoKey) (data.PrivateKey, error) {
	ids := make([]string, 0, 2*len(repo.TargetsKeys))
	for _, k := range repo.TargetsKeys {
		ids = append(ids, k.ID)
		if k.TUFID != "" && k.TUFID != k.ID {
			ids = append(ids, k.TUFID)
		}
	}
	if len(ids) == 0 {
		return nil, errs.Conflictf("no_repository_key", "The trust data of %s lists no repository key.", gun)
	}
	if len(rk.OneOffPEM) > 0 {
		priv, _, err := vault.ParseOneOff(rk.OneOffPEM, rk.Passphrase)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, priv.ID()) {
			return nil, errs.Invalidf("not_repository_key",
				"The key given (%s) is not the repository key of %s (%s).", priv.ID(), gun, strings.Join(ids, ", "))
		}
		return priv, nil
	}
	info, err := s.vault.FindForRole(ctx, gun, data.CanonicalTargetsRole.String(), ids)
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, errs.Conflictf("key_not_in_vault",
			"The repository key of %s (%s) is not in trustdeck's key vault; import it or give the key file.", gun, strings.Join(ids, ", "))
	}
	return s.vault.Unlock(ctx, info.ID, rk.Passphrase)
}

// vaultKeyID is the ID of the vault's key for role in gun among keyIDs, ""
// when the vault holds none (the plans of operations offer it then).
func (s *Service) vaultKeyID(ctx context.Context, gun, role string, keyIDs []string) (string, error) {
	info, err := s.vault.FindForRole(ctx, gun, role, keyIDs)
	if de, ok := errs.As(err); ok && de.Code == "key_not_in_vault" {
		return "", nil
	}
	if err != nil || info == nil {
		return "", err
	}
	return info.ID, nil
}

// publish sends op's changes and drops what the reader knows about gun.
func (s *Service) publish(ctx context.Context, gun string, op *operation) error {
	if err := ctx.Err(); err != nil {
		return cancelled(gun, err)
	}
	err := op.repo.Publish()
	// Even a failed publish may have reached the server.
	s.reader.Invalidate(gun)
	if err != nil {
		werr := writeError(gun, "publish", err)
		if e, ok := errs.As(werr); ok && e.Code == "cannot_sign" {
			if rerr := s.rootExpiring(ctx, gun, werr); rerr != nil {
				return rerr
			}
		}
		return werr
	}
	return nil
}

// rootExpiring explains a publish that could not be signed when the cause is
// root nearing its expiry: notary's client then signs root again with every
// change, and trustdeck's changes carry no root key. nil otherwise.
func (s *Service) rootExpiring(ctx context.Context, gun string, cause error) error {
	repo, err := s.reader.Load(ctx, gun)
	if err != nil {
		return nil
	}
	for _, m := range repo.Roles {
		if m.Role != data.CanonicalRootRole.String() || time.Until(m.Expires) > trust.RootResignWithin {
			continue
		}
		return &errs.Error{Kind: errs.Conflict, Code: "root_expiring", Err: cause,
			Message: fmt.Sprintf("The root metadata of %s expires on %s. From six months before that, notary signs root "+
				"again with every change, which needs the root key, and trustdeck signs with the repository key only. "+
				"Rotate the root key first, with the notary CLI that holds it: notary key rotate %s root "+
				"(this renews the root certificate too); then try again.",
				gun, m.Expires.UTC().Format("2006-01-02 15:04 UTC"), gun)}
	}
	return nil
}

func cancelled(gun string, err error) error {
	return &errs.Error{Kind: errs.Unavailable, Code: "cancelled",
		Message: fmt.Sprintf("The change to %s was cancelled.", gun), Err: err}
}

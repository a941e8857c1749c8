// Package removal is the service behind "delete a repository": it shows what
// would be lost, backs up the trust data, deletes it on the Notary server,
// optionally deletes the vault's keys of the GUN, and only then removes the
// catalog entry. Every step reads the real state first, so the workflow can
// resume after a failure and repeating a finished step is harmless.
package removal

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/vault"
)

// Reader loads verified trust data.
type Reader interface {
	Load(ctx context.Context, gun string) (*trust.Repo, error)
	// LoadAllowingExpiry verifies everything Load does but expiry; it reads
	// repositories whose metadata expired, for their backup.
	LoadAllowingExpiry(ctx context.Context, gun string) (*trust.Repo, error)
	Invalidate(gun string)
}

// Keys is the part of the vault removal uses.
type Keys interface {
	List(ctx context.Context, gun string) ([]vault.KeyInfo, error)
	Delete(ctx context.Context, keyID string) error
}

// Catalog is the part of the catalog removal uses.
type Catalog interface {
	Get(ctx context.Context, namespace, name string) (*catalog.Repository, error)
	Delete(ctx context.Context, namespace, name string) error
	// Visible lists every repository of namespaces (nil: all), for Export.
	Visible(ctx context.Context, namespaces []string) ([]catalog.Repository, error)
}

// DeleteTrustFunc deletes a GUN's trust data on the Notary server as actor,
// through the same code path as `DELETE /v2/<gun>/_trust/tuf/`.
type DeleteTrustFunc func(ctx context.Context, gun, actor string) error

// Service implements the removal workflow.
type Service struct {
	reader  Reader
	keys    Keys
	catalog Catalog
	delete  DeleteTrustFunc
	journal audit.Journal
	now     func() time.Time
	lockGUN func(gun string) (unlock func())
	// notaryURL is the Notary server trust data is read from, as backups'
	// manifests name it.
	notaryURL string
}

// New returns the removal service. Every deletion of trust data is recorded
// in journal, which audits it.
func New(reader Reader, keys Keys, cat Catalog, del DeleteTrustFunc, journal audit.Journal) *Service {
	return &Service{reader: reader, keys: keys, catalog: cat, delete: del, journal: journal, now: time.Now}
}

// LockGUNsWith makes DeleteRepository hold lock(gun) while it checks for
// trust data and removes the catalog entry: the embedded Notary server
// admits and stores every update of a GUN under the same lock, so no push
// can land between the check and the removal.
func (s *Service) LockGUNsWith(lock func(gun string) (unlock func())) { s.lockGUN = lock }

// RecordSource sets the URL of the Notary server the trust data is read
// from, which backups' manifests name (notary_url): where clients fetched it.
func (s *Service) RecordSource(notaryURL string) { s.notaryURL = notaryURL }

// State is what a repository still holds, read fresh.
type State struct {
	Repository *catalog.Repository
	// Repo is the verified trust data; nil without trust data or when it
	// could not be read (TrustError says why). If some of its metadata has
	// expired, Repo was verified in every other respect and Expired lists
	// the expired roles: docker refuses such data, but it can be backed up.
	Repo       *trust.Repo
	HasTrust   bool
	TrustError error
	Expired    []trust.RoleMeta
	VaultKeys  []vault.KeyInfo
}

// State reads the repository's current state.
func (s *Service) State(ctx context.Context, namespace, name string) (*State, error) {
	r, err := s.catalog.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	st := &State{Repository: r}
	// Load always fetches the current timestamp, so the state is fresh
	// without dropping the verified cache.
	repo, err := s.load(ctx, r.GUN)
	switch {
	case errors.Is(err, trust.ErrNoTrustData):
	case err != nil:
		// Unknown: treat as possibly present, so nothing is removed blindly.
		st.HasTrust, st.TrustError = true, err
	default:
		st.Repo, st.HasTrust, st.Expired = repo, true, repo.ExpiredRoles()
	}
	if st.VaultKeys, err = s.keys.List(ctx, r.GUN); err != nil {
		return nil, err
	}
	return st, nil
}

// load reads gun's trust data as docker would verify it; if that fails only
// because metadata expired, or leaves out delegations, it reads it again
// verifying everything but expiry, so that expired (abandoned) repositories
// and expired signers' roles can be backed up too. Data that fails any other
// check is refused either way.
func (s *Service) load(ctx context.Context, gun string) (*trust.Repo, error) {
	repo, err := s.reader.Load(ctx, gun)
	switch {
	case errors.Is(err, trust.ErrExpired):
		return s.reader.LoadAllowingExpiry(ctx, gun)
	case err == nil && len(repo.SkippedRoles) > 0:
		// Expired delegations are skipped by Load; keep them if they verify.
		if all, aerr := s.reader.LoadAllowingExpiry(ctx, gun); aerr == nil {
			return all, nil
		}
	}
	return repo, err
}

// ManifestEntry describes one file of a backup.
type ManifestEntry struct {
	Role    string    `json:"role"`
	File    string    `json:"file"`
	Version int       `json:"version"`
	Expires time.Time `json:"expires"`
	// Expired is set when the role had expired at backup time.
	Expired bool   `json:"expired,omitempty"`
	SHA256  string `json:"sha256"`
	Size    int    `json:"size"`
}

// ExpiredRole is a role whose metadata had expired at backup time.
type ExpiredRole struct {
	Role    string    `json:"role"`
	Expires time.Time `json:"expires"`
}

// RootKey is a key root.json lists for the root role.
type RootKey struct {
	// ID is the key's ID in root.json: for a certificate, the
	// certificate's, which docker prints as the Root Key and notary's trust
	// pinning uses.
	ID string `json:"id"`
	// CanonicalID is the ID of the public key itself, which `notary key
	// list` shows and private key files are named after.
	CanonicalID string `json:"canonical_id"`
}

// Manifest is manifest.json of a backup. Archives made before notary_url
// and root_keys existed lack them; `trustdeck verify` needs neither (it
// reads the root keys from root.json, and created_at is in every manifest).
type Manifest struct {
	GUN       string    `json:"gun"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	// NotaryURL is the Notary server the trust data was read from.
	NotaryURL string `json:"notary_url,omitempty"`
	// RootKeys are the root keys root.json lists, in its order: write one
	// down to pin the root when verifying (trustdeck verify --root-key-id).
	RootKeys []RootKey       `json:"root_keys,omitempty"`
	Files    []ManifestEntry `json:"files"`
	// Expired lists the roles whose metadata had expired at backup time (they
	// are in the backup, verified in every other respect). Docker refuses
	// such trust data; it must be signed again, with those roles' keys,
	// before anyone can pull with content trust.
	Expired []ExpiredRole `json:"expired_roles,omitempty"`
	// Skipped lists delegation roles whose metadata did not verify (badly
	// signed, or listed by the snapshot but no longer delegated) and is
	// therefore not in the backup.
	Skipped []string `json:"skipped_roles,omitempty"`
}

// Backup returns a gzip'd tar archive of the GUN's current trust metadata:
// every role's JSON exactly as the server serves it, named as the Notary API
// names it, under one top folder, with manifest.json and README.txt.
// Expired metadata is backed up too (see load); the manifest and the README
// name the roles that had expired.
func (s *Service) Backup(ctx context.Context, gun, actor string) (filename string, archive []byte, err error) {
	repo, err := s.load(ctx, gun)
	if errors.Is(err, trust.ErrNoTrustData) {
		return "", nil, errs.NotFoundf("no_trust_data", "%s has no trust data to back up.", gun)
	}
	if err != nil {
		return "", nil, err
	}
	return Archive(gun, repo, s.now(), actor, s.notaryURL)
}

// Archive is the backup archive of repo, gun's verified trust data, made at
// at by actor from the Notary server at notaryURL: exactly what Backup gives
// for a live repository. An archived repository is downloaded through it.
func Archive(gun string, repo *trust.Repo, at time.Time, actor, notaryURL string) (filename string, archive []byte, err error) {
	at = at.UTC()
	top := folderName(gun) + "-trust-" + stamp(at)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if _, err := writeBackup(tw, top, top+".tar.gz", gun, repo, at, actor, notaryURL); err != nil {
		return "", nil, err
	}
	if err := tw.Close(); err != nil {
		return "", nil, err
	}
	if err := gz.Close(); err != nil {
		return "", nil, err
	}
	return top + ".tar.gz", buf.Bytes(), nil
}

// folderName is the name a GUN's backup folder starts with: the GUN with
// "/" and ":" replaced by "_".
func folderName(gun string) string { return strings.NewReplacer("/", "_", ":", "_").Replace(gun) }

// stamp is at (UTC) as archive names show it.
func stamp(at time.Time) string { return at.UTC().Format("20060102T150405Z") }

// addFile writes one regular file into tw.
func addFile(tw *tar.Writer, name string, body []byte, at time.Time) error {
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: at, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := tw.Write(body)
	return err
}

// writeBackup writes the backup of gun's trust data (repo) into tw, under
// the folder dir: every role's JSON as served, manifest.json and README.txt.
// archive is the name of the archive dir is in (the README says how to
// unpack it). Backup and Export both write repositories through it, so a
// repository's folder in an export is its backup.
func writeBackup(tw *tar.Writer, dir, archive, gun string, repo *trust.Repo, at time.Time, actor, notaryURL string) (Manifest, error) {
	m := Manifest{GUN: gun, CreatedAt: at, CreatedBy: actor, NotaryURL: notaryURL, Skipped: repo.SkippedRoles}
	for _, k := range repo.RootKeys {
		m.RootKeys = append(m.RootKeys, RootKey{ID: k.TUFID, CanonicalID: k.ID})
	}
	add := func(name string, body []byte) error { return addFile(tw, dir+"/"+name, body, at) }
	expired := map[string]bool{}
	for _, r := range repo.ExpiredRoles() {
		expired[r.Role] = true
		m.Expired = append(m.Expired, ExpiredRole{Role: r.Role, Expires: r.Expires.UTC()})
	}
	for _, r := range repo.Roles {
		file := r.Role + ".json"
		sum := sha256.Sum256(r.Raw)
		m.Files = append(m.Files, ManifestEntry{Role: r.Role, File: file, Version: r.Version, Expires: r.Expires,
			Expired: expired[r.Role], SHA256: hex.EncodeToString(sum[:]), Size: len(r.Raw)})
		if err := add(file, r.Raw); err != nil {
			return m, err
		}
	}
	mj, _ := json.MarshalIndent(m, "", "  ")
	if err := add("manifest.json", append(mj, '\n')); err != nil {
		return m, err
	}
	text := readme(gun, archive, dir)
	if len(m.Expired) > 0 {
		text += expiredNote(at, m.Expired)
	}
	if len(m.Skipped) > 0 {
		text += "\nINCOMPLETE: these delegation roles did not verify (badly signed, or no longer\ndelegated) and are not in this backup: " + strings.Join(m.Skipped, ", ") + "\n"
	}
	return m, add("README.txt", []byte(text))
}

// readme is a backup's README.txt; dir is its folder in archive.
func readme(gun, archive, dir string) string {
	return fmt.Sprintf(`Docker Content Trust (Notary v1) metadata of %s, backed up by trustdeck.

Every file is the role's signed JSON exactly as the Notary server served it,
named as the Notary API names it (GET /v2/<gun>/_trust/tuf/<role>.json).
manifest.json lists each role's version, expiry and sha256.

Inspect:
  tar -xzf %s && cd %s
  sha256sum *.json targets/*.json      # compare with manifest.json
  python3 -m json.tool targets.json     # signed tags are under signed.targets

Verify offline (every signature, hash and length, expiry as of the time of
the backup; prints what docker trust inspect --pretty printed then), pinning
the root to one of the root key IDs manifest.json lists:
  trustdeck verify --root-key-id <root key ID> <this archive>

Restore: these files are the complete signed state. To publish them again
to an empty Notary server, upload them in one atomic update (the API a notary
client uses): root.json, targets.json and every targets/<signer>.json as parts
of a multipart POST to /v2/<gun>/_trust/tuf/ — the server signs a new snapshot
and timestamp. Signatures stay valid until each file's "expires"; after that,
the keys that signed them (root, repository, signers) are needed to re-sign.
`, gun, archive, dir)
}

// expiredNote is the README's section on roles that had expired.
func expiredNote(at time.Time, expired []ExpiredRole) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nEXPIRED: when this backup was made (%s),\nthe metadata of these roles had already expired:\n", at.Format(time.RFC3339))
	for _, e := range expired {
		fmt.Fprintf(&b, "  %-20s expired %s\n", e.Role, e.Expires.UTC().Format(time.RFC3339))
	}
	b.WriteString(`Docker clients with content trust refuse expired metadata: an expired root,
targets or snapshot makes the whole repository unreadable, an expired signer's
role is ignored. Apart from expiry these files were verified as usual
(signatures, thresholds, hashes and lengths) and are exactly as the Notary
server served them. A Notary server refuses expired metadata in an upload (and
docker would refuse it anyway): sign those roles anew with their keys (the
root key for root, the repository key for targets, the signers' keys for their
roles) before restoring them. manifest.json lists them under "expired_roles".
`)
	return b.String()
}

// DeleteTrust deletes the GUN's trust data on the Notary server (nothing is
// sent if there is none: a retry of a deletion whose answer was lost finds
// it done), then, if deleteKeys, the vault's keys of that GUN. It returns
// the IDs of the keys deleted. A deletion sent without an answer is errs
// OutcomeUnknown, and keeps the keys.
func (s *Service) DeleteTrust(ctx context.Context, r *catalog.Repository, actor string, deleteKeys bool) ([]string, error) {
	if _, err := s.reader.Load(ctx, r.GUN); errors.Is(err, trust.ErrNoTrustData) {
		s.journal.Settle(ctx, r.GUN, audit.TrustDelete, "")
	} else {
		id, err := s.journal.Begin(ctx, audit.Attempt{Actor: actor, Action: audit.TrustDelete, GUN: r.GUN, Deletion: true,
			Detail: "all trust data deleted"})
		if err != nil {
			return nil, err
		}
		err = s.delete(ctx, r.GUN, actor)
		s.journal.Resolve(ctx, id, audit.OutcomeOf(err))
		s.reader.Invalidate(r.GUN)
		if err != nil {
			return nil, err
		}
	}
	if !deleteKeys {
		return nil, nil
	}
	list, err := s.keys.List(ctx, r.GUN)
	if err != nil {
		return nil, err
	}
	var deleted []string
	for _, k := range list {
		if k.GUN != r.GUN { // global keys (root keys) may serve other repositories
			continue
		}
		if err := s.keys.Delete(ctx, k.ID); err != nil {
			return deleted, err
		}
		deleted = append(deleted, k.ID)
	}
	return deleted, nil
}

// DeleteRepository removes the catalog entry once no trust data remains.
func (s *Service) DeleteRepository(ctx context.Context, namespace, name string) error {
	if s.lockGUN != nil {
		r, err := s.catalog.Get(ctx, namespace, name)
		if err != nil {
			return err
		}
		defer s.lockGUN(r.GUN)()
	}
	st, err := s.State(ctx, namespace, name)
	if err != nil {
		return err
	}
	if st.HasTrust {
		if st.TrustError != nil {
			return errs.Conflictf("trust_data_unknown",
				"Cannot tell whether %s still has trust data (%s): delete its trust data first, then try again.",
				st.Repository.GUN, st.TrustError.Error())
		}
		return errs.Conflictf("trust_data_exists",
			"%s still has trust data: back it up and delete the trust data first (DELETE /api/v1/repositories/%s/%s/trust), then remove the repository.",
			st.Repository.GUN, namespace, name)
	}
	if err := s.catalog.Delete(ctx, namespace, name); err != nil {
		return err
	}
	s.reader.Invalidate(st.Repository.GUN)
	return nil
}

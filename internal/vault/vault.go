package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/keys"
	"github.com/trustdeck/trustdeck/internal/store"
)

const (
	// MaxKeyFileSize bounds an uploaded private key file; docker's are
	// well under 2 KiB (RSA 4096 about 3.5 KiB).
	MaxKeyFileSize = 64 << 10
	// MinPassphraseLength is the shortest passphrase Generate accepts, the
	// notary CLI's own minimum for new keys.
	MinPassphraseLength = 8
	// MaxKeyIterations bounds the PBKDF2 iteration count an encrypted key
	// file may name: the file chooses it, and notary derives the key with
	// however many it says (2^31 rounds keep a core busy for a quarter of
	// an hour on every import or unlock). Docker and notary write 2048;
	// the bound costs about 40 ms per attempt.
	MaxKeyIterations = 100_000
)

// KeyInfo describes a key in the vault; it never carries key material.
type KeyInfo struct {
	ID        string    `json:"id"`   // canonical key ID: docker's file name <id>.key
	Role      string    `json:"role"` // the key file's role header: root, targets, a signer name, ...
	GUN       string    `json:"gun"`  // "" for a global key (root keys, delegation keys)
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	Algorithm string    `json:"algorithm"` // e.g. "ECDSA P-256"
	// MadeFor is the repository (GUN) a global key was generated for: a
	// root key's repository ("" when not known, as for imported keys).
	MadeFor string `json:"made_for,omitempty"`
	// ExportedAt is when the key was first downloaded (nil: never).
	ExportedAt *time.Time `json:"exported_at,omitempty"`
}

// Repository is the GUN the key belongs to: its gun header's, or the one it
// was made for ("" when not known).
func (k KeyInfo) Repository() string {
	if k.GUN != "" {
		return k.GUN
	}
	return k.MadeFor
}

// Global reports whether the key is not tied to one GUN.
func (k KeyInfo) Global() bool { return k.GUN == "" }

// Vault holds private keys for GUNs (root, repository and delegation keys) on
// behalf of trustdeck's users.
//
// A key is kept exactly as a docker trust directory holds it
// (~/.docker/trust/private/<id>.key: PKCS#8 encrypted with the key's own
// passphrase, with "role" and "gun" PEM headers), so an exported file works
// with the docker and notary CLIs, and that file is sealed once more with the
// data directory's key (the key ID as additional data) in the database.
// Neither the passphrase nor the decrypted key is stored or logged; a key is
// decrypted in memory only for the operation that asked for it (Unlock).
//
// Callers authorise (who may see, unlock or delete keys of which GUN; global
// keys have no GUN) and record audit events; the vault records who created
// each key. Unlock answers whether a passphrase is right: callers exposing it
// to users should throttle failed attempts.
//
// All methods are safe for concurrent use.
type Vault struct {
	st     *store.Store
	sealer Sealer
}

// New returns the vault over the vault_keys table, sealing with sealer.
func New(st *store.Store, sealer Sealer) *Vault {
	return &Vault{st: st, sealer: sealer}
}

// Import stores a private key file as docker and notary write it. The file
// must be passphrase-protected and passphrase must open it; its role header
// says what the key is for and its gun header which GUN (root and delegation
// keys are global, like in notary's key store). An encrypted key in the
// legacy PEM format of older notary versions ("EC PRIVATE KEY" with
// Proc-Type headers) is converted to PKCS#8 under the same
// passphrase. Importing a key already in the vault is an errs.Conflict.
func (v *Vault) Import(ctx context.Context, pemBytes []byte, passphrase, actor string) (*KeyInfo, error) {
	kf, err := readKeyFile(pemBytes)
	if err != nil {
		return nil, err
	}
	if !kf.encrypted {
		return nil, errKeyNotEncrypted()
	}
	role, gun, err := kf.roleAndGUN()
	if err != nil {
		return nil, err
	}
	if passphrase == "" {
		return nil, errs.Invalidf("passphrase_required", "Enter the passphrase of the %s.", describeRole(role, gun))
	}
	priv, err := kf.decrypt(passphrase)
	if err != nil {
		if errors.Is(err, errWrongPassphrase) {
			return nil, &errs.Error{Kind: errs.Invalid, Code: "wrong_passphrase",
				Message: fmt.Sprintf("Wrong passphrase for the %s in this file.", describeRole(role, gun))}
		}
		return nil, err
	}
	id, err := canonicalID(priv)
	if err != nil {
		return nil, err
	}
	stored := pem.EncodeToMemory(kf.block)
	if kf.legacy {
		if stored, err = utils.ConvertPrivateKeyToPKCS8(priv, data.RoleName(kf.block.Headers["role"]),
			data.GUN(kf.block.Headers["gun"]), passphrase); err != nil {
			return nil, fmt.Errorf("vault: convert legacy key %s to PKCS#8: %w", id, err)
		}
	}
	return v.insert(ctx, id, role, gun, priv, stored, actor, "")
}

// PeekGUN reads, without decrypting, which GUN a key file is for, so callers
// can authorise an import before the passphrase is tried: "" for a global
// key (root and delegation keys). It refuses what Import would refuse
// without the passphrase: files that are not one encrypted private key with
// valid role and gun headers.
func PeekGUN(pemBytes []byte) (string, error) {
	kf, err := readKeyFile(pemBytes)
	if err != nil {
		return "", err
	}
	if !kf.encrypted {
		return "", errKeyNotEncrypted()
	}
	_, gun, err := kf.roleAndGUN()
	return gun, err
}

// Generate creates an ECDSA P-256 key for role (root, targets, or a
// delegation) and gun (required for targets; ignored for global keys),
// stores it encrypted with passphrase and returns it with its description.
func (v *Vault) Generate(ctx context.Context, role, gun, passphrase, actor string) (data.PrivateKey, *KeyInfo, error) {
	madeFor := gun
	role, gun, err := checkRoleAndGUN(role, gun)
	if err != nil {
		return nil, nil, err
	}
	if err := checkNewPassphrase(passphrase); err != nil {
		return nil, nil, err
	}
	priv, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("vault: generate key: %w", err)
	}
	id, err := canonicalID(priv)
	if err != nil {
		return nil, nil, err
	}
	file, err := utils.ConvertPrivateKeyToPKCS8(priv, data.RoleName(role), data.GUN(gun), passphrase)
	if err != nil {
		return nil, nil, fmt.Errorf("vault: encrypt key %s: %w", id, err)
	}
	info, err := v.insert(ctx, id, role, gun, priv, file, actor, madeFor)
	if err != nil {
		return nil, nil, err
	}
	return priv, info, nil
}

func (v *Vault) insert(ctx context.Context, id, role, gun string, priv data.PrivateKey, file []byte, actor, madeFor string) (*KeyInfo, error) {
	alg := keys.DescribeTUF(data.PublicKeyFromPrivate(priv))
	err := v.st.InsertVaultKey(ctx, store.VaultKey{
		KeyID:     id,
		Role:      role,
		GUN:       gun,
		Algorithm: alg,
		SealedPEM: v.sealer.Seal(file, []byte(id)),
		CreatedBy: actor,
		MadeFor:   madeFor,
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, errs.Conflictf("key_exists", "Key %s is already in the vault.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: store key %s: %w", id, err)
	}
	return v.Get(ctx, id)
}

// Unlock decrypts one key with its passphrase, in memory, for one operation.
// A key the vault does not hold is an errs.Conflict with code
// "key_not_in_vault" naming the key to import; a wrong passphrase is an
// errs.Invalid with code "wrong_passphrase". The key's ID is computed, so it
// may be shared between goroutines.
func (v *Vault) Unlock(ctx context.Context, keyID, passphrase string) (data.PrivateKey, error) {
	row, err := v.st.GetVaultKey(ctx, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notInVault(keyID)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read key %s: %w", keyID, err)
	}
	priv, err := openSealed(v.sealer, row.SealedPEM, []byte(row.KeyID), passphrase, "vault", "key "+keyID)
	if err != nil {
		return nil, err
	}
	if id, err := canonicalID(priv); err != nil || id != keyID {
		return nil, fmt.Errorf("vault: stored key %s decrypts to another key (%s, %v)", keyID, id, err)
	}
	return priv, nil
}

// openSealed unseals a stored key file (additional data ad) and decrypts it
// with passphrase. what names the key in messages ("key <id>"), prefix the
// service in internal errors. A missing passphrase is an errs.Invalid
// "passphrase_required", a wrong one "wrong_passphrase".
func openSealed(sealer Sealer, sealed, ad []byte, passphrase, prefix, what string) (data.PrivateKey, error) {
	if passphrase == "" {
		return nil, errs.Invalidf("passphrase_required", "Enter the passphrase of %s.", what)
	}
	file, err := sealer.Open(sealed, ad)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", prefix, what, err)
	}
	kf, err := readKeyFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: stored %s is damaged: %w", prefix, what, err)
	}
	priv, err := kf.decrypt(passphrase)
	if errors.Is(err, errWrongPassphrase) {
		return nil, errs.Invalidf("wrong_passphrase", "Wrong passphrase for %s.", what)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: stored %s: %w", prefix, what, err)
	}
	return priv, nil
}

// Get describes one key; errs.NotFound if the vault does not hold it.
func (v *Vault) Get(ctx context.Context, keyID string) (*KeyInfo, error) {
	row, err := v.st.GetVaultKey(ctx, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.NotFoundf("key_not_found", "Key %s is not in the vault.", keyID)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read key %s: %w", keyID, err)
	}
	info := keyInfo(*row)
	return &info, nil
}

// List describes the keys recorded for exactly this GUN (global keys are
// not included), or every key when gun is "", ordered by GUN, role and age.
func (v *Vault) List(ctx context.Context, gun string) ([]KeyInfo, error) {
	rows, err := v.st.ListVaultKeys(ctx, gun)
	if err != nil {
		return nil, fmt.Errorf("vault: list keys: %w", err)
	}
	out := make([]KeyInfo, len(rows))
	for i, r := range rows {
		out[i] = keyInfo(r)
	}
	return out, nil
}

// Export returns a key's file exactly as a docker trust directory holds it,
// still encrypted with the key's passphrase, and its file name there
// (<id>.key, under ~/.docker/trust/private/), and records that the key was
// downloaded (KeyInfo.ExportedAt).
func (v *Vault) Export(ctx context.Context, keyID string) (string, []byte, error) {
	row, err := v.st.GetVaultKey(ctx, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, errs.NotFoundf("key_not_found", "Key %s is not in the vault.", keyID)
	}
	if err != nil {
		return "", nil, fmt.Errorf("vault: read key %s: %w", keyID, err)
	}
	file, err := v.sealer.Open(row.SealedPEM, []byte(row.KeyID))
	if err != nil {
		return "", nil, fmt.Errorf("vault: key %s: %w", keyID, err)
	}
	if err := v.st.MarkVaultKeyExported(ctx, keyID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", nil, fmt.Errorf("vault: key %s: %w", keyID, err)
	}
	return row.KeyID + ".key", file, nil
}

// Unrecoverable reports a key whose removal loses it for good: a root key
// that was never downloaded (trustdeck holds its only copy as far as it
// knows). Removing it needs a typed confirmation (ConfirmRemoval).
func (k KeyInfo) Unrecoverable() bool {
	return k.Role == data.CanonicalRootRole.String() && k.ExportedAt == nil
}

// ConfirmRemoval is what a user types to remove an unrecoverable key: its
// ID cut to 12 characters, as the pages show it.
func (k KeyInfo) ConfirmRemoval() string { return k.ID[:min(12, len(k.ID))] }

// Remove deletes a key a user asked to remove: a key that would be lost for
// good (Unrecoverable) only when confirm is its ConfirmRemoval (or its
// whole ID), else errs.Invalid "confirm_required" saying why and changing
// nothing. errs.NotFound if the vault does not hold the key.
func (v *Vault) Remove(ctx context.Context, keyID, confirm string) error {
	k, err := v.Get(ctx, keyID)
	if err != nil {
		return err
	}
	if k.Unrecoverable() && confirm != k.ConfirmRemoval() && confirm != k.ID {
		whose := "its repository"
		if r := k.Repository(); r != "" {
			whose = r
		}
		return errs.Invalidf("confirm_required",
			"The root key %s was never downloaded: removed from the vault it cannot be recovered, and nobody could rotate the root key of %s or renew its root again. "+
				"Download it first and keep it offline, or type its ID (%s) to confirm that it is lost.", k.ID, whose, k.ConfirmRemoval())
	}
	return v.Delete(ctx, keyID)
}

// Delete removes a key from the vault; errs.NotFound if it is not there.
func (v *Vault) Delete(ctx context.Context, keyID string) error {
	err := v.st.DeleteVaultKey(ctx, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return errs.NotFoundf("key_not_found", "Key %s is not in the vault.", keyID)
	}
	if err != nil {
		return fmt.Errorf("vault: delete key %s: %w", keyID, err)
	}
	return nil
}

// FindForRole says which of keyIDs (the canonical IDs of the keys the
// metadata lists for role; for root, utils.CanonicalKeyID of the
// certificates in root.json) the vault holds. Key IDs are content addresses,
// so any held key among them can sign for the role, as in notary's own key
// store; when several are held it prefers one recorded for this role and
// GUN, then one recorded for this role as a global key (root and delegation
// keys), then the first in keyIDs order. A delegation role "targets/<name>"
// also matches keys whose role header is the bare signer name, as
// `docker trust key generate <name>` writes them. None held: errs.Conflict
// with code "key_not_in_vault" naming the IDs to import.
func (v *Vault) FindForRole(ctx context.Context, gun, role string, keyIDs []string) (*KeyInfo, error) {
	rows, err := v.st.VaultKeysByID(ctx, keyIDs)
	if err != nil {
		return nil, fmt.Errorf("vault: find keys: %w", err)
	}
	if len(rows) == 0 {
		if len(keyIDs) == 0 {
			return nil, errs.Conflictf("key_not_in_vault", "The metadata of %s lists no key for %s.", gun, role)
		}
		if len(keyIDs) == 1 {
			return nil, notInVault(keyIDs[0])
		}
		return nil, &errs.Error{Kind: errs.Conflict, Code: "key_not_in_vault",
			Message: fmt.Sprintf("The vault holds no key for %s of %s: import one of these keys: %s.",
				role, gun, strings.Join(keyIDs, ", "))}
	}
	rank := func(k store.VaultKey) int {
		roleMatch := k.Role == role || (data.IsDelegation(data.RoleName(role)) && "targets/"+k.Role == role)
		switch {
		case roleMatch && k.GUN == gun:
			return 0
		case roleMatch && k.GUN == "":
			return 1
		default:
			return 2
		}
	}
	slices.SortFunc(rows, func(a, b store.VaultKey) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return slices.Index(keyIDs, a.KeyID) - slices.Index(keyIDs, b.KeyID)
	})
	info := keyInfo(rows[0])
	return &info, nil
}

// ParseOneOff decrypts an uploaded private key file for a single operation
// without storing it, and returns the key and its role header ("" if none).
// Unlike Import it accepts an unencrypted file (with an empty passphrase).
func ParseOneOff(pemBytes []byte, passphrase string) (data.PrivateKey, string, error) {
	kf, err := readKeyFile(pemBytes)
	if err != nil {
		return nil, "", err
	}
	if kf.encrypted && passphrase == "" {
		return nil, "", errs.Invalidf("passphrase_required", "The key file is passphrase-protected: enter its passphrase.")
	}
	priv, err := kf.decrypt(passphrase)
	if errors.Is(err, errWrongPassphrase) {
		return nil, "", errs.Invalidf("wrong_passphrase", "Wrong passphrase for this key file.")
	}
	if err != nil {
		return nil, "", err
	}
	if _, err := canonicalID(priv); err != nil {
		return nil, "", err
	}
	return priv, kf.block.Headers["role"], nil
}

func keyInfo(r store.VaultKey) KeyInfo {
	k := KeyInfo{ID: r.KeyID, Role: r.Role, GUN: r.GUN, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
		Algorithm: r.Algorithm, MadeFor: r.MadeFor}
	if !r.ExportedAt.IsZero() {
		t := r.ExportedAt
		k.ExportedAt = &t
	}
	return k
}

func errKeyNotEncrypted() error {
	return errs.Invalidf("key_not_encrypted",
		"This key file is not passphrase-protected, and the vault stores only encrypted keys: "+
			"load it with `docker trust key load` (which asks for a passphrase) and upload the file it writes to ~/.docker/trust/private/.")
}

func notInVault(keyID string) error {
	return errs.Conflictf("key_not_in_vault",
		"Key %s is not in the vault: import its key file (%s.key, from ~/.docker/trust/private/ where it was created) first.",
		keyID, keyID)
}

// keyFile is one private key PEM block as docker or notary write it.
type keyFile struct {
	block     *pem.Block
	encrypted bool
	legacy    bool // "EC PRIVATE KEY" and friends, written by older notary versions
}

func readKeyFile(pemBytes []byte) (*keyFile, error) {
	if len(bytes.TrimSpace(pemBytes)) == 0 {
		return nil, errs.Invalidf("empty_key", "The key file is empty.")
	}
	if len(pemBytes) > MaxKeyFileSize {
		return nil, &errs.Error{Kind: errs.TooLarge, Code: "key_too_large",
			Message: fmt.Sprintf("The key file is larger than %d bytes: a private key file is a few kilobytes.", MaxKeyFileSize)}
	}
	var blocks []*pem.Block
	for rest := pemBytes; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	switch {
	case len(blocks) == 0:
		return nil, errs.Invalidf("not_pem",
			"The file is not a PEM key file: upload a private key file from ~/.docker/trust/private/ (-----BEGIN ENCRYPTED PRIVATE KEY-----).")
	case len(blocks) > 1:
		return nil, errs.Invalidf("several_pem_blocks", "The file holds %d PEM blocks: upload exactly one private key.", len(blocks))
	}
	b := blocks[0]
	switch b.Type {
	case "ENCRYPTED PRIVATE KEY":
		if n, ok := pbkdf2Iterations(b.Bytes); ok && n > MaxKeyIterations {
			return nil, errs.Invalidf("key_iterations",
				"The key file's encryption asks for %d PBKDF2 iterations; trustdeck reads at most %d (docker writes 2048): "+
					"load the key with `docker trust key load` and upload the file it writes to ~/.docker/trust/private/.",
				n, MaxKeyIterations)
		}
		return &keyFile{block: b, encrypted: true}, nil
	case "PRIVATE KEY":
		return &keyFile{block: b}, nil
	case "EC PRIVATE KEY", "RSA PRIVATE KEY", "ED25519 PRIVATE KEY":
		//lint:ignore SA1019 reading notary's legacy encrypted key files needs it
		return &keyFile{block: b, legacy: true, encrypted: x509.IsEncryptedPEMBlock(b)}, nil
	case "CERTIFICATE", "PUBLIC KEY":
		return nil, errs.Invalidf("not_private_key",
			"This is a %s, not a private key: upload the key file (<id>.key) from ~/.docker/trust/private/.", strings.ToLower(b.Type))
	default:
		return nil, errs.Invalidf("unsupported_pem_type", "Unsupported PEM block %q: upload a private key file.", b.Type)
	}
}

// encryptedKeyInfo is an encrypted PKCS#8 key (RFC 5208
// EncryptedPrivateKeyInfo) with PBES2 and PBKDF2 parameters (RFC 8018), as
// docker writes it. It asks no more of a file than notary's decryption does.
type encryptedKeyInfo struct {
	Algorithm struct {
		ID     asn1.ObjectIdentifier
		Params struct {
			KDF struct {
				ID     asn1.ObjectIdentifier
				Params struct {
					Salt       []byte
					Iterations int
				}
			}
			Cipher asn1.RawValue
		}
	}
	Data []byte
}

// pbkdf2Iterations reads the iteration count of an encrypted PKCS#8 key.
// ok is false when the file is not of that shape, which notary cannot
// decrypt either.
func pbkdf2Iterations(der []byte) (n int, ok bool) {
	var info encryptedKeyInfo
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		return 0, false
	}
	return info.Algorithm.Params.KDF.Params.Iterations, true
}

var errWrongPassphrase = errors.New("wrong passphrase")

// decrypt opens the key with passphrase. A wrong passphrase gives
// errWrongPassphrase; other failures an errs.Invalid naming the problem.
func (kf *keyFile) decrypt(passphrase string) (priv data.PrivateKey, err error) {
	defer func() {
		if r := recover(); r != nil { // damaged ciphertext can panic in CBC decryption
			priv, err = nil, errs.Invalidf("damaged_key", "The key file is damaged: it cannot be decrypted.")
		}
	}()
	if !kf.encrypted {
		passphrase = "" // an unencrypted key needs none; notary would misread one
	}
	priv, err = utils.ParsePEMPrivateKey(pem.EncodeToMemory(kf.block), passphrase)
	if err == nil {
		if err := checkPrivate(priv); err != nil {
			return nil, err
		}
		// A wrong passphrase can, rarely, decrypt to bytes that still parse
		// (legacy Ed25519 files are only checked for length): a key is whole
		// only if it verifies its own signature.
		if checkPair(priv) != nil {
			if kf.encrypted {
				return nil, errWrongPassphrase
			}
			return nil, errs.Invalidf("damaged_key", "The key file is damaged: its private and public parts do not match.")
		}
		priv.ID() // computed now: keys are shared between goroutines
		return priv, nil
	}
	msg := err.Error()
	if kf.encrypted && (strings.Contains(msg, "incorrect password") || strings.Contains(msg, "could not decrypt") ||
		strings.Contains(msg, "could not parse DER")) {
		return nil, errWrongPassphrase
	}
	if kf.encrypted {
		return nil, &errs.Error{Kind: errs.Invalid, Code: "unreadable_key",
			Message: "The key file is damaged or encrypted in a way notary cannot read (it reads PKCS#8 with PBES2, PBKDF2 and AES-256-CBC, as docker writes it): " + msg + ".",
			Err:     err}
	}
	return nil, &errs.Error{Kind: errs.Invalid, Code: "unreadable_key",
		Message: "The key file cannot be read: " + msg + ".", Err: err}
}

// roleAndGUN reads and checks the file's role and gun headers.
func (kf *keyFile) roleAndGUN() (string, string, error) {
	role := kf.block.Headers["role"]
	if role == "" {
		return "", "", errs.Invalidf("no_role",
			"The key file has no role header: it is not a key file written by docker or notary (~/.docker/trust/private/<id>.key).")
	}
	return checkRoleAndGUN(role, kf.block.Headers["gun"])
}

var signerNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// checkRoleAndGUN accepts notary's base roles, delegations and the bare
// signer names docker gives delegation keys. Like notary's key store it
// makes root and delegation keys global; targets, snapshot and timestamp
// keys need a GUN.
func checkRoleAndGUN(role, gun string) (string, string, error) {
	r := data.RoleName(role)
	switch {
	case r == data.CanonicalRootRole:
		return role, "", nil
	case r == data.CanonicalTargetsRole || r == data.CanonicalSnapshotRole || r == data.CanonicalTimestampRole:
		if gun == "" {
			return "", "", errs.Invalidf("no_gun", "A %s key belongs to one repository, but the key file names none (gun header).", role)
		}
		if len(gun) > 255 || strings.ContainsAny(gun, " \t\r\n") {
			return "", "", errs.Invalidf("bad_gun", "The key file's gun header %q is not a repository name.", gun)
		}
		return role, gun, nil
	case data.IsDelegation(r) || signerNameRE.MatchString(role):
		return role, "", nil
	default:
		return "", "", errs.Invalidf("bad_role",
			"The key's role %q is not one notary knows: root, targets, snapshot, timestamp, targets/<signer> or a signer name.", role)
	}
}

func describeRole(role, gun string) string {
	if gun == "" {
		return role + " key"
	}
	return role + " key of " + gun
}

// checkPrivate refuses keys notary could not use: RSA under 2048 bits.
func checkPrivate(priv data.PrivateKey) error {
	pub := data.PublicKeyFromPrivate(priv)
	if pub.Algorithm() != data.RSAKey {
		return nil
	}
	k, err := x509.ParsePKIXPublicKey(pub.Public())
	if err != nil {
		return fmt.Errorf("vault: RSA public key: %w", err)
	}
	if r, ok := k.(*rsa.PublicKey); ok && r.N.BitLen() < keys.MinRSABits {
		return errs.Invalidf("rsa_too_short", "The key is RSA with %d bits; notary needs at least %d bits.", r.N.BitLen(), keys.MinRSABits)
	}
	return nil
}

// canonicalID is the ID docker names the key file by and lists for the key
// in targets metadata: the ID of the key's bare public part.
func canonicalID(priv data.PrivateKey) (string, error) {
	priv.ID() // computed now: keys are shared between goroutines
	id, err := utils.CanonicalKeyID(data.PublicKeyFromPrivate(priv))
	if err != nil {
		return "", fmt.Errorf("vault: key ID: %w", err)
	}
	return id, nil
}

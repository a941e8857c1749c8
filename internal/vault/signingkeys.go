package vault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/keys"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/store"
)

// Roles of signing keys.
const (
	RoleSigner = "signer" // the key signatures are made with (cosign key, Notation leaf)
	RoleCA     = "ca"     // the namespace CA that issued the Notation leaf
)

// SigningKeyInfo describes a key of the signature formats that follow
// Docker Content Trust; it never carries private key material.
type SigningKeyInfo struct {
	Namespace string `json:"namespace"`
	Format    string `json:"format"` // resign.FormatCosign or resign.FormatNotation
	Role      string `json:"role"`   // RoleSigner or RoleCA
	// KeyID is the SHA-256 (hex) of the public key's PKIX DER.
	KeyID     string `json:"key_id"`
	Algorithm string `json:"algorithm"`
	// PEM is the public key (cosign) or the certificate (Notation).
	PEM string `json:"pem"`
	// Subject and NotAfter describe a certificate (Notation).
	Subject  string    `json:"subject,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	// VaultKeyID names the DCT key of the vault a cosign key is (its
	// canonical notary ID), "" for a key generated for the format.
	VaultKeyID string    `json:"vault_key_id,omitempty"`
	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
}

// NotationNames are the subject attributes of the certificates trustdeck
// makes for Notation. Notation's trust policies pin signers by subject and
// require C, ST and O in it; empty fields take the defaults.
type NotationNames struct {
	Organization string // default "trustdeck"
	State        string // default "trustdeck"
	Country      string // two letters, default "XX" (unknown)
}

func (n NotationNames) withDefaults() NotationNames {
	if n.Organization == "" {
		n.Organization = "trustdeck"
	}
	if n.State == "" {
		n.State = "trustdeck"
	}
	if n.Country == "" {
		n.Country = "XX"
	}
	return n
}

// SigningKeys keeps the keys trustdeck signs cosign and Notation signatures
// with: per namespace, one cosign key (ECDSA P-256, generated, or an
// existing signer's key the Vault holds) and one Notation signing
// certificate with the namespace CA that issued it (ECDSA P-256, both
// generated). Private keys are encrypted with the passphrase the admin
// gives, exactly as the Vault encrypts DCT keys (PKCS#8, PBES2), and sealed
// once more with the data directory's key; the passphrase is never stored
// or logged. Callers authorise (namespace admins) and audit.
//
// All methods are safe for concurrent use.
type SigningKeys struct {
	st     *store.Store
	sealer Sealer
	vault  *Vault
	now    func() time.Time
}

// NewSigningKeys returns the signing keys service; vault lends existing
// signers' keys to cosign.
func NewSigningKeys(st *store.Store, sealer Sealer, vault *Vault) *SigningKeys {
	return &SigningKeys{st: st, sealer: sealer, vault: vault, now: time.Now}
}

// GenerateCosign creates the namespace's cosign key (ECDSA P-256, cosign's
// default) encrypted with passphrase. A namespace has one: errs.Conflict if
// it exists.
func (s *SigningKeys) GenerateCosign(ctx context.Context, namespace, passphrase, actor string) (*SigningKeyInfo, error) {
	if err := checkNewPassphrase(passphrase); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing keys: generate: %w", err)
	}
	row, err := s.sealedRow(namespace, resign.FormatCosign, RoleSigner, key, publicKeyPEM(key.Public()), passphrase, actor)
	if err != nil {
		return nil, err
	}
	if err := s.insert(ctx, row); err != nil {
		return nil, err
	}
	return s.get(ctx, namespace, resign.FormatCosign, RoleSigner)
}

// UseVaultKeyForCosign makes an existing DCT signer's key of the Vault the
// namespace's cosign key, so cosign signatures are made by the same key
// that signed in DCT. passphrase is that key's own; it must open it, and the
// key must be ECDSA P-256 (errs.Invalid "cosign_key_type" otherwise: RSA and
// Ed25519 keys stay DCT-only).
func (s *SigningKeys) UseVaultKeyForCosign(ctx context.Context, namespace, vaultKeyID, passphrase, actor string) (*SigningKeyInfo, error) {
	key, err := s.unlockVaultKey(ctx, vaultKeyID, passphrase)
	if err != nil {
		return nil, err
	}
	id, err := resign.PublicKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	if err := s.insert(ctx, store.SigningKey{
		Namespace: namespace, Format: resign.FormatCosign, Role: RoleSigner, KeyID: id,
		Algorithm: keys.Describe(key.Public()), PublicPEM: publicKeyPEM(key.Public()), VaultKeyID: vaultKeyID,
		CreatedBy: actor,
	}); err != nil {
		return nil, err
	}
	return s.get(ctx, namespace, resign.FormatCosign, RoleSigner)
}

// unlockVaultKey opens a DCT key of the Vault and checks cosign can sign
// with it.
func (s *SigningKeys) unlockVaultKey(ctx context.Context, vaultKeyID, passphrase string) (*ecdsa.PrivateKey, error) {
	priv, err := s.vault.Unlock(ctx, vaultKeyID, passphrase)
	if err != nil {
		return nil, err
	}
	if priv.Algorithm() == data.ECDSAKey {
		if k, err := x509.ParseECPrivateKey(priv.Private()); err == nil && k.Curve == elliptic.P256() {
			return k, nil
		}
	}
	return nil, errs.Invalidf("cosign_key_type",
		"Key %s is %s: trustdeck signs cosign signatures with ECDSA P-256 keys (what docker and cosign generate); generate a cosign key for the namespace instead.",
		vaultKeyID, keys.DescribeTUF(data.PublicKeyFromPrivate(priv)))
}

// GenerateNotation creates the namespace's Notation CA and the signing
// certificate it issues (both ECDSA P-256; Notation's key usage and
// code-signing requirements met), the keys encrypted with passphrase.
// errs.Conflict if the namespace has Notation keys.
func (s *SigningKeys) GenerateNotation(ctx context.Context, namespace, registryHost, passphrase, actor string, names NotationNames) ([]SigningKeyInfo, error) {
	if err := checkNewPassphrase(passphrase); err != nil {
		return nil, err
	}
	n := names.withDefaults()
	if len(n.Country) != 2 {
		return nil, errs.Invalidf("bad_country", "The country of a certificate subject is two letters (XX if none applies), not %q.", n.Country)
	}
	subject := func(cn string) pkix.Name {
		return pkix.Name{Country: []string{n.Country}, Province: []string{n.State}, Organization: []string{n.Organization},
			OrganizationalUnit: []string{registryHost}, CommonName: cn}
	}
	now := s.now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing keys: generate: %w", err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing keys: generate: %w", err)
	}
	ca, err := resign.NewNotationCA(caKey, subject(namespace+" Notation CA"), now, resign.NotationCAValidity)
	if err != nil {
		return nil, err
	}
	leaf, err := resign.IssueNotationLeaf(ca, caKey, leafKey.Public(), subject(namespace+" Notation signer"), now, resign.NotationLeafValidity)
	if err != nil {
		return nil, err
	}
	caRow, err := s.sealedRow(namespace, resign.FormatNotation, RoleCA, caKey, resign.CertificatesPEM(ca), passphrase, actor)
	if err != nil {
		return nil, err
	}
	leafRow, err := s.sealedRow(namespace, resign.FormatNotation, RoleSigner, leafKey, resign.CertificatesPEM(leaf), passphrase, actor)
	if err != nil {
		return nil, err
	}
	if err := s.insert(ctx, caRow, leafRow); err != nil {
		return nil, err
	}
	return s.List(ctx, namespace)
}

// List describes a namespace's signing keys (every namespace's for "").
func (s *SigningKeys) List(ctx context.Context, namespace string) ([]SigningKeyInfo, error) {
	rows, err := s.st.ListSigningKeys(ctx, namespace)
	if err != nil {
		return nil, fmt.Errorf("signing keys: list: %w", err)
	}
	out := make([]SigningKeyInfo, len(rows))
	for i, r := range rows {
		out[i] = signingKeyInfo(r)
	}
	return out, nil
}

// Delete removes a namespace's keys of one format (to generate new ones).
// Signatures already made stay in the registry and stop verifying against
// the namespace's exports.
func (s *SigningKeys) Delete(ctx context.Context, namespace, format string) error {
	err := s.st.DeleteSigningKeys(ctx, namespace, format)
	if errors.Is(err, store.ErrNotFound) {
		return errs.NotFoundf("no_signing_key", "Namespace %s has no %s key.", namespace, format)
	}
	if err != nil {
		return fmt.Errorf("signing keys: delete: %w", err)
	}
	return nil
}

// UnlockCosign opens the namespace's cosign key with passphrase (the
// namespace key's, or the DCT key's own when it is a Vault key), in memory,
// for one run.
func (s *SigningKeys) UnlockCosign(ctx context.Context, namespace, passphrase string) (crypto.Signer, error) {
	row, err := s.row(ctx, namespace, resign.FormatCosign, RoleSigner)
	if err != nil {
		return nil, err
	}
	if row.VaultKeyID != "" {
		return s.unlockVaultKey(ctx, row.VaultKeyID, passphrase)
	}
	return s.open(row, passphrase)
}

// UnlockNotation opens the namespace's Notation signing key with passphrase
// and returns it with its certificate chain (leaf, CA).
func (s *SigningKeys) UnlockNotation(ctx context.Context, namespace, passphrase string) (crypto.Signer, []*x509.Certificate, error) {
	leafRow, err := s.row(ctx, namespace, resign.FormatNotation, RoleSigner)
	if err != nil {
		return nil, nil, err
	}
	caRow, err := s.row(ctx, namespace, resign.FormatNotation, RoleCA)
	if err != nil {
		return nil, nil, err
	}
	key, err := s.open(leafRow, passphrase)
	if err != nil {
		return nil, nil, err
	}
	leaf, err1 := parseCert(leafRow.PublicPEM)
	cas, err2 := parseCerts(caRow.PublicPEM)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, fmt.Errorf("signing keys: %s: stored certificate: %w", namespace, err)
	}
	return key, append([]*x509.Certificate{leaf}, cas...), nil
}

// Verification is what a namespace's signatures verify against: the cosign
// public keys, the Notation CA certificates (the trust store) and signing
// certificates (whose subjects the trust policy pins).
type Verification struct {
	CosignKeys   []crypto.PublicKey
	NotationCAs  []*x509.Certificate
	NotationLeaf []*x509.Certificate
}

// Verification returns the namespace's verification material (empty when
// it has no keys).
func (s *SigningKeys) Verification(ctx context.Context, namespace string) (*Verification, error) {
	rows, err := s.st.ListSigningKeys(ctx, namespace)
	if err != nil {
		return nil, fmt.Errorf("signing keys: list: %w", err)
	}
	v := &Verification{}
	for _, r := range rows {
		b, _ := pem.Decode(r.PublicPEM)
		if b == nil {
			return nil, fmt.Errorf("signing keys: %s/%s/%s: stored PEM is damaged", r.Namespace, r.Format, r.Role)
		}
		switch {
		case r.Format == resign.FormatCosign:
			pub, err := x509.ParsePKIXPublicKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("signing keys: %s cosign key: %w", r.Namespace, err)
			}
			v.CosignKeys = append(v.CosignKeys, pub)
		case r.Role == RoleCA:
			// An imported chain's row holds its intermediates, then the
			// root: the root is what the trust store holds.
			cas, err := parseCerts(r.PublicPEM)
			if err != nil {
				return nil, fmt.Errorf("signing keys: %s Notation CA: %w", r.Namespace, err)
			}
			v.NotationCAs = append(v.NotationCAs, cas[len(cas)-1])
		default:
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("signing keys: %s Notation certificate: %w", r.Namespace, err)
			}
			v.NotationLeaf = append(v.NotationLeaf, c)
		}
	}
	return v, nil
}

// sealedRow encrypts key with passphrase (PKCS#8 as docker writes keys,
// role and gun headers naming format and namespace) and seals it, bound to
// its row.
func (s *SigningKeys) sealedRow(namespace, format, role string, key crypto.Signer, publicPEM []byte, passphrase, actor string) (store.SigningKey, error) {
	priv, err := tufPrivateKey(key)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing keys: %w", err)
	}
	file, err := utils.ConvertPrivateKeyToPKCS8(priv, data.RoleName(format+"-"+role), data.GUN(namespace), passphrase)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing keys: encrypt: %w", err)
	}
	id, err := resign.PublicKeyID(key.Public())
	if err != nil {
		return store.SigningKey{}, err
	}
	row := store.SigningKey{Namespace: namespace, Format: format, Role: role, KeyID: id,
		Algorithm: keys.Describe(key.Public()), PublicPEM: publicPEM, CreatedBy: actor}
	row.SealedKey = s.sealer.Seal(file, sealAD(row))
	return row, nil
}

// sealAD binds a sealed key to its row: a key copied to another namespace,
// format or role does not open.
func sealAD(r store.SigningKey) []byte {
	return []byte(r.Namespace + "/" + r.Format + "/" + r.Role + "/" + r.KeyID)
}

// open decrypts a sealed key with passphrase, as Vault.Unlock does (ECDSA,
// or RSA for an imported Notation key).
func (s *SigningKeys) open(row *store.SigningKey, passphrase string) (crypto.Signer, error) {
	what := fmt.Sprintf("the %s %s key %s of %s", row.Format, row.Role, row.KeyID, row.Namespace)
	priv, err := openSealed(s.sealer, row.SealedKey, sealAD(*row), passphrase, "signing keys", what)
	if err != nil {
		return nil, err
	}
	key, err := signerOf(priv)
	if err != nil {
		return nil, fmt.Errorf("signing keys: stored %s: %w", what, err)
	}
	if id, _ := resign.PublicKeyID(key.Public()); id != row.KeyID {
		return nil, fmt.Errorf("signing keys: stored %s decrypts to another key", what)
	}
	return key, nil
}

func (s *SigningKeys) insert(ctx context.Context, rows ...store.SigningKey) error {
	err := s.st.InsertSigningKeys(ctx, rows...)
	if errors.Is(err, store.ErrConflict) {
		return errs.Conflictf("signing_key_exists",
			"Namespace %s already has a %s key: delete it first to make a new one (its signatures then stop verifying).",
			rows[0].Namespace, rows[0].Format)
	}
	if err != nil {
		return fmt.Errorf("signing keys: store: %w", err)
	}
	return nil
}

func (s *SigningKeys) row(ctx context.Context, namespace, format, role string) (*store.SigningKey, error) {
	row, err := s.st.GetSigningKey(ctx, namespace, format, role)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.NotFoundf("no_signing_key", "Namespace %s has no %s key: generate one first.", namespace, format)
	}
	if err != nil {
		return nil, fmt.Errorf("signing keys: read: %w", err)
	}
	return row, nil
}

func (s *SigningKeys) get(ctx context.Context, namespace, format, role string) (*SigningKeyInfo, error) {
	row, err := s.row(ctx, namespace, format, role)
	if err != nil {
		return nil, err
	}
	info := signingKeyInfo(*row)
	return &info, nil
}

func signingKeyInfo(r store.SigningKey) SigningKeyInfo {
	info := SigningKeyInfo{Namespace: r.Namespace, Format: r.Format, Role: r.Role, KeyID: r.KeyID, Algorithm: r.Algorithm,
		PEM: string(r.PublicPEM), VaultKeyID: r.VaultKeyID, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt}
	if c, err := parseCert(r.PublicPEM); err == nil {
		info.Subject, info.NotAfter = c.Subject.String(), c.NotAfter
	}
	return info
}

// parseCerts reads the certificates of a PEM bundle (at least one).
func parseCerts(pemBytes []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for b, rest := pem.Decode(pemBytes); b != nil && b.Type == "CERTIFICATE"; b, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			break
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("not a PEM certificate")
	}
	return out, nil
}

func parseCert(pemBytes []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

func publicKeyPEM(pub crypto.PublicKey) []byte {
	b, _ := resign.PublicKeysPEM(pub) // ECDSA keys always marshal
	return b
}

// checkNewPassphrase refuses passphrases too short to protect a new key.
func checkNewPassphrase(passphrase string) error {
	if len(passphrase) < MinPassphraseLength {
		return errs.Invalidf("passphrase_too_short",
			"The passphrase is too short: use at least %d characters (a password manager can make and keep a good one).", MinPassphraseLength)
	}
	return nil
}

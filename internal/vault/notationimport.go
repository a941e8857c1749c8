package vault

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/keys"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/store"
)

// NotationImport is an admin's own Notation signing identity: the
// certificate chain (PEM, any order: the signing certificate, the
// intermediates, and the root unless Root gives it) and the signing
// certificate's private key (PEM: PKCS#8, PKCS#1 or SEC 1, or an encrypted
// PKCS#8 file, which Passphrase opens).
type NotationImport struct {
	Chain      []byte
	Root       []byte
	PrivateKey []byte
	// Passphrase encrypts the key in the vault (and opens an encrypted
	// key file): runs ask for it, as for generated keys.
	Passphrase string
}

// ImportNotation makes an admin's own certificate chain and key the
// namespace's Notation signing identity, once it meets what Notation
// requires: the leaf's key usage digitalSignature (critical, nothing
// else), the code-signing EKU, an RSA (2048 bits or more) or ECDSA P-256,
// P-384 or P-521 key, the private key matching the leaf, a chain that leads
// to a self-signed root, every certificate valid now, and a subject with
// C, ST and O (trust policies pin signers by them). Each refusal is
// errs.Invalid naming the problem. The key is encrypted with the
// passphrase like a generated one; the CA row keeps the certificates above
// the leaf (intermediates, root) with no key (an imported CA's key is the
// admin's). errs.Conflict if the namespace has Notation keys.
func (s *SigningKeys) ImportNotation(ctx context.Context, namespace string, in NotationImport, actor string) ([]SigningKeyInfo, error) {
	if err := checkNewPassphrase(in.Passphrase); err != nil {
		return nil, err
	}
	key, err := parseImportedKey(in.PrivateKey, in.Passphrase)
	if err != nil {
		return nil, err
	}
	certs, err := parseImportedCerts(in.Chain, "certificate_chain")
	if err != nil {
		return nil, err
	}
	if len(in.Root) > 0 {
		root, err := parseImportedCerts(in.Root, "root")
		if err != nil {
			return nil, err
		}
		certs = append(certs, root...)
	}
	chain, err := orderChain(certs, key.Public())
	if err != nil {
		return nil, err
	}
	if err := checkImportedChain(chain, s.now()); err != nil {
		return nil, err
	}
	leafRow, err := s.sealedRow(namespace, resign.FormatNotation, RoleSigner, key, resign.CertificatesPEM(chain[0]), in.Passphrase, actor)
	if err != nil {
		return nil, err
	}
	root := chain[len(chain)-1]
	rootID, err := resign.PublicKeyID(root.PublicKey)
	if err != nil {
		return nil, err
	}
	caRow := store.SigningKey{Namespace: namespace, Format: resign.FormatNotation, Role: RoleCA, KeyID: rootID,
		Algorithm: keys.Describe(root.PublicKey), PublicPEM: resign.CertificatesPEM(chain[1:]...), CreatedBy: actor}
	// The CA's key stays with the admin: the row seals an empty file
	// (sealed_key must be set for a key not of the vault).
	caRow.SealedKey = s.sealer.Seal(nil, sealAD(caRow))
	if err := s.insert(ctx, caRow, leafRow); err != nil {
		return nil, err
	}
	return s.List(ctx, namespace)
}

// parseImportedKey reads a private key PEM: unencrypted PKCS#8, PKCS#1 or
// SEC 1, or encrypted PKCS#8 opened with passphrase.
func parseImportedKey(b []byte, passphrase string) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errs.Invalidf("invalid_private_key", "The private key is not PEM: paste the key file (-----BEGIN PRIVATE KEY----- …).")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		var priv data.PrivateKey
		if priv, err = utils.ParsePKCS8ToTufKey(block.Bytes, []byte(passphrase)); err != nil {
			return nil, errs.Invalidf("wrong_passphrase",
				"The encrypted private key does not open with the passphrase given (or is not PKCS#8).")
		}
		return signerOf(priv)
	default:
		return nil, errs.Invalidf("invalid_private_key", "A %q PEM block is not a private key trustdeck reads: give PKCS#8, PKCS#1 or SEC 1.", block.Type)
	}
	if err != nil {
		return nil, errs.Invalidf("invalid_private_key", "The private key cannot be read: %v.", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errs.Invalidf("invalid_private_key", "The private key is a %T, which cannot sign.", key)
	}
	if err := resign.CheckNotationKey(signer.Public()); err != nil {
		return nil, err
	}
	return signer, nil
}

// parseImportedCerts reads every CERTIFICATE block of b (field names it).
func parseImportedCerts(b []byte, field string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, errs.Invalidf("invalid_certificate", "The %s holds a %q PEM block: only certificates belong there.", field, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, errs.Invalidf("invalid_certificate", "A certificate of the %s cannot be read: %v.", field, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errs.Invalidf("invalid_certificate", "The %s has no PEM certificate (-----BEGIN CERTIFICATE----- …).", field)
	}
	return out, nil
}

// orderChain puts certs in order: the certificate of key first, then each
// issuer, up to a self-signed root.
func orderChain(certs []*x509.Certificate, pub crypto.PublicKey) ([]*x509.Certificate, error) {
	i := slices.IndexFunc(certs, func(c *x509.Certificate) bool { return resign.PublicKeysEqual(c.PublicKey, pub) })
	if i < 0 {
		return nil, errs.Invalidf("key_mismatch",
			"The private key does not belong to any certificate of the chain: give the signing certificate's own key.")
	}
	chain := []*x509.Certificate{certs[i]}
	rest := slices.Delete(slices.Clone(certs), i, i+1)
	for {
		c := chain[len(chain)-1]
		if bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil {
			if len(chain) == 1 {
				return nil, errs.Invalidf("invalid_chain",
					"The signing certificate %q is self-signed: Notation needs it issued by a CA (give the chain up to its root).", c.Subject)
			}
			return chain, nil
		}
		j := slices.IndexFunc(rest, func(p *x509.Certificate) bool {
			return bytes.Equal(c.RawIssuer, p.RawSubject) && c.CheckSignatureFrom(p) == nil
		})
		if j < 0 {
			return nil, errs.Invalidf("invalid_chain",
				"The chain stops at %q: the certificate that issued it (%q) is missing; include every intermediate and the root.", c.Subject, c.Issuer)
		}
		chain = append(chain, rest[j])
		rest = slices.Delete(rest, j, j+1)
	}
}

// checkImportedChain applies Notation's requirements to an ordered chain,
// the refusals clearest first.
func checkImportedChain(chain []*x509.Certificate, now time.Time) error {
	leaf := chain[0]
	for _, c := range chain {
		if now.After(c.NotAfter) {
			return errs.Invalidf("certificate_expired", "Certificate %q expired on %s.", c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
		}
		if now.Before(c.NotBefore) {
			return errs.Invalidf("certificate_not_yet_valid", "Certificate %q is valid only from %s.", c.Subject, c.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errs.Invalidf("key_usage", "The signing certificate %q lacks the key usage digitalSignature, which Notation requires.", leaf.Subject)
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		return errs.Invalidf("code_signing_eku", "The signing certificate %q lacks the code-signing extended key usage (1.3.6.1.5.5.7.3.3).", leaf.Subject)
	}
	for _, c := range chain[1:] {
		if err := resign.CheckNotationKey(c.PublicKey); err != nil {
			e, _ := errs.As(err)
			return errs.Invalidf("notation_key_type", "Certificate %q of the chain: %s", c.Subject, e.Message)
		}
	}
	if err := resign.ValidateNotationChain(chain, now); err != nil {
		return errs.Invalidf("invalid_chain", "The chain does not meet Notation's requirements: %v.", err)
	}
	s := leaf.Subject
	if len(s.Country) == 0 || len(s.Province) == 0 || len(s.Organization) == 0 {
		return errs.Invalidf("subject_incomplete",
			"The signing certificate's subject %q needs C, ST and O: Notation's trust policies name signers by them.", s)
	}
	return nil
}

// signerOf is the crypto.Signer of a TUF private key (ECDSA or RSA).
func signerOf(priv data.PrivateKey) (crypto.Signer, error) {
	var (
		key crypto.Signer
		err error
	)
	switch priv.Algorithm() {
	case data.ECDSAKey:
		key, err = x509.ParseECPrivateKey(priv.Private())
	case data.RSAKey:
		key, err = x509.ParsePKCS1PrivateKey(priv.Private())
	default:
		return nil, errs.Invalidf("notation_key_type",
			"Notation signs with RSA (2048 bits or more) or ECDSA P-256, P-384 or P-521 keys; this key is %s.", priv.Algorithm())
	}
	if err != nil {
		return nil, errs.Invalidf("invalid_private_key", "The private key cannot be read: %v.", err)
	}
	if err := resign.CheckNotationKey(key.Public()); err != nil {
		return nil, err
	}
	return key, nil
}

// tufPrivateKey is the TUF form of a key, for the PKCS#8 file the vault
// stores.
func tufPrivateKey(key crypto.Signer) (data.PrivateKey, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return utils.ECDSAToPrivateKey(k)
	case *rsa.PrivateKey:
		return utils.RSAToPrivateKey(k)
	}
	return nil, errs.Invalidf("notation_key_type", "trustdeck stores ECDSA and RSA keys, not %T.", key)
}

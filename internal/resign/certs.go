package resign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/keys"
)

// Notation's certificate requirements (Notary Project signature
// specification, "Certificate Requirements"), which trustdeck meets when it
// makes certificates and checks when it verifies or imports them:
//   - the leaf: critical keyUsage with digitalSignature and none of
//     keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign,
//     encipherOnly, decipherOnly; not a CA; extended key usages, if any,
//     without serverAuth, clientAuth, emailProtection, timeStamping or
//     OCSPSigning (trustdeck sets codeSigning);
//   - every CA: basicConstraints CA (with a path length that allows the
//     chain), critical keyUsage with keyCertSign;
//   - the chain leads, each certificate issued by the next, to a
//     self-signed root;
//   - keys: RSA of at least 2048 bits or ECDSA on P-256, P-384 or P-521
//     (not Ed25519);
//   - without a timestamp, every certificate is valid at signing and at
//     verification time.

// NotationCertValidity bounds: how long trustdeck's generated certificates
// live. Notation signatures without a timestamp stop verifying when the
// signing certificate expires, so the leaf lives long (and signatures must
// be made again with a new leaf before it ends).
const (
	NotationCAValidity   = 10 * 365 * 24 * time.Hour
	NotationLeafValidity = 5 * 365 * 24 * time.Hour
	clockSkew            = time.Hour
)

// NewNotationCA makes a self-signed CA certificate for key that can issue
// Notation signing certificates (no intermediate below it).
func NewNotationCA(key crypto.Signer, subject pkix.Name, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	if err := CheckNotationKey(key.Public()); err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               subject,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	return createCert(tmpl, tmpl, key.Public(), key)
}

// IssueNotationLeaf issues a Notation signing certificate for pub, signed by
// the CA: critical keyUsage digitalSignature only, the code-signing EKU. It
// ends no later than the CA.
func IssueNotationLeaf(ca *x509.Certificate, caKey crypto.Signer, pub crypto.PublicKey, subject pkix.Name, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	if err := CheckNotationKey(pub); err != nil {
		return nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:               subject,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	return createCert(tmpl, ca, pub, caKey)
}

func createCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("resign: create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// CheckNotationKey accepts the keys Notation signs with: RSA of at least
// 2048 bits, ECDSA on P-256, P-384 or P-521. Refusals are errs.Invalid.
func CheckNotationKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return nil
		}
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256", "P-384", "P-521":
			return nil
		}
	}
	return errs.Invalidf("notation_key_type",
		"Notation signs with RSA (2048 bits or more) or ECDSA P-256, P-384 or P-521 keys; this key is %s.", keys.Describe(pub))
}

// ValidateNotationChain checks an ordered chain (leaf first, self-signed
// root last) against Notation's certificate requirements, every
// certificate valid at each of times.
func ValidateNotationChain(chain []*x509.Certificate, times ...time.Time) error {
	if len(chain) < 2 {
		return fmt.Errorf("the chain needs a signing certificate and the CA that issued it")
	}
	for i, c := range chain {
		for _, t := range times {
			if t.Before(c.NotBefore) || t.After(c.NotAfter) {
				return fmt.Errorf("certificate %q is valid from %s to %s, not at %s", c.Subject,
					c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
			}
		}
		if err := CheckNotationKey(c.PublicKey); err != nil {
			return fmt.Errorf("certificate %q: %w", c.Subject, err)
		}
		if i == len(chain)-1 {
			if !bytes.Equal(c.RawIssuer, c.RawSubject) || c.CheckSignatureFrom(c) != nil {
				return fmt.Errorf("the chain ends with %q, which is not a self-signed root", c.Subject)
			}
		} else {
			parent := chain[i+1]
			if !bytes.Equal(c.RawIssuer, parent.RawSubject) || c.CheckSignatureFrom(parent) != nil {
				return fmt.Errorf("certificate %q is not issued by %q", c.Subject, parent.Subject)
			}
		}
		if !keyUsageCritical(c) {
			return fmt.Errorf("certificate %q: the key usage extension must be present and critical", c.Subject)
		}
		if i == 0 {
			if err := checkLeaf(c); err != nil {
				return err
			}
			continue
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return fmt.Errorf("certificate %q issues certificates but is not a CA (basic constraints)", c.Subject)
		}
		if (c.MaxPathLen > 0 || c.MaxPathLenZero) && c.MaxPathLen < i-1 {
			return fmt.Errorf("certificate %q allows a path length of %d, the chain needs %d", c.Subject, c.MaxPathLen, i-1)
		}
		if c.KeyUsage&x509.KeyUsageCertSign == 0 {
			return fmt.Errorf("certificate %q: a CA's key usage must include keyCertSign", c.Subject)
		}
	}
	return nil
}

func checkLeaf(c *x509.Certificate) error {
	if c.BasicConstraintsValid && c.IsCA {
		return fmt.Errorf("signing certificate %q must not be a CA", c.Subject)
	}
	if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("signing certificate %q: key usage must include digitalSignature", c.Subject)
	}
	const forbidden = x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageKeyAgreement |
		x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageEncipherOnly | x509.KeyUsageDecipherOnly
	if c.KeyUsage&forbidden != 0 {
		return fmt.Errorf("signing certificate %q: key usage must be digitalSignature only (keyEncipherment and the like are refused)", c.Subject)
	}
	for _, eku := range c.ExtKeyUsage {
		switch eku {
		case x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection,
			x509.ExtKeyUsageTimeStamping, x509.ExtKeyUsageOCSPSigning:
			return fmt.Errorf("signing certificate %q: extended key usage %d is not allowed for signing code", c.Subject, eku)
		}
	}
	return nil
}

var oidKeyUsage = []int{2, 5, 29, 15}

func keyUsageCritical(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidKeyUsage) {
			return e.Critical
		}
	}
	return false
}

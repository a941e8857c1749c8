package resign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/keys"
)

// cosign's storage, as cosign v2 writes and `cosign verify` reads it: the
// tag sha256-<hex>.sig in the image's repository holds an OCI image
// manifest whose layers are simple-signing payloads, each carrying its
// signature (base64, ASN.1 DER for ECDSA) in an annotation.
const (
	CosignSignatureType       = "cosign container image signature"
	cosignSignatureAnnotation = "dev.cosignproject.cosign/signature"
	cosignCertAnnotation      = "dev.sigstore.cosign/certificate"
	cosignPayloadMediaType    = types.MediaType("application/vnd.dev.cosign.simplesigning.v1+json")
	cosignTagSuffix           = ".sig"
	maxCosignPayload          = 64 << 10
)

// SimpleSigning is the "simple signing" payload cosign signs for an image.
type SimpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	// Optional holds annotations; trustdeck writes the DCT provenance here.
	Optional map[string]any `json:"optional,omitempty"`
}

// CosignPayload is the payload Sign signs for img with prov's annotations.
func CosignPayload(img Image, prov Provenance) ([]byte, error) {
	var p SimpleSigning
	p.Critical.Identity.DockerReference = img.Name()
	p.Critical.Image.DockerManifestDigest = img.Digest
	p.Critical.Type = CosignSignatureType
	if ann := prov.annotations(); len(ann) > 0 {
		p.Optional = map[string]any{}
		for k, v := range ann {
			p.Optional[k] = v
		}
	}
	return json.Marshal(p)
}

// Cosign is the cosign format: key-based and offline (no transparency log,
// no Fulcio), verifiable with `cosign verify --key cosign.pub
// --insecure-ignore-tlog=true <image>@<digest>`.
type Cosign struct {
	reg     *Registry
	key     *ecdsa.PrivateKey // nil: verify only
	keyID   string
	trusted []trustedKey
}

type trustedKey struct {
	pub crypto.PublicKey
	id  string
}

// NewCosign returns the cosign format over reg. key (nil to verify only)
// must be ECDSA P-256, cosign's default; its public key is trusted, and so
// are the trusted keys (ECDSA, RSA or Ed25519 public keys) whose signatures
// Find reports as verified.
func NewCosign(reg *Registry, key crypto.Signer, trusted ...crypto.PublicKey) (*Cosign, error) {
	c := &Cosign{reg: reg}
	if key != nil {
		ec, ok := key.(*ecdsa.PrivateKey)
		if !ok || ec.Curve != elliptic.P256() {
			return nil, errs.Invalidf("cosign_key_type",
				"cosign signing keys are ECDSA P-256 here; this key is %s.", keys.Describe(key.Public()))
		}
		c.key = ec
		trusted = append([]crypto.PublicKey{ec.Public()}, trusted...)
	}
	for _, pub := range trusted {
		id, err := PublicKeyID(pub)
		if err != nil {
			return nil, err
		}
		if c.key != nil && c.keyID == "" {
			c.keyID = id
		}
		c.trusted = append(c.trusted, trustedKey{pub: pub, id: id})
	}
	return c, nil
}

// Name implements Format.
func (c *Cosign) Name() string { return FormatCosign }

// PublicKeyID is the SHA-256 (hex) of a public key's PKIX DER.
func PublicKeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("resign: public key: %w", err)
	}
	return KeyID(der), nil
}

// Sign implements Format: it appends a payload layer to the image's
// sha256-<hex>.sig manifest (creating it if needed), keeping every signature
// already there, unless a verified signature by this key for the same DCT
// tag exists.
func (c *Cosign) Sign(ctx context.Context, img Image, prov Provenance) (Outcome, error) {
	if c.key == nil {
		return Outcome{}, ErrNoSigningKey
	}
	repo, err := img.repository()
	if err != nil {
		return Outcome{}, err
	}
	defer c.reg.lock("cosign\x00" + repo.Name() + "\x00" + img.Digest)()

	sigTag := repo.Tag(img.tagForm() + cosignTagSuffix)
	existing, err := c.reg.manifest(ctx, sigTag)
	if err != nil {
		return Outcome{}, wrapRegistry("read cosign signatures of "+img.Reference(), err)
	}
	if existing != nil {
		sigs, err := c.verifyManifest(ctx, img, existing.Manifest)
		if err != nil {
			return Outcome{}, err
		}
		if s, ok := alreadySigned(sigs, c.keyID, prov); ok {
			return Outcome{Signature: s}, nil
		}
	}

	payload, err := CosignPayload(img, prov)
	if err != nil {
		return Outcome{}, err
	}
	sum := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, sum[:])
	if err != nil {
		return Outcome{}, fmt.Errorf("resign: cosign signature: %w", err)
	}

	// Append to what is there (the manifest just read and verified), as
	// cosign does; or start cosign's empty OCI image.
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if existing != nil {
		if base, err = existing.Image(); err != nil {
			return Outcome{}, wrapRegistry("read cosign signatures of "+img.Reference(), err)
		}
	}
	layer := static.NewLayer(payload, cosignPayloadMediaType)
	signed, err := mutate.Append(base, mutate.Addendum{
		Layer:       layer,
		Annotations: map[string]string{cosignSignatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("resign: cosign signature manifest: %w", err)
	}
	if err := c.reg.pusher.Push(ctx, sigTag, signed); err != nil {
		return Outcome{}, wrapRegistry("push the cosign signature of "+img.Reference(), err)
	}
	ld, _ := layer.Digest()
	return Outcome{Added: true, Signature: Signature{
		Format: FormatCosign, Ref: ld.String(), Verified: true, KeyID: c.keyID,
		Identity: "key " + c.keyID, Provenance: provenanceFrom(prov.annotations()),
	}}, nil
}

// Find implements Format: every payload of the image's sha256-<hex>.sig
// manifest, verified against the trusted keys.
func (c *Cosign) Find(ctx context.Context, img Image) ([]Signature, error) {
	repo, err := img.repository()
	if err != nil {
		return nil, err
	}
	d, err := c.reg.manifest(ctx, repo.Tag(img.tagForm()+cosignTagSuffix))
	if err != nil || d == nil {
		return nil, wrapRegistry("read cosign signatures of "+img.Reference(), err)
	}
	return c.verifyManifest(ctx, img, d.Manifest)
}

func (c *Cosign) verifyManifest(ctx context.Context, img Image, raw []byte) ([]Signature, error) {
	m, err := v1.ParseManifest(strings.NewReader(string(raw)))
	if err != nil {
		return []Signature{{Format: FormatCosign, Problem: "the signature manifest cannot be read: " + err.Error()}}, nil
	}
	repo, err := img.repository()
	if err != nil {
		return nil, err
	}
	var out []Signature
	for _, l := range m.Layers {
		s := Signature{Format: FormatCosign, Ref: l.Digest.String()}
		if l.Size > maxCosignPayload {
			s.Problem = fmt.Sprintf("the payload is larger than %d bytes", maxCosignPayload)
			out = append(out, s)
			continue
		}
		payload, err := c.reg.blob(ctx, repo, l.Digest, maxCosignPayload)
		if isNotFound(err) {
			s.Problem = "the payload is missing from the registry"
			out = append(out, s)
			continue
		}
		if err != nil {
			return nil, wrapRegistry("read cosign payload "+l.Digest.String()+" of "+img.Reference(), err)
		}
		c.verifyPayload(&s, img, payload, l.Annotations)
		out = append(out, s)
	}
	return out, nil
}

// verifyPayload fills s from one payload and its layer annotations.
func (c *Cosign) verifyPayload(s *Signature, img Image, payload []byte, ann map[string]string) {
	var p SimpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		s.Problem = "the payload is not a simple-signing document"
		return
	}
	s.Provenance = provenanceFrom(stringsOf(p.Optional))
	sig, err := base64.StdEncoding.DecodeString(ann[cosignSignatureAnnotation])
	if err != nil || len(sig) == 0 {
		s.Problem = "the layer carries no signature"
		return
	}
	var cert *x509.Certificate
	if pemCert := ann[cosignCertAnnotation]; pemCert != "" {
		if b, _ := pem.Decode([]byte(pemCert)); b != nil {
			cert, _ = x509.ParseCertificate(b.Bytes)
		}
		if cert != nil {
			s.Identity = CertificateIdentity(cert)
			s.KeyID, _ = PublicKeyID(cert.PublicKey)
		}
	}
	matched := false
	for _, k := range c.trusted {
		if verifyBlob(k.pub, payload, sig) {
			s.KeyID, matched = k.id, true
			if cert == nil {
				s.Identity = "key " + k.id
			}
			break
		}
	}
	switch {
	case !matched && cert != nil && verifyBlob(cert.PublicKey, payload, sig):
		s.Problem = "signed with a certificate trustdeck does not trust"
	case !matched:
		s.Problem = "not signed by a trusted key, or altered"
	case p.Critical.Type != CosignSignatureType:
		s.Problem = fmt.Sprintf("the payload's type is %q, not %q", p.Critical.Type, CosignSignatureType)
	case p.Critical.Image.DockerManifestDigest != img.Digest:
		s.Problem = "the payload signs another digest (" + p.Critical.Image.DockerManifestDigest + ")"
	default:
		s.Verified = true
	}
}

// verifyBlob checks a cosign signature over payload: ECDSA (ASN.1) and RSA
// PKCS #1 v1.5 over SHA-256, Ed25519 over the payload itself.
func verifyBlob(pub crypto.PublicKey, payload, sig []byte) bool {
	sum := sha256.Sum256(payload)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, sum[:], sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil
	case ed25519.PublicKey:
		return ed25519.Verify(k, payload, sig)
	}
	return false
}

func stringsOf(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// Fulcio's certificate extensions naming the OIDC issuer: the raw string
// (1.1, deprecated) and the DER UTF8String (1.8).
var (
	oidFulcioIssuer   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidFulcioIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// CertificateIdentity names who a signing certificate speaks for: its
// subject alternative names (Sigstore's keyless certificates name an email
// or a workflow URI there) or its subject, with the OIDC issuer or the
// certificate's issuer.
func CertificateIdentity(cert *x509.Certificate) string {
	var who []string
	who = append(who, cert.EmailAddresses...)
	for _, u := range cert.URIs {
		who = append(who, u.String())
	}
	if len(who) == 0 {
		who = append(who, cert.Subject.String())
	}
	issuer := cert.Issuer.String()
	for _, ext := range cert.Extensions {
		switch {
		case ext.Id.Equal(oidFulcioIssuerV2):
			var s string
			if _, err := asn1.Unmarshal(ext.Value, &s); err == nil {
				issuer = s
			}
		case ext.Id.Equal(oidFulcioIssuer):
			issuer = string(ext.Value)
		}
	}
	return strings.Join(who, ", ") + " (issuer: " + issuer + ")"
}

package resign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// The Notary Project's signature format, as notation v1 writes and
// verifies it:
//   - the payload is {"targetArtifact": <descriptor of the manifest>},
//     content type application/vnd.cncf.notary.payload.v1+json;
//   - the envelope is a JWS in flattened JSON serialization
//     (application/jose+json) whose protected header carries alg, cty,
//     crit, the signing scheme notary.x509, the signing time and an
//     optional expiry, and whose unprotected header carries the
//     certificate chain (x5c: leaf first) and the signing agent;
//   - it is stored as an OCI image manifest with the config media type
//     application/vnd.cncf.notary.signature (the empty JSON {} as config),
//     the envelope as its single layer, the image as its subject, and
//     annotations naming the chain's thumbprints and the creation time;
//     registries without the referrers API list it in the referrers
//     tag-schema index (tag sha256-<hex>).
const (
	NotationArtifactType    = "application/vnd.cncf.notary.signature"
	NotationPayloadType     = "application/vnd.cncf.notary.payload.v1+json"
	NotationJWSMediaType    = "application/jose+json"
	notationCOSEMediaType   = "application/cose"
	notationSigningScheme   = "notary.x509"
	hdrSigningScheme        = "io.cncf.notary.signingScheme"
	hdrSigningTime          = "io.cncf.notary.signingTime"
	hdrExpiry               = "io.cncf.notary.expiry"
	annThumbprints          = "io.cncf.notary.x509chain.thumbprint#S256"
	annCreated              = "org.opencontainers.image.created"
	emptyJSONDigest         = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	notationSignatureLimit  = maxSignatureBlob
	notationManifestVersion = 2
)

// NotationPayload is what a Notation signature signs.
type NotationPayload struct {
	TargetArtifact Descriptor `json:"targetArtifact"`
}

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// JWSEnvelope is the JWS JSON serialization (flattened) Notation stores.
type JWSEnvelope struct {
	Payload   string         `json:"payload"`
	Protected string         `json:"protected"`
	Header    JWSUnprotected `json:"header"`
	Signature string         `json:"signature"`
}

// JWSUnprotected is the envelope's unprotected header.
type JWSUnprotected struct {
	X5C          [][]byte `json:"x5c"` // DER certificates, leaf first (base64 in JSON)
	SigningAgent string   `json:"io.cncf.notary.signingAgent,omitempty"`
}

// JWSProtected is the envelope's protected header as trustdeck writes it;
// reading goes through a map, to find names marked critical.
type JWSProtected struct {
	Alg           string     `json:"alg"`
	Cty           string     `json:"cty"`
	Crit          []string   `json:"crit"`
	SigningScheme string     `json:"io.cncf.notary.signingScheme"`
	SigningTime   time.Time  `json:"io.cncf.notary.signingTime"`
	Expiry        *time.Time `json:"io.cncf.notary.expiry,omitempty"`
}

// NotationOptions configure the Notation format.
type NotationOptions struct {
	// Key signs (nil: verify only); Chain is its certificate chain, leaf
	// (whose public key is Key's) first, self-signed root last.
	Key   crypto.Signer
	Chain []*x509.Certificate
	// Roots are the trusted root certificates: signatures whose chain
	// contains one of them verify. The root of Chain is trusted too.
	Roots []*x509.Certificate
	// Expiry, when positive, makes each signature expire that long after
	// signing (io.cncf.notary.expiry); notation then refuses it. Zero:
	// no expiry, as `notation sign` by default.
	Expiry time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Notation is the Notation format, verifiable with `notation verify` given
// the CA certificate in a trust store and a trust policy naming it.
type Notation struct {
	reg    *Registry
	key    crypto.Signer
	chain  []*x509.Certificate
	leafID string
	roots  []*x509.Certificate
	expiry time.Duration
	now    func() time.Time
}

// NewNotation returns the Notation format over reg. With a key, its chain
// must meet Notation's certificate requirements now and the key must be
// the leaf's.
func NewNotation(reg *Registry, o NotationOptions) (*Notation, error) {
	n := &Notation{reg: reg, key: o.Key, chain: o.Chain, roots: o.Roots, expiry: o.Expiry, now: o.Now}
	if n.now == nil {
		n.now = time.Now
	}
	if o.Key != nil {
		if err := CheckNotationKey(o.Key.Public()); err != nil {
			return nil, err
		}
		if err := ValidateNotationChain(o.Chain, n.now()); err != nil {
			return nil, errs.Invalidf("notation_chain", "The Notation signing certificate cannot be used: %v.", err)
		}
		if !PublicKeysEqual(o.Key.Public(), o.Chain[0].PublicKey) {
			return nil, errs.Invalidf("notation_key_mismatch", "The Notation signing key is not the key of its certificate %q.", o.Chain[0].Subject)
		}
		n.leafID = KeyID(o.Chain[0].Raw)
		n.roots = append(slices.Clone(o.Roots), o.Chain[len(o.Chain)-1])
	}
	return n, nil
}

// PublicKeysEqual reports whether a and b are the same public key.
func PublicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

// Name implements Format.
func (n *Notation) Name() string { return FormatNotation }

// Sign implements Format: a JWS envelope over the image's descriptor,
// pushed as a referrer of the image, unless a verified signature by this
// certificate for the same DCT tag exists.
func (n *Notation) Sign(ctx context.Context, img Image, prov Provenance) (Outcome, error) {
	if n.key == nil {
		return Outcome{}, ErrNoSigningKey
	}
	repo, err := img.repository()
	if err != nil {
		return Outcome{}, err
	}
	// One writer per subject: the referrers fallback index is rewritten
	// for each signature.
	defer n.reg.lock("referrers\x00" + repo.Name() + "\x00" + img.Digest)()

	existing, err := n.find(ctx, repo, img)
	if err != nil {
		return Outcome{}, err
	}
	if s, ok := alreadySigned(existing, n.leafID, prov); ok {
		return Outcome{Signature: s}, nil
	}

	now := n.now().UTC().Truncate(time.Second)
	env, err := NotationEnvelope(n.key, n.chain, img, prov, now, n.expiry)
	if err != nil {
		return Outcome{}, err
	}
	manifest, err := notationManifest(img, env, n.chain, now)
	if err != nil {
		return Outcome{}, err
	}
	op := "push the Notation signature of " + img.Reference()
	if err := n.reg.upload(ctx, repo, []byte("{}"), NotationArtifactType); err != nil {
		return Outcome{}, wrapRegistry(op, err)
	}
	if err := n.reg.upload(ctx, repo, env, NotationJWSMediaType); err != nil {
		return Outcome{}, wrapRegistry(op, err)
	}
	md, _, err := v1.SHA256(bytes.NewReader(manifest))
	if err != nil {
		return Outcome{}, err
	}
	if err := n.reg.put(ctx, repo.Digest(md.String()), manifest, types.OCIManifestSchema1); err != nil {
		return Outcome{}, wrapRegistry(op, err)
	}
	leaf := n.chain[0]
	return Outcome{Added: true, Signature: Signature{
		Format: FormatNotation, Ref: md.String(), Verified: true, KeyID: n.leafID,
		Identity: leafIdentity(leaf), Provenance: provenanceFrom(prov.annotations()), SignedAt: now,
	}}, nil
}

// Find implements Format: every Notation signature referring to the image.
func (n *Notation) Find(ctx context.Context, img Image) ([]Signature, error) {
	repo, err := img.repository()
	if err != nil {
		return nil, err
	}
	return n.find(ctx, repo, img)
}

func (n *Notation) find(ctx context.Context, repo name.Repository, img Image) ([]Signature, error) {
	descs, err := n.reg.referrers(ctx, repo, img.Digest, NotationArtifactType)
	if err != nil {
		return nil, wrapRegistry("list the Notation signatures of "+img.Reference(), err)
	}
	var out []Signature
	for _, d := range descs {
		s, err := n.readSignature(ctx, repo, img, d)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (n *Notation) readSignature(ctx context.Context, repo name.Repository, img Image, d v1.Descriptor) (Signature, error) {
	s := Signature{Format: FormatNotation, Ref: d.Digest.String()}
	md, err := n.reg.manifest(ctx, repo.Digest(d.Digest.String()))
	if err != nil {
		return s, wrapRegistry("read Notation signature "+d.Digest.String()+" of "+img.Reference(), err)
	}
	if md == nil {
		s.Problem = "the signature manifest is listed but missing from the registry"
		return s, nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(md.Manifest))
	switch {
	case err != nil:
		s.Problem = "the signature manifest cannot be read"
		return s, nil
	case m.Subject == nil || m.Subject.Digest.String() != img.Digest:
		s.Problem = "the signature manifest refers to another image"
		return s, nil
	case len(m.Layers) != 1:
		s.Problem = fmt.Sprintf("the signature manifest holds %d envelopes, not one", len(m.Layers))
		return s, nil
	case string(m.Layers[0].MediaType) == notationCOSEMediaType:
		s.Problem = "a COSE envelope: trustdeck verifies JWS envelopes only"
		return s, nil
	case string(m.Layers[0].MediaType) != NotationJWSMediaType:
		s.Problem = fmt.Sprintf("unknown envelope type %q", m.Layers[0].MediaType)
		return s, nil
	case m.Layers[0].Size > notationSignatureLimit:
		s.Problem = fmt.Sprintf("the envelope is larger than %d bytes", notationSignatureLimit)
		return s, nil
	}
	env, err := n.reg.blob(ctx, repo, m.Layers[0].Digest, notationSignatureLimit)
	if isNotFound(err) {
		s.Problem = "the envelope is missing from the registry"
		return s, nil
	}
	if err != nil {
		return s, wrapRegistry("read Notation signature "+d.Digest.String()+" of "+img.Reference(), err)
	}
	v, err := VerifyNotationEnvelope(env, n.roots, n.now())
	if v != nil {
		s.KeyID, s.Identity, s.SignedAt = v.LeafID, leafIdentity(v.Chain[0]), v.SigningTime
		s.Provenance = provenanceFrom(v.Payload.TargetArtifact.Annotations)
	}
	switch {
	case err != nil:
		s.Problem = err.Error()
	case !sameDescriptor(v.Payload.TargetArtifact, img):
		s.Problem = fmt.Sprintf("the signature covers %s (%s, %d bytes), not this image",
			v.Payload.TargetArtifact.Digest, v.Payload.TargetArtifact.MediaType, v.Payload.TargetArtifact.Size)
	default:
		s.Verified = true
	}
	return s, nil
}

// sameDescriptor is notation's comparison: digest, size and media type.
func sameDescriptor(d Descriptor, img Image) bool {
	return d.Digest == img.Digest && d.Size == img.Size && d.MediaType == img.MediaType
}

func leafIdentity(leaf *x509.Certificate) string {
	return leaf.Subject.String() + " (issuer: " + leaf.Issuer.String() + ")"
}

// NotationEnvelope signs img's descriptor (with prov's annotations) with
// key, whose certificate chain is chain, at signing time now.
func NotationEnvelope(key crypto.Signer, chain []*x509.Certificate, img Image, prov Provenance, now time.Time, expiry time.Duration) ([]byte, error) {
	alg, err := jwsAlgorithm(key.Public())
	if err != nil {
		return nil, err
	}
	payload := NotationPayload{TargetArtifact: Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.Size}}
	if ann := prov.annotations(); len(ann) > 0 {
		payload.TargetArtifact.Annotations = ann
	}
	pb, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	hdr := JWSProtected{Alg: alg, Cty: NotationPayloadType, Crit: []string{hdrSigningScheme},
		SigningScheme: notationSigningScheme, SigningTime: now}
	if expiry > 0 {
		e := now.Add(expiry)
		hdr.Expiry = &e
		hdr.Crit = append(hdr.Crit, hdrExpiry)
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	env := JWSEnvelope{
		Protected: base64.RawURLEncoding.EncodeToString(hb),
		Payload:   base64.RawURLEncoding.EncodeToString(pb),
		Header:    JWSUnprotected{SigningAgent: signingAgent},
	}
	for _, c := range chain {
		env.Header.X5C = append(env.Header.X5C, c.Raw)
	}
	sig, err := jwsSign(key, alg, []byte(env.Protected+"."+env.Payload))
	if err != nil {
		return nil, err
	}
	env.Signature = base64.RawURLEncoding.EncodeToString(sig)
	return json.Marshal(env)
}

// notationManifest is the signature manifest for an envelope, as notation
// writes it.
func notationManifest(img Image, env []byte, chain []*x509.Certificate, now time.Time) ([]byte, error) {
	var thumbs []string
	for _, c := range chain {
		thumbs = append(thumbs, KeyID(c.Raw))
	}
	tb, err := json.Marshal(thumbs)
	if err != nil {
		return nil, err
	}
	ed, _, err := v1.SHA256(bytes.NewReader(env))
	if err != nil {
		return nil, err
	}
	m := struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Config        Descriptor        `json:"config"`
		Layers        []Descriptor      `json:"layers"`
		Subject       Descriptor        `json:"subject"`
		Annotations   map[string]string `json:"annotations"`
	}{
		SchemaVersion: notationManifestVersion,
		MediaType:     string(types.OCIManifestSchema1),
		Config:        Descriptor{MediaType: NotationArtifactType, Digest: emptyJSONDigest, Size: 2},
		Layers:        []Descriptor{{MediaType: NotationJWSMediaType, Digest: ed.String(), Size: int64(len(env))}},
		Subject:       Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.Size},
		Annotations:   map[string]string{annThumbprints: string(tb), annCreated: now.Format(time.RFC3339)},
	}
	return json.Marshal(m)
}

// VerifiedEnvelope is what VerifyNotationEnvelope read from an envelope.
type VerifiedEnvelope struct {
	Payload     NotationPayload
	Chain       []*x509.Certificate
	LeafID      string // SHA-256 thumbprint of the leaf certificate
	SigningTime time.Time
	Expiry      time.Time // zero: none
}

// VerifyNotationEnvelope checks a JWS envelope as notation verify does
// under a strict policy, without timestamps and revocation: the envelope's
// shape and critical headers, the signature with the leaf's key, the chain
// against Notation's requirements at signing time and now, one of roots in
// the chain, and the expiry. It returns what it read when the envelope
// could be parsed (with an error when it does not verify), so callers can
// name the signer of a signature they do not trust.
func VerifyNotationEnvelope(raw []byte, roots []*x509.Certificate, now time.Time) (*VerifiedEnvelope, error) {
	var env JWSEnvelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, errors.New("the envelope is not a JWS in JSON serialization")
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(env.Protected)
	pb, err2 := base64.RawURLEncoding.DecodeString(env.Payload)
	sig, err3 := base64.RawURLEncoding.DecodeString(env.Signature)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, errors.New("the envelope's parts are not base64url")
	}
	var hdr JWSProtected
	var hdrMap map[string]json.RawMessage
	if json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(hb, &hdrMap) != nil {
		return nil, errors.New("the protected header is not JSON of the expected shape")
	}
	v := &VerifiedEnvelope{SigningTime: hdr.SigningTime}
	if hdr.Expiry != nil {
		v.Expiry = *hdr.Expiry
	}
	if json.Unmarshal(pb, &v.Payload) != nil {
		return nil, errors.New("the payload is not a Notation payload")
	}
	if len(env.Header.X5C) == 0 {
		return nil, errors.New("the envelope carries no certificate chain")
	}
	for _, der := range env.Header.X5C {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, errors.New("the envelope's certificate chain cannot be parsed")
		}
		v.Chain = append(v.Chain, c)
	}
	v.LeafID = KeyID(v.Chain[0].Raw)

	// From here on the signer is known: return v with the reason.
	if hdr.Cty != NotationPayloadType {
		return v, fmt.Errorf("the payload's content type is %q, not %q", hdr.Cty, NotationPayloadType)
	}
	if hdr.SigningScheme != notationSigningScheme {
		return v, fmt.Errorf("signing scheme %q: trustdeck verifies %q", hdr.SigningScheme, notationSigningScheme)
	}
	if _, ok := hdrMap[hdrSigningTime]; !ok {
		return v, errors.New("the protected header has no signing time")
	}
	if err := checkCritical(hdr, hdrMap); err != nil {
		return v, err
	}
	alg, err := jwsAlgorithm(v.Chain[0].PublicKey)
	if err != nil {
		return v, err
	}
	if hdr.Alg != alg {
		return v, fmt.Errorf("the envelope says %s, but the certificate's key signs %s", hdr.Alg, alg)
	}
	if !jwsVerify(v.Chain[0].PublicKey, alg, []byte(env.Protected+"."+env.Payload), sig) {
		return v, errors.New("the signature does not verify: the envelope was altered")
	}
	if err := ValidateNotationChain(v.Chain, hdr.SigningTime, now); err != nil {
		return v, err
	}
	if !chainHasRoot(v.Chain, roots) {
		return v, errors.New("signed with a certificate that does not chain to a trusted root")
	}
	if !v.Expiry.IsZero() && !now.Before(v.Expiry) {
		return v, fmt.Errorf("the signature expired on %s", v.Expiry.UTC().Format(time.RFC3339))
	}
	return v, nil
}

// checkCritical applies the JWS crit rules notation applies: present,
// naming the signing scheme (and the expiry when there is one), and naming
// only headers that are present.
func checkCritical(hdr JWSProtected, m map[string]json.RawMessage) error {
	if len(hdr.Crit) == 0 {
		return errors.New(`the protected header has no "crit" list`)
	}
	if !slices.Contains(hdr.Crit, hdrSigningScheme) {
		return errors.New("the signing scheme is not marked critical")
	}
	if hdr.Expiry != nil && !slices.Contains(hdr.Crit, hdrExpiry) {
		return errors.New("the expiry is not marked critical")
	}
	for _, c := range hdr.Crit {
		if _, ok := m[c]; !ok {
			return fmt.Errorf("header %q is marked critical but not present", c)
		}
	}
	return nil
}

func chainHasRoot(chain, roots []*x509.Certificate) bool {
	for _, r := range roots {
		for _, c := range chain {
			if r.Equal(c) {
				return true
			}
		}
	}
	return false
}

// jwsAlgorithm is the JWS algorithm Notation uses for a key: ES256/384/512
// by curve, PS256/384/512 by RSA size (2048, 3072, 4096 bits and more).
func jwsAlgorithm(pub crypto.PublicKey) (string, error) {
	if err := CheckNotationKey(pub); err != nil {
		return "", err
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		default:
			return "ES512", nil
		}
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); {
		case bits >= 4096:
			return "PS512", nil
		case bits >= 3072:
			return "PS384", nil
		default:
			return "PS256", nil
		}
	}
	return "", fmt.Errorf("resign: no JWS algorithm for %T", pub)
}

func jwsHash(alg string) crypto.Hash {
	switch alg[2:] {
	case "384":
		return crypto.SHA384
	case "512":
		return crypto.SHA512
	}
	return crypto.SHA256
}

func digestFor(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA384:
		s := sha512.Sum384(msg)
		return s[:]
	case crypto.SHA512:
		s := sha512.Sum512(msg)
		return s[:]
	}
	s := sha256.Sum256(msg)
	return s[:]
}

// jwsSign signs msg for alg: ECDSA as the fixed-size r||s of RFC 7518,
// RSA as PSS with the salt as long as the hash.
func jwsSign(key crypto.Signer, alg string, msg []byte) ([]byte, error) {
	h := jwsHash(alg)
	d := digestFor(h, msg)
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		der, err := key.Sign(rand.Reader, d, h)
		if err != nil {
			return nil, fmt.Errorf("resign: sign envelope: %w", err)
		}
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			return nil, fmt.Errorf("resign: sign envelope: %w", err)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		rs.R.FillBytes(out[:size])
		rs.S.FillBytes(out[size:])
		return out, nil
	case *rsa.PublicKey:
		sig, err := key.Sign(rand.Reader, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		if err != nil {
			return nil, fmt.Errorf("resign: sign envelope: %w", err)
		}
		return sig, nil
	}
	return nil, fmt.Errorf("resign: cannot sign with %T", key.Public())
}

func jwsVerify(pub crypto.PublicKey, alg string, msg, sig []byte) bool {
	h := jwsHash(alg)
	d := digestFor(h, msg)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, d, r, s)
	case *rsa.PublicKey:
		return rsa.VerifyPSS(k, h, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	}
	return false
}

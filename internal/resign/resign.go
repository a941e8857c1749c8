// Package resign writes and reads the signature formats that follow Docker
// Content Trust: Sigstore's cosign (key-based, offline) and the Notary
// Project's Notation. Both live in the registry next to the image, and both
// are verifiable by their own unchanged CLIs (`cosign verify`, `notation
// verify`).
//
// A Format signs one image (a manifest digest in a repository) and finds the
// signatures of that format the registry holds for it, verified against the
// keys or certificates the Format trusts — its own, and those of others
// (CI pipelines) reported with their key or certificate identity. The
// migration service calls a Format per tag; the format code stays here, out
// of handlers and views. Keys come from the caller (internal/vault keeps
// them per namespace and format): this package never stores anything but
// signatures in the registry.
//
// Registry I/O goes through go-containerregistry over the caller's
// http.RoundTripper (internal/notaryclient's, which answers the registry's
// token challenges).
package resign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// Format names, as the API and the audit log spell them.
const (
	FormatCosign   = "cosign"
	FormatNotation = "notation"
)

// Annotations that carry what Docker Content Trust vouched for into the new
// signatures: in cosign's payload ("optional") and in Notation's signed
// payload (the target artifact's annotations, which `notation verify
// --user-metadata` checks). Users can require them: `cosign verify -a
// io.trustdeck.dct.tag=v1`.
const (
	AnnotationTag      = "io.trustdeck.dct.tag"
	AnnotationSigners  = "io.trustdeck.dct.signers"
	AnnotationVersion  = "io.trustdeck.dct.trust-version"
	maxManifestSize    = 4 << 20 // what notation reads at most
	maxSignatureBlob   = 4 << 20
	signingAgent       = "trustdeck"
	sha256DigestPrefix = "sha256:"
)

// Image is one manifest in a registry, named by digest.
type Image struct {
	// Registry is the registry's host[:port], reached over HTTPS.
	Registry string
	// Repository is the repository's path in the registry ("team/app").
	Repository string
	// Digest is the manifest's digest, "sha256:<64 hex>".
	Digest string
	// MediaType is the manifest's media type as the registry serves it
	// (Content-Type); Notation signs it with the digest and size.
	MediaType string
	// Size is the manifest's length in bytes.
	Size int64
}

// Reference is the image as the CLIs name it: <registry>/<repository>@<digest>.
func (i Image) Reference() string { return i.Name() + "@" + i.Digest }

// Name is <registry>/<repository>: cosign's docker-reference.
func (i Image) Name() string { return i.Registry + "/" + i.Repository }

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// check refuses an Image the formats cannot address.
func (i Image) check() error {
	switch {
	case i.Registry == "" || strings.ContainsAny(i.Registry, "/ "):
		return fmt.Errorf("resign: registry %q is not a host[:port]", i.Registry)
	case i.Repository == "" || strings.HasPrefix(i.Repository, "/") || strings.HasSuffix(i.Repository, "/"):
		return fmt.Errorf("resign: repository %q is not a repository path", i.Repository)
	case !digestRE.MatchString(i.Digest):
		return fmt.Errorf("resign: digest %q is not sha256:<64 lower-case hex>", i.Digest)
	case i.MediaType == "":
		return fmt.Errorf("resign: %s: the manifest's media type is needed", i.Reference())
	case i.Size <= 0:
		return fmt.Errorf("resign: %s: the manifest's size is needed", i.Reference())
	}
	return nil
}

// repository checks the image and names its repository.
func (i Image) repository() (name.Repository, error) {
	if err := i.check(); err != nil {
		return name.Repository{}, err
	}
	repo, err := name.NewRepository(i.Name(), name.StrictValidation)
	if err != nil {
		return name.Repository{}, fmt.Errorf("resign: %s: %w", i.Name(), err)
	}
	return repo, nil
}

// tagForm is the digest as a tag: sha256-<hex> (cosign's prefix and the
// referrers tag schema).
func (i Image) tagForm() string { return strings.Replace(i.Digest, ":", "-", 1) }

// Provenance is what Docker Content Trust said about the image: the tag it
// was signed under, by whom, in which version of the trust data.
type Provenance struct {
	Tag          string   // the DCT tag ("" if unknown)
	Signers      []string // DCT signer names (roles), e.g. ["alice", "targets"]
	TrustVersion int      // version of the targets metadata that signed it (0: unknown)
}

// annotations is the provenance as string annotations (empty values left out).
func (p Provenance) annotations() map[string]string {
	m := map[string]string{}
	if p.Tag != "" {
		m[AnnotationTag] = p.Tag
	}
	if len(p.Signers) > 0 {
		m[AnnotationSigners] = strings.Join(p.Signers, ",")
	}
	if p.TrustVersion > 0 {
		m[AnnotationVersion] = strconv.Itoa(p.TrustVersion)
	}
	return m
}

// provenanceFrom reads provenance annotations back (nil when none).
func provenanceFrom(m map[string]string) *Provenance {
	tag, signers, version := m[AnnotationTag], m[AnnotationSigners], m[AnnotationVersion]
	if tag == "" && signers == "" && version == "" {
		return nil
	}
	p := &Provenance{Tag: tag}
	if signers != "" {
		p.Signers = strings.Split(signers, ",")
	}
	p.TrustVersion, _ = strconv.Atoi(version)
	return p
}

// Signature is one signature of a format found in the registry for an image.
type Signature struct {
	Format string `json:"format"` // FormatCosign or FormatNotation
	// Ref locates it: cosign, the payload layer's digest in the
	// sha256-<hex>.sig manifest; Notation, the signature manifest's digest.
	Ref string `json:"ref"`
	// Verified: the signature is intact, covers this image (digest, and
	// for Notation media type and size), and was made by a key (cosign) or
	// a certificate chaining to a root (Notation) that the Format trusts.
	Verified bool `json:"verified"`
	// KeyID names the key that made it when known: for cosign the SHA-256
	// of the trusted public key (PKIX DER, hex) that verifies it, or of a
	// certificate's key; for Notation the SHA-256 thumbprint of the
	// signing certificate.
	KeyID string `json:"key_id,omitempty"`
	// Identity is who signed, for people: a certificate's subject (and
	// issuer), or "key <id>" for a bare cosign key; "" when the signature
	// was made with a key the Format does not know.
	Identity string `json:"identity,omitempty"`
	// Problem says why it is not Verified ("" when it is).
	Problem string `json:"problem,omitempty"`
	// Provenance is the DCT provenance the signature carries, if any.
	Provenance *Provenance `json:"provenance,omitempty"`
	// SignedAt is the signing time the signature claims (Notation; zero
	// for cosign, whose key-based signatures carry none).
	SignedAt time.Time `json:"signed_at,omitzero"`
}

// Outcome says what Sign did.
type Outcome struct {
	// Added is false when an equal signature (same key, same digest, same
	// DCT tag) was already there and verified: nothing was written.
	Added bool
	// Signature is the signature that now covers the image.
	Signature Signature
}

// Format is one signature format. Sign writes a signature of img into the
// registry unless one made with the same key for the same DCT tag is
// already there and verifies (idempotent: rerunning adds nothing); Find
// reads the registry back and reports every signature of the format for
// img, verified against the keys the Format trusts. A Format built without
// a signing key can only Find.
type Format interface {
	Name() string
	Sign(ctx context.Context, img Image, prov Provenance) (Outcome, error)
	Find(ctx context.Context, img Image) ([]Signature, error)
}

// ErrNoSigningKey is returned by Sign on a Format built to verify only.
var ErrNoSigningKey = errors.New("resign: this format was built without a signing key")

// KeyID is the SHA-256 (hex) of a PKIX-encoded public key or of a DER
// certificate: how this package names keys and certificates.
func KeyID(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// alreadySigned finds, among sigs, a verified signature by keyID for the
// DCT tag of prov: what Sign deduplicates on.
func alreadySigned(sigs []Signature, keyID string, prov Provenance) (Signature, bool) {
	for _, s := range sigs {
		tag := ""
		if s.Provenance != nil {
			tag = s.Provenance.Tag
		}
		if s.Verified && s.KeyID == keyID && tag == prov.Tag {
			return s, true
		}
	}
	return Signature{}, false
}

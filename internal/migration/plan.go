package migration

import (
	"slices"

	"github.com/trustdeck/trustdeck/internal/trust"
)

// Actions of a planned tag.
const (
	ActionSign = "sign"
	ActionSkip = "skip"
)

// Why a signed tag is skipped (and, in a run, why an item was).
const (
	// ReasonDrifted: the registry's tag points at another digest than the
	// one signed: signing it anew would vouch for an image DCT never did.
	ReasonDrifted = "drifted"
	// ReasonMissing: the registry no longer serves the signed digest.
	ReasonMissing = "missing"
	// ReasonExpired: the trust data that signs the tag has expired; docker
	// refuses it, so trustdeck does not carry it over either.
	ReasonExpired = "expired trust data"
	// ReasonNotVerifiable: the trust data or the registry could not be
	// checked (verification failed, the registry could not be read, the
	// target has no sha256 hash).
	ReasonNotVerifiable = "not verifiable"
	// ReasonAlreadySigned (runs only): a verified signature by the same key
	// for the same tag is in the registry already; nothing was written.
	ReasonAlreadySigned = "already signed"
)

// Input is what the plan of one repository is made of: its tags compared
// across the registry and the trust data (registry.Tags, which reads the
// trust data leniently: expired rows included), and what verified.
type Input struct {
	Namespace, Name string
	// States are every tag, signed or in the registry (trust.TagStates).
	States []trust.TagState
	// RegistryKnown is set when the registry's tags are current;
	// RegistryError says why not.
	RegistryKnown bool
	RegistryError string
	// Verified are the rows of the trust data as docker verifies it now
	// (trust.Reader.Load): tag → what it signs. A signed state whose row is
	// not among them is signed by trust data that did not verify.
	Verified map[string][]VerifiedRow
	// TrustReason and TrustMessage say why rows did not verify: expired
	// trust data (ReasonExpired), or verification that failed
	// (ReasonNotVerifiable). "" when the trust data verified: a row missing
	// from Verified is then one of an expired delegation.
	TrustReason, TrustMessage string
}

// VerifiedRow is one verified signed row: the digest and the version of the
// targets role that released it.
type VerifiedRow struct {
	Digest  string // sha256:<hex>
	Version int
}

// RepositoryPlan is what a run would do with one repository.
type RepositoryPlan struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Tags are the signed tags (docker's released rows), in natural order.
	Tags []PlannedTag `json:"tags"`
	// Unsigned are the registry's tags without a signature: nothing to
	// carry over (signature artifacts, sha256-<hex>[.sig], left out).
	Unsigned []UnsignedTag `json:"unsigned"`
	// Keys are the keys that will sign, one per format the namespace has.
	Keys []PlanKey `json:"keys"`
	// Error, when set, says why no plan could be made (trust data or
	// registry unreadable): Tags and Unsigned are then empty.
	Error string `json:"error,omitempty"`
}

// PlannedTag is one signed tag and what a run does with it.
type PlannedTag struct {
	Name string `json:"name"`
	// Digest is the digest DCT signed for the tag ("" if none).
	Digest string `json:"digest"`
	// RegistryDigest is the registry's ("" when the tag is gone).
	RegistryDigest string `json:"registry_digest"`
	Action         string `json:"action"`
	Reason         string `json:"reason"` // "" for ActionSign
	// Message says why, in words.
	Message string `json:"message"`
	// Signers are who signed it in DCT (as docker trust inspect names them).
	Signers []string `json:"signers"`
	// TrustVersion is the version of the targets role that releases it
	// (0 unless verified).
	TrustVersion int `json:"trust_version"`
}

// UnsignedTag is a registry tag without a signature.
type UnsignedTag struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// PlanKey is the key that signs in one format.
type PlanKey struct {
	Format    string `json:"format"`
	KeyID     string `json:"key_id"`
	Algorithm string `json:"algorithm"`
	// Identity is the Notation signing certificate's subject ("" for
	// cosign); VaultKeyID names the DCT key a cosign key is, if it is one.
	Identity   string `json:"identity,omitempty"`
	VaultKeyID string `json:"vault_key_id,omitempty"`
}

// Counts count a plan's tags.
type Counts struct {
	Sign     int `json:"sign"`
	Skip     int `json:"skip"`
	Unsigned int `json:"unsigned"`
}

// Counts counts p's tags.
func (p RepositoryPlan) Counts() Counts {
	c := Counts{Unsigned: len(p.Unsigned)}
	for _, t := range p.Tags {
		if t.Action == ActionSign {
			c.Sign++
		} else {
			c.Skip++
		}
	}
	return c
}

// Plan decides, for every signed tag of a repository, whether a run signs
// it anew: only when the trust data that signs it verifies and the registry
// serves exactly the signed digest. Everything else is skipped with the
// reason. It is a pure function of its input.
func Plan(in Input) RepositoryPlan {
	p := RepositoryPlan{Namespace: in.Namespace, Name: in.Name, Tags: []PlannedTag{}, Unsigned: []UnsignedTag{}}
	for _, st := range in.States {
		if st.SignedDigest == "" && len(st.Signers) == 0 {
			if st.RegistryDigest != "" && !trust.IsSignatureTag(st.Name) {
				p.Unsigned = append(p.Unsigned, UnsignedTag{Name: st.Name, Digest: st.RegistryDigest})
			}
			continue
		}
		t := PlannedTag{Name: st.Name, Digest: st.SignedDigest, RegistryDigest: st.RegistryDigest,
			Action: ActionSkip, Signers: slices.Clone(st.Signers)}
		if t.Signers == nil {
			t.Signers = []string{}
		}
		row, verified := verifiedRow(in.Verified[st.Name], st.SignedDigest)
		switch {
		case st.SignedDigest == "":
			t.Reason, t.Message = ReasonNotVerifiable, "The trust data signs no sha256 digest for this tag."
		case !verified && in.TrustReason != "":
			t.Reason, t.Message = in.TrustReason, in.TrustMessage
		case !verified:
			t.Reason, t.Message = ReasonExpired,
				"The delegation that signs this tag has expired (or no longer verifies): docker ignores it."
		case !in.RegistryKnown:
			t.Reason, t.Message = ReasonNotVerifiable, "The registry's tags are not known: "+in.RegistryError
		case st.State == trust.TagSigned:
			t.Action, t.Message, t.TrustVersion = ActionSign, "The registry serves the signed digest.", row.Version
		case st.State == trust.TagDrifted:
			t.Reason, t.Message = ReasonDrifted,
				"The registry's tag points at "+st.RegistryDigest+", not at the signed digest."
		case st.State == trust.TagMissing:
			t.Reason, t.Message = ReasonMissing, "The registry no longer serves the signed digest."
		default:
			t.Reason, t.Message = ReasonNotVerifiable, "The tag's state in the registry is "+st.State+"."
		}
		p.Tags = append(p.Tags, t)
	}
	return p
}

func verifiedRow(rows []VerifiedRow, digest string) (VerifiedRow, bool) {
	for _, r := range rows {
		if r.Digest == digest {
			return r, true
		}
	}
	return VerifiedRow{}, false
}

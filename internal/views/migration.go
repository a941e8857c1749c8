package views

import (
	"strconv"
	"time"
)

// The migration off Docker Content Trust: the plan, the run's progress, the
// namespaces' signing keys and verification exports, and the signature
// columns of the tags.

// MigrationView is a plan page: one repository's (Scope "repository") or
// everything the caller administers (Scope "all").
type MigrationView struct {
	Scope           string
	Namespace, Name string // Scope "repository"
	// Error says why there is no plan (no registry, say).
	Error string
	Repos []MigrationRepo
	// Totals over Repos.
	Sign, Skip, Unsigned int
	// Namespaces are the administered namespaces with their signing keys
	// (Scope "all").
	Namespaces []NamespaceKeys
	// Runs are the newest runs the caller may watch (Scope "all").
	Runs []MigrationRunView
	// FormError is the run form's error, shown next to it.
	FormError string
	// KeyError is the signing keys form's error; KeyTyped what a refused
	// Notation import held.
	KeyError string
	KeyTyped KeyTyped
}

// MigrationRepo is one repository's plan.
type MigrationRepo struct {
	Namespace, Name string
	Error           string
	Tags            []MigrationTag
	Unsigned        []MigrationUnsigned
	Keys            []MigrationKey
	// Counts of Tags by action, and of Unsigned.
	Sign, Skip, UnsignedN int
}

// FullName is namespace/name.
func (r MigrationRepo) FullName() string { return r.Namespace + "/" + r.Name }

// MigrationTag is one signed tag and what a run does with it.
type MigrationTag struct {
	Name, Digest, RegistryDigest string
	Action, Reason, Message      string
	Signers                      []string
}

// MigrationUnsigned is a registry tag without a signature.
type MigrationUnsigned struct{ Name, Digest string }

// MigrationKey is a cosign or Notation key of a namespace.
type MigrationKey struct {
	Format, Role, KeyID, Algorithm string
	// Identity is a certificate's subject; VaultKeyID the DCT key a cosign
	// key is, if it is one.
	Identity, VaultKeyID string
}

// NamespaceKeys are one namespace's signing keys and exports.
type NamespaceKeys struct {
	Namespace string
	Keys      []MigrationKey
	// VaultKeys are the signers' keys of the vault the caller may make the
	// namespace's cosign key.
	VaultKeys []VaultKeyChoice
}

// VaultKeyChoice is a signer's key of the vault, offered for cosign.
type VaultKeyChoice struct {
	ID, Role, Algorithm string
}

// Has reports whether the namespace has a key of format.
func (n NamespaceKeys) Has(format string) bool {
	for _, k := range n.Keys {
		if k.Format == format {
			return true
		}
	}
	return false
}

// VerificationExports are the files of a namespace's verification policy.
var VerificationExports = []string{"cosign.pub", "notation-truststore.pem", "trustpolicy.json", "kyverno.yaml"}

// MigrationRunView is a run and its progress.
type MigrationRunView struct {
	ID, State, Error                        string
	Repositories, Formats                   []string
	StartedBy                               string
	StartedAt, FinishedAt                   time.Time
	Total, Pending, Signed, Skipped, Failed int
	Progress                                int
	Items                                   []MigrationItem
}

// Running reports whether the run is still going (the page refreshes).
func (r MigrationRunView) Running() bool { return r.State == "running" }

// MigrationItem is one tag and format of a run.
type MigrationItem struct {
	Repository, Tag, Digest, Format string
	Status, Reason, Message, Key    string
}

// TagSigs are the signatures the registry holds for a tag's digest.
type TagSigs struct {
	DCT              bool
	Cosign, Notation SigMark
	Others           []OtherSig
	Error            string
	// Checking: the registry is being read for the digest (cosign and
	// Notation unknown yet).
	Checking bool
}

// SigMark is one format's column: signed by the namespace's key.
type SigMark struct {
	Signed          bool
	KeyID, Identity string
}

// OtherSig is a signature not made by the namespace's keys.
type OtherSig struct {
	Format, Identity, KeyID, Problem string
	Verified                         bool
}

func migrationRunPath(id string) string { return "/migrations/" + id }

func percent(n int) string { return strconv.Itoa(n) + "%" }

func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19] + "…"
	}
	return digest
}

// shortID is the first 12 characters of an ID, as docker shows key IDs.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// RunKeys are the signing keys the plan's repositories sign with, each
// once: the run form asks for the passphrase of those that have their own.
func (m MigrationView) RunKeys() []MigrationKey {
	var out []MigrationKey
	seen := map[string]bool{}
	for _, r := range m.Repos {
		for _, k := range r.Keys {
			if !seen[k.KeyID] {
				seen[k.KeyID] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// KeyTyped is what a refused Notation import form held, shown again: the
// certificates, never the private key or the passphrase.
type KeyTyped struct {
	Namespace, Chain, Root string
}

package audit

import "strings"

// ActionInfo is an action the audit records and what it did, in words.
type ActionInfo struct {
	Action string
	Does   string // "added a signer"
}

// Actions are the actions the audit records, in the order the audit page
// offers them as filters.
var Actions = []ActionInfo{
	{TrustUpdate, "published trust data"},
	{TrustInit, "initialised trust"},
	{SignerAdd, "added a signer"},
	{SignerRevoke, "revoked a signer"},
	{TagRevoke, "revoked a tag"},
	{TrustRenew, "renewed a role"},
	{TrustRotateRoot, "rotated the root key"},
	{TrustRotateKey, "rotated a server-held key"},
	{TrustDelete, "deleted the trust data"},
	{RepoCreate, "created the repository"},
	{RepoDelete, "deleted the repository"},
	{KeyImport, "imported a key into the vault"},
	{KeyExport, "downloaded a key from the vault"},
	{KeyDelete, "removed a key from the vault"},
	{UserKeyAdd, "registered a public key"},
	{UserKeyDelete, "removed a registered public key"},
	{UserCreate, "created an account"},
	{UserDisable, "disabled an account"},
	{UserEnable, "enabled an account"},
	{UserPasswordReset, "set a new password"},
	{UserDelete, "deleted an account"},
	{MemberSet, "set a role"},
	{MemberRemove, "removed a role"},
	{MigrationSign, "signed a tag anew (cosign or Notation)"},
	{SigningKeyCreate, "made a cosign or Notation signing key"},
	{SigningKeyDelete, "removed a cosign or Notation signing key"},
}

// Known reports whether action is one the audit records.
func Known(action string) bool {
	for _, a := range Actions {
		if a.Action == action {
			return true
		}
	}
	return false
}

// Describe says what an event did, after its actor's name: "signed 1.2
// (sha256:37ed28633f0d…) in targets/releases · targets/releases v3, …",
// "added a signer: signer ian with key …".
func Describe(e Event) string {
	if e.Action == TrustUpdate && (strings.HasPrefix(e.Detail, "signed ") || strings.HasPrefix(e.Detail, "removed ")) {
		return e.Detail
	}
	does := e.Action
	for _, a := range Actions {
		if a.Action == e.Action {
			does = a.Does
		}
	}
	if e.Detail == "" {
		return does
	}
	return does + ": " + e.Detail
}

// Package views holds trustdeck's templ components. Every component is a pure
// function of the view models in this file: no I/O, no services.
package views

import (
	"slices"
	"time"

	"github.com/trustdeck/trustdeck/internal/names"
)

// Page carries what the layout needs on every page.
type Page struct {
	Title  string
	Viewer *Viewer // nil when nobody is signed in
	CSRF   string  // token for every form
	Nav    string  // active navigation entry
	Notice string  // one-off success message
	// NoticeAt is the id of the section of the next page that shows the
	// notice beside what changed, and Changed the ids of what changed there
	// (highlighted). A page that shows it there moves it out of Notice;
	// otherwise the layout shows it at the top.
	NoticeAt string
	Changed  []string
	// Caution is a one-off notice that is no success: a change sent
	// without an answer, which may or may not have been applied.
	Caution string
	// Refresh, when set, reloads the page after that many seconds (a run's
	// progress while it runs).
	Refresh int
}

// SectionNotice is a success notice shown inside section At of a page
// (the redirect after the change lands on it), beside what changed:
// Changed lists the ids of the rows it touched.
type SectionNotice struct {
	Text    string
	At      string
	Changed []string
}

// In reports whether the notice belongs to section id.
func (n SectionNotice) In(id string) bool { return n.Text != "" && n.At == id }

// Touched reports whether the change touched the row of id.
func (n SectionNotice) Touched(id string) bool { return slices.Contains(n.Changed, id) }

// Viewer is the signed-in account.
type Viewer struct {
	Username string
	IsAdmin  bool
	// Manages is true for global admins and admins of some namespace: they
	// see the Users and Audit pages.
	Manages bool
	// GeneratedPassword is set while the account signs in with the password
	// trustdeck generated on its first start: every page reminds them to
	// change it.
	GeneratedPassword bool
}

// LoginForm is the login page's state.
type LoginForm struct {
	Username string
	Next     string
	Error    string
}

// RepoRow is one line of the repository list.
type RepoRow struct {
	Namespace string
	Name      string
	GUN       string
	CreatedAt time.Time
	Trust     RepoTrustState
	// Registry is the repository's registry tags counted by state (nil
	// without a registry, or before it was first read).
	Registry *RepoRegistryCounts
}

// RepoRegistryCounts is a list row's registry column.
type RepoRegistryCounts struct {
	Tags, Unsigned, Drifted, Missing int
	// Failing is set while the registry cannot be read (the counts are the
	// last known).
	Failing bool
}

// RepoList is the repository list page.
type RepoList struct {
	Sort      string // name, signed, expiry
	Filter    string // "", signed, unsigned, expiring
	Query     string
	Rows      []RepoRow
	Total     int
	Page      int
	Pages     int
	PrevURL   string
	NextURL   string
	CanCreate bool
	// Registry is set when trustdeck reads a registry: the list has a
	// registry column and filter.
	Registry bool
	// Discovery is the external Notary server's changefeed (nil with the
	// embedded server).
	Discovery *DiscoveryState
	// Expired and Expiring count the viewer's repositories whose trust data
	// has expired, or expires within 30 days (whatever the filters).
	Expired, Expiring int
	// Archived is the latest archive of each archived repository the viewer
	// may read (whatever the filters), shown below the list.
	Archived []ArchiveRow
}

// DiscoveryState says whether repositories are being discovered from an
// external Notary server's changefeed.
type DiscoveryState struct {
	Server   string // the server's URL; global administrators only
	Error    string // why the changefeed cannot be read; "" when it can (detail for global administrators)
	Failing  bool
	LastRead time.Time // zero before the first good read
}

// RepoForm is the create-repository form.
type RepoForm struct {
	Namespace  string
	Name       string
	Error      string
	Namespaces []string // namespaces the viewer administers (suggestions); nil for global admins
	// GUN is the other way to name it: a whole GUN, offered (AcceptGUN) to
	// global administrators in front of an external Notary server, where
	// GUNs outside the registry host are listed under their full name.
	GUN       string
	AcceptGUN bool
	// RegistryHost is the host images of the repositories are named with.
	RegistryHost string
}

// RepoDetail is the repository page.
type RepoDetail struct {
	Namespace    string
	Name         string
	GUN          string
	RegistryHost string
	CreatedAt    time.Time
	CreatedBy    string
	Role         string
	Trust        TrustView
	CanManage    bool // namespace or global admin: trust management controls
	// Notice is the success notice of a change of the trust data, shown
	// in the section that changed.
	Notice SectionNotice
}

// UserRow is one account on the admin page.
type UserRow struct {
	Username  string
	IsAdmin   bool
	Disabled  bool
	CreatedAt time.Time
	Roles     []NamespaceRole
}

// UserPage is one account's page: its roles (those the viewer may see and
// remove) and, for global administrators, disabling, a new password and
// deletion.
type UserPage struct {
	User UserRow
	// Manage is set for global administrators looking at someone else.
	Manage bool
	// Removable are the namespaces whose role the viewer may remove.
	Removable    []string
	Errors       FormErrors
	PasswordRule string
}

// MayRemove reports whether the viewer may remove the role in ns.
func (u UserPage) MayRemove(ns string) bool { return slices.Contains(u.Removable, ns) }

// NamespaceRole is a role held in a namespace.
type NamespaceRole struct {
	Namespace string
	Role      string
}

// UsersAdmin is the admin page for users and roles.
type UsersAdmin struct {
	Users        []UserRow
	CanCreate    bool // global admins create users
	CreateErrors FormErrors
	RoleErrors   FormErrors
	Form         UserForm
	RoleForm     RoleForm
	// Namespaces are offered to the set-role form: the ones the viewer
	// administers, or for global administrators every one with a role.
	Namespaces []string
	// PasswordRule says which passwords are accepted, next to the field.
	PasswordRule string
}

// UserForm keeps what was typed into the create-user form.
type UserForm struct {
	Username string
	Admin    bool
}

// RoleForm keeps what was typed into the set-role form.
type RoleForm struct {
	Username  string
	Namespace string
	Role      string
}

// ErrorInfo is an error page.
type ErrorInfo struct {
	Status  int
	Title   string
	Message string
}

// FormatTime renders a timestamp the same way everywhere.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// AuditRow is one audit event.
type AuditRow struct {
	At     time.Time
	Actor  string
	Action string
	GUN    string
	Detail string
	Source string
	// Summary says what the actor did, in words; Path is the page of the
	// repository it happened in ("" when none, or deleted since), and
	// Repository its name.
	Summary    string
	Path       string
	Repository string
}

// AuditView is the audit page: its filters (as given), the events and
// the link to older ones.
type AuditView struct {
	Repository, Actor, Action, From, To string
	Actions                             []AuditAction
	Events                              []AuditRow
	OlderURL                            string
}

// AuditAction is an action the audit can be filtered by.
type AuditAction struct {
	Action, Label string
}

// Filtered reports whether a filter is set.
func (a AuditView) Filtered() bool {
	return a.Repository != "" || a.Actor != "" || a.Action != "" || a.From != "" || a.To != ""
}

// TrustView is the trust part of the repository page. State is "none" (no
// trust data), "ok", "error" (Error says what failed) or "expired" (Error
// says which role expired; the trust data can still be backed up).
type TrustView struct {
	State string
	Error string
	// Tags are the rows of this page (TagsPerPage at most).
	Tags     []SignedTagRow
	TagCount int // before filtering
	// Matching is the number of rows the filters keep; Page (1-based) of
	// Pages shows rows FirstRow… of them.
	Matching, Page, Pages, FirstRow int
	TagFilter                       string
	SignerFilter                    string
	// StateFilter keeps the rows in one registry state ("" for all).
	StateFilter string
	// Registry is what the registry says (Configured false without
	// --registry-url: the table lists docker's signed rows only).
	// Signatures is set when the rows carry the registry's cosign and
	// Notation signatures (Sigs): with a registry and the migration service.
	Signatures     bool
	Registry       RegistryView
	Sort           string // tag, -tag, digest, -digest, signers, -signers
	SignerNames    []string
	Signers        []SignerRow
	RootKeys       []AdminKey
	RepositoryKeys []string
	Expiries       []ExpiryRow
	// RootResign is root's expiry when it falls within six months: notary
	// then signs root again with every change (zero otherwise).
	RootResign time.Time
	Unreleased []UnreleasedRow
	// Disagreeing is the number of tags whose roles hold more than one
	// digest.
	Disagreeing int
	// Pretty is docker's pretty output, kept inline for at most
	// InlinePrettyTags tags; beyond that PrettyURL is where to read it.
	Pretty         string
	PrettyURL      string
	InspectCommand string
}

// AdminKey is a root key: its canonical ID (what its private key file is
// named after, what the key vault and `notary key list` show) and the ID of
// its certificate, which root.json lists and `docker trust inspect` shows.
type AdminKey struct {
	ID            string
	CertificateID string
}

// TagsPerPage is how many signed tags a repository page lists at a time;
// InlinePrettyTags is how many tags docker's pretty output may hold to be
// shown on the page itself.
const (
	TagsPerPage      = 100
	InlinePrettyTags = 100
)

// SignedTagRow is one row of the tags table: docker's signed row, and with a
// registry, the registry's tag of that name.
type SignedTagRow struct {
	Tag     string
	Digest  string   // the signed digest, hex as docker shows it ("" when unsigned)
	Signers []string // "Repo Admin" alone when no named signer
	// With a registry: State is signed, unsigned, drifted, missing or
	// unknown; RegistryDigest is the registry's ("sha256:<hex>", "" when
	// none or not known).
	State          string
	RegistryDigest string
	// Sigs are the registry's signatures of the tag's digest (rows of the
	// page shown, with a registry; nil otherwise).
	Sigs *TagSigs
	// Disagree is set when the tag's roles hold more than one digest (a
	// signer's role differs from the released digest).
	Disagree bool
}

// RegistryView is what the registry said of a repository's tags, and when.
type RegistryView struct {
	Configured bool
	// Known is set once the registry was read for the repository; Error,
	// when set, is why the last read failed (the counts are from before).
	Known     bool
	CheckedAt time.Time
	Error     string
	// Counts of the tags in each state.
	Signed, Unsigned, Drifted, Missing, Unknown int
}

// TagStates are the registry states of tags, in the order pages list them.
var TagStates = []string{"signed", "unsigned", "drifted", "missing", "unknown"}

// Count is the number of tags in state.
func (r RegistryView) Count(state string) int {
	switch state {
	case "signed":
		return r.Signed
	case "unsigned":
		return r.Unsigned
	case "drifted":
		return r.Drifted
	case "missing":
		return r.Missing
	case "unknown":
		return r.Unknown
	}
	return 0
}

// SignerRow is a signer (delegation) and its keys.
type SignerRow struct {
	Name string
	Keys []KeyRow
}

// KeyRow describes one public key.
type KeyRow struct {
	ID           string
	ShortID      string
	Type         string // "x509 certificate" or "public key"
	Algorithm    string
	Subject      string
	Expires      time.Time
	ExpiryStatus string // ok, expiring, expired ("" without a certificate)
	RegisteredBy string
}

// ExpiryRow is one role's metadata version and expiry.
type ExpiryRow struct {
	Role    string
	Version int
	Expires time.Time
	Status  string // ok, expiring, expired
	Left    string // human "in 12 days" / "3 days ago"
}

// UnreleasedRow is a tag signed only in signers' own roles.
type UnreleasedRow struct {
	Tag    string
	Digest string
	Roles  []string
	// TagReleased is set when the tag is released with another digest.
	TagReleased bool
}

// TagDetailView lists every role's digest for one tag.
type TagDetailView struct {
	Namespace string
	Name      string
	GUN       string
	Tag       string
	Entries   []TagRoleEntry
	Disagree  bool
	Released  bool
	CanManage bool
	// With a registry: the tag's state there, the digest docker resolves
	// the tag to ("sha256:<hex>"), the digest DCT clients pull (the released
	// one, "sha256:<hex>"), and the platforms of an index.
	Registry       RegistryView
	State          string
	RegistryDigest string
	SignedDigest   string
	Platforms      []string
	// ImageName is <registry host>/<namespace>/<name>, for pull commands.
	ImageName string
	// Sigs are the registry's signatures of the tag's digest (with a
	// registry).
	Sigs *TagSigs
	// Unknown is set when nothing signs the tag and the registry does not
	// have it: the repository has no such tag (404).
	Unknown bool
	// PulledRole and PulledDigest (hex) are what `docker pull` with content
	// trust resolves the tag to: targets/releases' digest, else targets';
	// "" when neither holds the tag.
	PulledRole, PulledDigest string
}

// TagRoleEntry is one role's target for the tag, and who signs that role:
// Signer is the signer's name for a signer's own role, Signers the signers
// whose keys may sign targets/releases, and for targets the repository key.
type TagRoleEntry struct {
	Role    string
	Digest  string
	Size    int64
	Signer  string
	Signers []string
}

// RepoTrustState is the trust summary shown in the repository list.
type RepoTrustState struct {
	State         string // none, unsigned, signed, error, unknown
	SignedTags    int
	Signers       int
	NearestExpiry time.Time
	ExpiryRole    string
	ExpiryStatus  string
	LastSigned    time.Time
}

// InitForm is the initialise-trust form.
type InitForm struct {
	Namespace string
	Name      string
	GUN       string
	Errors    FormErrors
}

// InitDone is shown after initialising trust.
type InitDone struct {
	Namespace       string
	Name            string
	GUN             string
	RootKeyID       string // canonical: the key file's and the vault's ID
	RootCertID      string // its certificate's, as root.json lists it and docker shows it ("" if not read)
	RepositoryKeyID string
}

// RootKeyConfirm is what to type to remove the root key without a download.
func (d InitDone) RootKeyConfirm() string { return shortKey(d.RootKeyID) }

// SignerForm is the add-signer form.
type SignerForm struct {
	Namespace   string
	Name        string
	GUN         string
	SignerName  string
	KeyChoice   string // a registered key "user/keyid", or "" for an upload
	Registered  []RegisteredKeyOption
	RepoKeyID   string // the repository key the vault must hold ("" unknown)
	RepoKeyHeld bool
	// PublicKey is the PEM pasted into the form, kept when it is refused
	// (never a private key).
	PublicKey string
	Errors    FormErrors
}

// RegisteredKeyOption is a user's registered public key offered as a signer key.
type RegisteredKeyOption struct {
	Value string // "username/keyid"
	Label string
}

// RevokeForm shows the impact of revoking a signer.
type RevokeForm struct {
	Namespace        string
	Name             string
	GUN              string
	Signer           string
	Keys             []string
	LosesLastSigner  []string
	Unpullable       []string
	RevertsToTargets []string
	// Counts says first what leaves the trust data ("removes 4 unreleased
	// tags and 0 released tags"); RemovedUnreleased are the unreleased
	// signatures only the signer's role holds, and KeepRelease the released
	// tags the signer signed that stay released.
	Counts            string
	RemovedUnreleased []UnreleasedRow
	KeepRelease       []string
	RequiresConfirm   bool
	RepoKeyID         string
	RepoKeyHeld       bool
	Errors            FormErrors
}

// VaultKeyRow is a private key held in the vault.
type VaultKeyRow struct {
	ID        string // canonical: its key file's name, what `notary key list` shows
	Role      string
	GUN       string
	Algorithm string
	CreatedBy string
	CreatedAt time.Time
	// Repository is the GUN the key belongs to: its GUN, or for a root key
	// the one it was made for ("" when not known).
	Repository string
	// Use says whether the repository's trust data lists the key: "current",
	// "superseded" (it lists other keys for the role: rotated out), or ""
	// (not known). CertificateID is, for a current root key, the ID of its
	// certificate, which root.json lists and docker shows.
	Use           string
	CertificateID string
	// Downloaded is set once the key was downloaded; Unrecoverable for a root
	// key that never was (removing it needs ConfirmID typed).
	Downloaded    bool
	Unrecoverable bool
	ConfirmID     string
}

// VaultPage lists the vault's keys and the import form.
type VaultPage struct {
	Keys  []VaultKeyRow
	Error string
}

// RemoveKeyForm asks for the confirmation that removing a key the vault
// holds the only copy of loses it: Next is where to go afterwards.
type RemoveKeyForm struct {
	Key    VaultKeyRow
	Next   string
	Errors FormErrors
}

// ProfilePage shows the viewer's registered public keys.
type ProfilePage struct {
	Username string
	Keys     []KeyRow
	// SignerIn are the roles, repository by repository, whose delegation
	// holds one of the user's registered keys (repositories the user may
	// read).
	SignerIn      []SignerIn
	Error         string
	PasswordError string
	// PasswordRule says which passwords are accepted, next to the field.
	PasswordRule string
}

// SignerIn is a role of a repository that one of the user's keys may sign.
type SignerIn struct {
	Namespace, Name, GUN string
	// Role is the delegation ("targets/jeff"), Signer its signer name, and
	// Keys the short IDs of the user's keys in it.
	Role, Signer string
	Keys         []string
}

// DeleteWizard is the "Delete repository" page: its steps follow the real
// state, so a failed or interrupted removal resumes where it stopped.
type DeleteWizard struct {
	Namespace  string
	Name       string
	GUN        string
	HasTrust   bool
	TrustError string
	// Expired lists the roles whose metadata has expired: the trust data
	// was verified in every other respect and can still be backed up.
	Expired    []ExpiryRow
	SignedTags int
	Signers    []string
	Roles      []ExpiryRow // Status "expired" marks expired roles
	LastUpdate time.Time
	History    []AuditRow
	VaultKeys  []VaultKeyRow
	Error      string
}

// FullName is namespace/name (a foreign repository's GUN), what the admin
// types to confirm.
func (d DeleteWizard) FullName() string { return names.Display(d.Namespace, d.Name) }

// TagRevokeForm is the form that removes a tag from the roles trustdeck can
// sign (docker trust revoke).
type TagRevokeForm struct {
	Namespace string
	Name      string
	GUN       string
	Tag       string
	Roles     []TagRevokeRole
	Error     string
}

// TagRevokeRole is one role holding the tag.
type TagRevokeRole struct {
	Role       string
	Digest     string
	VaultKeyID string
}

// RenewForm is the confirmation form that renews a role's expiry (signs it
// again, unchanged, like `notary witness`).
type RenewForm struct {
	Namespace string
	Name      string
	GUN       string
	Role      string // targets or a delegation (targets/<name>)
	Version   int
	Expires   time.Time
	Expired   bool
	// NewExpires is the expiry a renewal now gives.
	NewExpires time.Time
	// KeyIDs may sign the role; VaultKeyID is the vault's key among them
	// ("" if it holds none).
	KeyIDs     []string
	VaultKeyID string
	Errors     FormErrors
}

// RootKeys pairs the current root keys' IDs with their certificates' IDs.
func (f RotateRootForm) RootKeys() []AdminKey {
	out := make([]AdminKey, len(f.KeyIDs))
	for i, id := range f.KeyIDs {
		out[i].ID = id
		if i < len(f.CertificateIDs) {
			out[i].CertificateID = f.CertificateIDs[i]
		}
	}
	return out
}

// IsTargets reports whether the form renews the targets role (signed with
// the repository key).
func (f RenewForm) IsTargets() bool { return f.Role == "targets" }

// RotateRootForm is the confirmation form that rotates a repository's root
// key (`notary key rotate <gun> root`) with the root key in the vault.
type RotateRootForm struct {
	Namespace string
	Name      string
	GUN       string
	// Version and Expires are the current root metadata's;
	// CertificateExpires is the earliest expiry of its root certificates.
	Version            int
	Expires            time.Time
	CertificateExpires time.Time
	// KeyIDs are the current root keys (canonical IDs, what the key files
	// are named after), CertificateIDs what root.json and docker list;
	// VaultKeyID is the vault's key among KeyIDs ("" if it holds none).
	KeyIDs         []string
	CertificateIDs []string
	VaultKeyID     string
	// NewExpires is the expiry a rotation now gives root and its new
	// certificate.
	NewExpires time.Time
	Errors     FormErrors
}

// FieldError is what is wrong with one field of a submitted form (Field is
// the id of its input), or with the form as a whole (Field "").
type FieldError struct {
	Field   string
	Message string
}

// FormErrors is everything wrong with a submitted form, in the form's order.
type FormErrors []FieldError

// Of is the problem of the field id ("" if none).
func (e FormErrors) Of(id string) string {
	for _, fe := range e {
		if fe.Field == id {
			return fe.Message
		}
	}
	return ""
}

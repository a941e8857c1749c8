package views

import (
	"strconv"
	"time"
)

// ArchiveRow is an archived repository in a list: one capture of a GUN.
type ArchiveRow struct {
	ID         int64
	GUN        string
	CapturedAt time.Time
	Source     string // capture or import
	NotaryURL  string
	CreatedBy  string
	Valid      bool
	// RootChain is first, same, rotated or broken (see trust.RootChain).
	RootChain  string
	SignedTags int
	Signers    int
	// Captures counts the GUN's archives (in the repository list, where a
	// row stands for the latest).
	Captures int
}

// ArchivePath is the page of an archived repository.
func ArchivePath(id int64) string { return "/archives/" + strconv.FormatInt(id, 10) }

// ArchiveList is the Archives page.
type ArchiveList struct {
	Rows []ArchiveRow
	// CanCreate is set for those who may capture and import (global and
	// namespace administrators).
	CanCreate bool
}

// ArchiveDetail is an archived repository's page: what the live pages show,
// as of its capture, with its verification.
type ArchiveDetail struct {
	ArchiveRow
	TrustAnchor      string
	RootKeyIDs       []string
	RootCanonicalIDs []string
	RootChainDetail  string
	PreviousID       int64
	// History is every archive of the GUN the viewer may see, newest first.
	History        []ArchiveRow
	Tags           []SignedTagRow
	Unreleased     []UnreleasedRow
	Signers        []SignerRow
	RootKeys       []string
	RepositoryKeys []string
	// Expiries are the roles' expiries, their status as of CapturedAt.
	Expiries []ExpiryRow
	Pretty   string
	// CanDelete is set for global administrators.
	CanDelete bool
}

// CaptureForm is the form that captures GUNs from a Notary server.
type CaptureForm struct {
	NotaryURL string
	GUNs      string
	CAPEM     string
	Username  string
	Error     string
}

// ImportForm is the form that imports a backup archive.
type ImportForm struct {
	Error string
	// Problems are the failed checks of a refused archive.
	Problems []ArchiveProblem
}

// ArchiveProblem is one failed check of a verification.
type ArchiveProblem struct {
	Role, Check, Message string
}

// CaptureJob is the progress of a bulk capture.
type CaptureJob struct {
	ID                        string
	NotaryURL                 string
	Started                   time.Time
	Done                      bool
	Results                   []CaptureResult
	Captured, Failed, Pending int
}

// CaptureResult is one GUN of a bulk capture.
type CaptureResult struct {
	GUN       string
	Status    string // pending, captured, failed
	ArchiveID int64
	// RootBroken is set when the capture's root does not chain to the
	// GUN's capture before.
	RootBroken bool
	Error      string
}

package removal

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// The status of a repository in an export's manifest.
const (
	ExportBackedUp    = "backed_up"     // its folder holds its backup
	ExportNoTrustData = "no_trust_data" // nothing to back up; no folder
	ExportFailed      = "failed"        // its trust data could not be read; no folder
)

// ExportError is why a repository could not be backed up, in words users
// may read (the cause of an internal error stays in the server's log).
type ExportError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ExportRepository is one repository of an export's manifest.
type ExportRepository struct {
	Repository string `json:"repository"` // namespace/name, or the GUN of a foreign repository
	GUN        string `json:"gun"`
	Status     string `json:"status"`
	// Folder is the repository's folder below the archive's top folder,
	// holding exactly what its own backup holds (backed_up only).
	Folder  string        `json:"folder,omitempty"`
	Files   int           `json:"files,omitempty"` // role files in the folder
	Expired []ExpiredRole `json:"expired_roles,omitempty"`
	Skipped []string      `json:"skipped_roles,omitempty"`
	Error   *ExportError  `json:"error,omitempty"` // failed only
	// Err is the error itself, for the server's log.
	Err error `json:"-"`
}

// ExportManifest is the top-level manifest.json of an export.
type ExportManifest struct {
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	// NotaryURL is the Notary server the trust data was read from.
	NotaryURL        string             `json:"notary_url,omitempty"`
	BackedUp         int                `json:"backed_up"`
	WithoutTrustData int                `json:"without_trust_data"`
	Failed           int                `json:"failed"`
	Repositories     []ExportRepository `json:"repositories"`
}

// Export is the backup of every repository a caller may read, listed but
// not yet written: Filename is known before the first byte is.
type Export struct {
	// Filename is the archive's name: its top folder and ".tar.gz".
	Filename string
	s        *Service
	top      string
	at       time.Time
	actor    string
	repos    []catalog.Repository
}

// Export lists the repositories of namespaces (nil: every repository, the
// foreign ones included) for one archive that holds the backup of each with
// trust data. Write streams it.
func (s *Service) Export(ctx context.Context, namespaces []string, actor string) (*Export, error) {
	repos, err := s.catalog.Visible(ctx, namespaces)
	if err != nil {
		return nil, err
	}
	at := s.now().UTC()
	top := "trust-backups-" + stamp(at)
	return &Export{Filename: top + ".tar.gz", s: s, top: top, at: at, actor: actor, repos: repos}, nil
}

// Write streams the export into w as a gzip'd tar archive under one top
// folder: for each repository with trust data, one folder with exactly what
// Backup would give for it (read one repository at a time, so memory holds
// one repository's metadata), then manifest.json, listing every repository
// with its status, and README.txt. A repository whose trust data cannot be
// read is listed as failed, with its error; only a failure to write (the
// client went away) or a cancelled ctx ends the export early, leaving the
// archive without its end, which unpacking reports. After each repository,
// Write calls w's Flush method, if it has one.
func (e *Export) Write(ctx context.Context, w io.Writer) (*ExportManifest, error) {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	flush, _ := w.(interface{ Flush() })
	m := &ExportManifest{CreatedAt: e.at, CreatedBy: e.actor, NotaryURL: e.s.notaryURL, Repositories: []ExportRepository{}}
	// Folder names taken, compared without case (for case-insensitive file
	// systems); the top-level files count as taken.
	taken := map[string]bool{"manifest.json": true, "readme.txt": true}
	for _, r := range e.repos {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		entry := ExportRepository{Repository: r.FullName(), GUN: r.GUN}
		repo, err := e.s.load(ctx, r.GUN)
		switch {
		case errors.Is(err, trust.ErrNoTrustData):
			entry.Status = ExportNoTrustData
			m.WithoutTrustData++
		case err != nil:
			if cerr := ctx.Err(); cerr != nil {
				return nil, cerr
			}
			entry.Status, entry.Error, entry.Err = ExportFailed, describe(err), err
			m.Failed++
		default:
			entry.Folder = uniqueFolder(folderName(r.GUN), taken)
			bm, err := writeBackup(tw, e.top+"/"+entry.Folder, e.Filename, r.GUN, repo, e.at, e.actor, e.s.notaryURL)
			if err != nil {
				return nil, err
			}
			if err := gz.Flush(); err != nil {
				return nil, err
			}
			entry.Status, entry.Files, entry.Expired, entry.Skipped = ExportBackedUp, len(bm.Files), bm.Expired, bm.Skipped
			m.BackedUp++
		}
		m.Repositories = append(m.Repositories, entry)
		if flush != nil {
			flush.Flush()
		}
	}
	mj, _ := json.MarshalIndent(m, "", "  ")
	if err := addFile(tw, e.top+"/manifest.json", append(mj, '\n'), e.at); err != nil {
		return nil, err
	}
	if err := addFile(tw, e.top+"/README.txt", []byte(exportReadme(e.Filename, e.top, m)), e.at); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return m, nil
}

// uniqueFolder returns name, or name-2, name-3… when that is taken (two
// GUNs can map to one name: prod/a_b and prod_a/b), and marks it taken.
func uniqueFolder(name string, taken map[string]bool) string {
	folder := name
	for i := 2; taken[strings.ToLower(folder)]; i++ {
		folder = name + "-" + strconv.Itoa(i)
	}
	taken[strings.ToLower(folder)] = true
	return folder
}

// describe is err in words users may read: a domain error's own message,
// never an internal error's text.
func describe(err error) *ExportError {
	if e, ok := errs.As(err); ok && e.Kind != errs.Internal {
		return &ExportError{Code: e.Code, Message: e.Message}
	}
	return &ExportError{Code: "internal", Message: "Reading its trust data failed on trustdeck's side; the server's log says why."}
}

// exportReadme is the top-level README.txt of an export.
func exportReadme(filename, top string, m *ExportManifest) string {
	var b strings.Builder
	fmt.Fprintf(&b, `Docker Content Trust (Notary v1) metadata of every repository %s could
read, backed up by trustdeck at %s.

Backed up: %d. Without trust data: %d. Could not be read: %d.

Each folder holds one repository's backup, exactly as its own backup
(GET /api/v1/repositories/<namespace>/<name>/trust/backup) holds it: every
role's signed JSON as the Notary server served it, manifest.json and
README.txt (how to inspect and restore it). The manifest.json next to this
file lists every repository: its GUN, its folder and its status, one of
  backed_up       its folder holds its backup
  no_trust_data   it has no trust data (nothing to back up, no folder)
  failed          its trust data could not be read (see "error"; no folder)

Inspect:
  tar -xzf %s && cd %s
  python3 -m json.tool manifest.json

Verify offline (every repository: signatures, hashes and lengths, expiry as
of the time of the backup):
  trustdeck verify %s
`, m.CreatedBy, m.CreatedAt.Format(time.RFC3339), m.BackedUp, m.WithoutTrustData, m.Failed, filename, top, filename)
	section := func(title string, pick func(ExportRepository) string) {
		var lines []string
		for _, r := range m.Repositories {
			if s := pick(r); s != "" {
				lines = append(lines, "  "+r.GUN+": "+s)
			}
		}
		if len(lines) > 0 {
			b.WriteString("\n" + title + "\n" + strings.Join(lines, "\n") + "\n")
		}
	}
	section("NOT BACKED UP: the trust data of these repositories could not be read:", func(r ExportRepository) string {
		if r.Error == nil {
			return ""
		}
		return r.Error.Message
	})
	section("EXPIRED: these backups hold expired metadata (their README.txt says more):", func(r ExportRepository) string {
		var roles []string
		for _, x := range r.Expired {
			roles = append(roles, x.Role)
		}
		return strings.Join(roles, ", ")
	})
	section("INCOMPLETE: these delegation roles did not verify and are not in the backups:", func(r ExportRepository) string {
		return strings.Join(r.Skipped, ", ")
	})
	return b.String()
}

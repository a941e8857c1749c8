// Package evidence reads trustdeck's trust backup archives and verifies
// them offline: the trust data in an archive goes through the same
// verification (trust.Verify, notary's TUF code) and the same inspection
// (trust.Repo.Inspect) as a live repository, with expiry evaluated as of a
// time — by default the time the archive was made.
package evidence

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/removal"
)

// Archive is a trust backup read into memory: the backup of one repository
// (GET …/trust/backup) or of every repository a user could read (GET
// /api/v1/trust/backup).
type Archive struct {
	// Top is the archive's top folder.
	Top string
	// All is set for the backup of every repository.
	All bool
	// CreatedAt is when the archive was made, from its manifest (zero if
	// the manifest does not say).
	CreatedAt time.Time
	// NotaryURL is the Notary server the trust data was read from ("" in
	// archives made before manifests named it).
	NotaryURL string
	// Repositories are the backed-up repositories, in the archive's order.
	Repositories []Repository
	// NotBackedUp lists what the manifest of an export says it left out
	// (no trust data, or unreadable), and backed-up repositories whose
	// folder is missing (Status backed_up).
	NotBackedUp []removal.ExportRepository
}

// Repository is the backup of one GUN in an archive.
type Repository struct {
	GUN string
	// Folder is its folder below the top folder ("" for a backup of one
	// repository, whose files are right below the top folder).
	Folder   string
	Manifest removal.Manifest
	// Files are its metadata files by role name ("targets/releases" for
	// targets/releases.json).
	Files map[string][]byte
}

// DefaultMaxArchiveBytes bounds what Read unpacks by default.
const DefaultMaxArchiveBytes = 1 << 30

// Read reads a gzip'd tar archive as trustdeck writes backups: one top
// folder; in it, for one repository, its role files (<role>.json, nested
// for delegations), manifest.json and README.txt; for every repository,
// manifest.json (listing them), README.txt and one such folder per backed-up
// repository. At most maxBytes (DefaultMaxArchiveBytes if < 1) are unpacked.
// Nothing is verified here but the shape. Errors are errs.Invalid
// ("unreadable_archive") or errs.TooLarge.
func Read(r io.Reader, maxBytes int64) (*Archive, error) {
	if maxBytes < 1 {
		maxBytes = DefaultMaxArchiveBytes
	}
	top, files, err := untar(r, maxBytes)
	if err != nil {
		return nil, err
	}
	raw, ok := files["manifest.json"]
	if !ok {
		return nil, unreadable("%s/manifest.json is missing: this is not a trust backup made by trustdeck", top)
	}
	var kind struct {
		GUN          *string         `json:"gun"`
		Repositories json.RawMessage `json:"repositories"`
	}
	if err := json.Unmarshal(raw, &kind); err != nil {
		return nil, unreadable("%s/manifest.json is not valid JSON: %v", top, err)
	}
	a := &Archive{Top: top}
	switch {
	case kind.GUN != nil:
		repo, err := readRepository(top, "", files)
		if err != nil {
			return nil, err
		}
		a.CreatedAt, a.NotaryURL, a.Repositories = repo.Manifest.CreatedAt, repo.Manifest.NotaryURL, []Repository{*repo}
	case kind.Repositories != nil:
		if err := a.readExport(raw, files); err != nil {
			return nil, err
		}
	default:
		return nil, unreadable("%s/manifest.json names neither a GUN nor repositories: this is not a trust backup made by trustdeck", top)
	}
	return a, nil
}

// readExport reads the repositories of the backup of every repository: each
// folder with a manifest.json, whether or not the top manifest (which no
// key signs) lists it.
func (a *Archive) readExport(raw []byte, files map[string][]byte) error {
	var m removal.ExportManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return unreadable("%s/manifest.json is not valid JSON: %v", a.Top, err)
	}
	a.All, a.CreatedAt, a.NotaryURL = true, m.CreatedAt, m.NotaryURL
	var folders []string
	for name := range files {
		if dir, ok := strings.CutSuffix(name, "/manifest.json"); ok && !strings.Contains(dir, "/") {
			folders = append(folders, dir)
		}
	}
	found := map[string]bool{}
	// In the manifest's order, then any folder it does not list.
	for _, r := range m.Repositories {
		if r.Status == removal.ExportBackedUp && slices.Contains(folders, r.Folder) && !found[r.Folder] {
			found[r.Folder] = true
			repo, err := readRepository(a.Top, r.Folder, files)
			if err != nil {
				return err
			}
			a.Repositories = append(a.Repositories, *repo)
			continue
		}
		a.NotBackedUp = append(a.NotBackedUp, r)
	}
	slices.Sort(folders)
	for _, f := range folders {
		if found[f] {
			continue
		}
		repo, err := readRepository(a.Top, f, files)
		if err != nil {
			return err
		}
		a.Repositories = append(a.Repositories, *repo)
	}
	if len(a.Repositories) == 0 && len(a.NotBackedUp) == 0 {
		return unreadable("%s holds no repository", a.Top)
	}
	return nil
}

// readRepository reads the backup of one repository in folder (below the
// top folder; "" for the top folder itself).
func readRepository(top, folder string, files map[string][]byte) (*Repository, error) {
	prefix := ""
	if folder != "" {
		prefix = folder + "/"
	}
	where := path.Join(top, folder)
	var m removal.Manifest
	if err := json.Unmarshal(files[prefix+"manifest.json"], &m); err != nil {
		return nil, unreadable("%s/manifest.json is not valid JSON: %v", where, err)
	}
	if m.GUN == "" {
		return nil, unreadable("%s/manifest.json does not name the GUN", where)
	}
	repo := &Repository{GUN: m.GUN, Folder: folder, Manifest: m, Files: map[string][]byte{}}
	for name, content := range files {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || rest == "manifest.json" {
			continue
		}
		if role, ok := strings.CutSuffix(rest, ".json"); ok {
			repo.Files[role] = content // README.txt aside, every file is a role's
		}
	}
	return repo, nil
}

// untar unpacks a gzip'd tar archive: regular files (directories are
// skipped) with clean relative paths under one top folder, none twice, at
// most maxBytes in all. It returns the top folder and the files by path
// below it.
func untar(r io.Reader, maxBytes int64) (string, map[string][]byte, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return "", nil, unreadable("not a gzip'd tar archive: %v", err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	top := ""
	var total int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", nil, unreadable("the archive is damaged or cut short: %v", err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return "", nil, unreadable("%q is not a regular file", hdr.Name)
		}
		dir, rest, ok := strings.Cut(name, "/")
		if !ok || rest == "" || path.Clean(name) != name || strings.HasPrefix(name, "/") || slices.Contains(strings.Split(name, "/"), "..") {
			return "", nil, unreadable("%q is not a file below one top folder", hdr.Name)
		}
		if top == "" {
			top = dir
		} else if dir != top {
			return "", nil, unreadable("%q is not below the top folder %q", hdr.Name, top)
		}
		if _, dup := files[rest]; dup {
			return "", nil, unreadable("%q is in the archive twice", hdr.Name)
		}
		if total += hdr.Size; hdr.Size < 0 || total > maxBytes {
			return "", nil, &errs.Error{Kind: errs.TooLarge, Code: "archive_too_large",
				Message: fmt.Sprintf("The archive unpacks to more than %d bytes.", maxBytes)}
		}
		var b bytes.Buffer
		if _, err := io.Copy(&b, tr); err != nil {
			return "", nil, unreadable("the archive is damaged or cut short: %v", err)
		}
		files[rest] = b.Bytes()
	}
	if top == "" {
		return "", nil, unreadable("the archive holds no file")
	}
	return top, files, nil
}

func unreadable(format string, args ...any) error {
	return errs.Invalidf("unreadable_archive", "Unreadable archive: "+format, args...)
}

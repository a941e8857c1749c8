package evidence

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trustdeck/trustdeck/internal/removal"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// Options says how to verify an archive.
type Options struct {
	// At is the time expiry is evaluated at; zero: the archive's CreatedAt.
	At time.Time
	// RootKeyIDs and RootCerts pin the root (see trust.VerifyOptions); with
	// neither, each repository's own root is trusted on first use. In the
	// backup of every repository, each repository's root must be pinned.
	RootKeyIDs []string
	RootCerts  []*x509.Certificate
}

// Report is the verification of an archive.
type Report struct {
	Archive *Archive
	At      time.Time
	// Results has one verification per backed-up repository, in the
	// archive's order.
	Results []*trust.Verification
}

// Valid reports whether every repository of the archive verified, and no
// repository its manifest lists as backed up is missing.
func (r *Report) Valid() bool {
	for _, v := range r.Results {
		if !v.Valid() {
			return false
		}
	}
	for _, n := range r.Archive.NotBackedUp {
		if n.Status == removal.ExportBackedUp {
			return false
		}
	}
	return true
}

// Verify verifies every repository of a as of opts.At (or its CreatedAt).
func Verify(a *Archive, opts Options) *Report {
	at := opts.At
	if at.IsZero() {
		at = a.CreatedAt
	}
	rep := &Report{Archive: a, At: at}
	for _, repo := range a.Repositories {
		rep.Results = append(rep.Results, trust.Verify(repo.GUN, repo.Files, trust.VerifyOptions{
			At: at, RootKeyIDs: opts.RootKeyIDs, RootCerts: opts.RootCerts, Skipped: repo.Manifest.Skipped,
		}))
	}
	return rep
}

// verdict is one repository's result as JSON; Inspect is written verbatim
// (see writeJSON).
type verdict struct {
	GUN          string          `json:"gun"`
	Folder       string          `json:"folder,omitempty"`
	Valid        bool            `json:"valid"`
	At           time.Time       `json:"at"`
	TrustAnchor  string          `json:"trust_anchor"`
	RootKeyIDs   []string        `json:"root_key_ids"`
	CanonicalIDs []string        `json:"root_canonical_key_ids"`
	Errors       []trust.Problem `json:"errors"`
	Inspect      json.RawMessage `json:"inspect"`
}

func verdictOf(v *trust.Verification, folder string) verdict {
	out := verdict{GUN: v.GUN, Folder: folder, Valid: v.Valid(), At: v.At.UTC(), TrustAnchor: v.Anchor,
		RootKeyIDs: []string{}, CanonicalIDs: []string{}, Errors: v.Problems}
	if out.Errors == nil {
		out.Errors = []trust.Problem{}
	}
	for _, k := range v.RootKeys {
		out.RootKeyIDs = append(out.RootKeyIDs, k.TUFID)
		out.CanonicalIDs = append(out.CanonicalIDs, k.ID)
	}
	// docker's stdout, without its final newline.
	out.Inspect = bytes.TrimSuffix(trust.FormatJSON([]trust.InspectResult{v.Inspect()}), []byte("\n"))
	return out
}

// WriteJSON writes the report as JSON. For the backup of one repository:
//
//	{"gun", "valid", "at", "trust_anchor", "root_key_ids",
//	 "root_canonical_key_ids", "errors": [{"role", "check", "message"}],
//	 "inspect": <what `docker trust inspect GUN` printed at "at", byte for byte>}
//
// For the backup of every repository: {"valid", "at", "repositories": [one
// such object per repository, with its "folder"], "not_backed_up": [what
// the manifest says was left out]}.
func (r *Report) WriteJSON(w io.Writer) error {
	var b bytes.Buffer
	if !r.Archive.All && len(r.Results) == 1 {
		writeVerdict(&b, verdictOf(r.Results[0], ""), "")
		b.WriteByte('\n')
		_, err := w.Write(b.Bytes())
		return err
	}
	head, err := json.MarshalIndent(struct {
		Valid       bool                    `json:"valid"`
		At          time.Time               `json:"at"`
		NotBackedUp []notBackedUpRepository `json:"not_backed_up"`
	}{r.Valid(), r.At.UTC(), r.notBackedUp()}, "", "  ")
	if err != nil {
		return err
	}
	b.Write(head[:len(head)-2]) // without "\n}"
	b.WriteString(",\n  \"repositories\": [")
	for i, v := range r.Results {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		writeVerdict(&b, verdictOf(v, r.Archive.Repositories[i].Folder), "    ")
	}
	b.WriteString("\n  ]\n}\n")
	_, err = w.Write(b.Bytes())
	return err
}

// writeVerdict writes one verdict indented by prefix, its inspect bytes as
// they are (json.Marshal would reformat them).
func writeVerdict(b *bytes.Buffer, v verdict, prefix string) {
	inspect := v.Inspect
	v.Inspect = json.RawMessage("null")
	head, _ := json.MarshalIndent(v, prefix, "  ")
	end := []byte(`"inspect": null` + "\n" + prefix + "}")
	b.Write(bytes.TrimSuffix(head, end))
	b.WriteString(`"inspect": `)
	b.Write(inspect)
	b.WriteString("\n" + prefix + "}")
}

type notBackedUpRepository struct {
	GUN     string `json:"gun"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

func (r *Report) notBackedUp() []notBackedUpRepository {
	out := []notBackedUpRepository{}
	for _, x := range r.Archive.NotBackedUp {
		n := notBackedUpRepository{GUN: x.GUN, Status: x.Status}
		switch {
		case x.Error != nil:
			n.Message = x.Error.Message
		case x.Status == removal.ExportBackedUp:
			n.Status, n.Message = "missing", fmt.Sprintf("The manifest lists folder %q, which the archive lacks.", x.Folder)
		}
		out = append(out, n)
	}
	return out
}

// WritePretty writes what `docker trust inspect --pretty` printed for each
// repository that docker could read at the time to stdout (one after the
// other, as docker prints several repositories), and the verification to
// stderr: the time, the trust anchor, each repository's verdict and every
// failed check (role, check, what is wrong).
func (r *Report) WritePretty(stdout, stderr io.Writer) error {
	var out, log bytes.Buffer
	when := "given by --at"
	if r.At.Equal(r.Archive.CreatedAt) {
		when = "when the archive was made"
	}
	fmt.Fprintf(&log, "Verified %s as of %s (%s).\n", r.Archive.Top, r.At.UTC().Format(time.RFC3339), when)
	if len(r.Results) > 0 {
		fmt.Fprintf(&log, "Root: %s.\n", r.Results[0].Anchor)
	}
	first := true
	var failed []string
	for _, v := range r.Results {
		if res := v.Inspect(); res.Err == nil {
			if !first {
				out.WriteString("\n\n")
			}
			out.Write(trust.FormatPretty([]trust.InspectResult{res}))
			first = false
		}
		var ids []string
		for _, k := range v.RootKeys {
			id := k.TUFID
			if k.ID != k.TUFID {
				id += " (canonical " + k.ID + ")"
			}
			ids = append(ids, id)
		}
		if v.Valid() {
			fmt.Fprintf(&log, "%s: valid; root key %s\n", v.GUN, strings.Join(ids, ", "))
			continue
		}
		failed = append(failed, v.GUN)
		fmt.Fprintf(&log, "%s: INVALID\n", v.GUN)
		for _, p := range v.Problems {
			role := p.Role
			if role == "" {
				role = "(archive)"
			}
			fmt.Fprintf(&log, "  %s: %s: %s\n", role, p.Check, p.Message)
		}
	}
	for _, n := range r.notBackedUp() {
		fmt.Fprintf(&log, "%s: not in the archive (%s) %s\n", n.GUN, n.Status, n.Message)
	}
	switch {
	case r.Valid():
		fmt.Fprintf(&log, "Valid: %d of %d repositories verified.\n", len(r.Results), len(r.Results))
	case len(failed) == 0:
		fmt.Fprintf(&log, "INVALID: repositories the manifest lists are missing.\n")
	default:
		fmt.Fprintf(&log, "INVALID: %d of %d repositories failed verification: %s\n", len(failed), len(r.Results), strings.Join(failed, ", "))
	}
	if _, err := stdout.Write(out.Bytes()); err != nil {
		return err
	}
	_, err := stderr.Write(log.Bytes())
	return err
}

package evidence

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// CheckArchive is the check of an archive that could not be read.
const CheckArchive = "archive"

// Exit codes of `trustdeck verify`.
const (
	ExitValid   = 0
	ExitInvalid = 1 // the archive failed verification or could not be read
	ExitUsage   = 2 // bad flags, missing file, unparsable --at
)

const verifyUsage = `Usage: trustdeck verify [flags] ARCHIVE

Verifies a trust backup archive made by trustdeck (of one repository, or of
every repository) offline — no network, no server, no data directory — with
notary's TUF code: every signature and threshold, hashes and lengths from the
timestamp to the snapshot to targets and the delegations, delegation keys and
paths, the root's certificates; expiry as of --at, by default the time the
archive was made. Prints what "docker trust inspect --pretty" printed for each
repository at that time on stdout (or, with --json, one JSON object), and the
verification on stderr. Exit status: 0 valid, 1 invalid or unreadable
(naming the role and the check that failed), 2 usage error.

Without --root-key-id or --root-cert, each repository's own root is trusted
(trust on first use, TOFU): pin it to know the archive is the one you expect.

Flags (before ARCHIVE):
`

// keyIDs is a repeatable flag of key IDs (also comma-separated).
type keyIDs []string

func (k *keyIDs) String() string { return strings.Join(*k, ",") }
func (k *keyIDs) Set(s string) error {
	for _, id := range strings.Split(s, ",") {
		if id = strings.TrimSpace(id); id != "" {
			*k = append(*k, id)
		}
	}
	return nil
}

// usageError is a mistake in the command line: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// RunVerify is `trustdeck verify args…`: it returns the exit status.
func RunVerify(args []string, stdout, stderr io.Writer) int {
	opts, archive, asJSON, err := parseVerify(args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitValid
	}
	if err != nil {
		fmt.Fprintln(stderr, "trustdeck verify:", err)
		fmt.Fprintln(stderr, "Run trustdeck verify --help for usage.")
		return ExitUsage
	}
	f, err := os.Open(archive)
	if err != nil {
		fmt.Fprintln(stderr, "trustdeck verify:", err)
		return ExitUsage
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		fmt.Fprintf(stderr, "trustdeck verify: %s is a directory; give the archive file (.tar.gz)\n", archive)
		return ExitUsage
	}
	a, err := Read(f, 0)
	if err != nil {
		msg := err.Error()
		if e, ok := errs.As(err); ok {
			msg = e.Message
		}
		fmt.Fprintf(stderr, "trustdeck verify: %s: %s\n", archive, msg)
		if asJSON {
			writeUnreadable(stdout, opts.At, msg)
		}
		return ExitInvalid
	}
	if opts.At.IsZero() && a.CreatedAt.IsZero() {
		fmt.Fprintf(stderr, "trustdeck verify: %s does not say when it was made: give the time to verify at with --at\n", archive)
		return ExitUsage
	}
	rep := Verify(a, opts)
	if asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WritePretty(stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "trustdeck verify:", err)
		return ExitInvalid
	}
	if !rep.Valid() {
		return ExitInvalid
	}
	return ExitValid
}

// parseVerify reads the command line: flags, then exactly one archive.
func parseVerify(args []string, stdout, stderr io.Writer) (opts Options, archive string, asJSON bool, err error) {
	fs := flag.NewFlagSet("trustdeck verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var ids keyIDs
	var at, certFile string
	fs.StringVar(&at, "at", "", "evaluate expiry as of this time (RFC 3339, e.g. 2026-12-01T00:00:00Z); default: when the archive was made")
	fs.Var(&ids, "root-key-id", "pin the root to this key `ID`: the Root Key docker prints, or the canonical ID notary key list shows (repeatable)")
	fs.StringVar(&certFile, "root-cert", "", "pin the root to the certificates in this PEM `FILE`: the root certificate itself, or a CA that issued it")
	fs.BoolVar(&asJSON, "json", false, `print {"valid","at","root_key_ids","errors","inspect",…} instead`)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, verifyUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return opts, "", false, err
		}
		return opts, "", false, usageError{err.Error()}
	}
	switch fs.NArg() {
	case 0:
		return opts, "", false, usageError{"no archive given"}
	case 1:
	default:
		return opts, "", false, usageError{fmt.Sprintf("one archive, then nothing (flags go before it): got %q", fs.Args())}
	}
	archive = fs.Arg(0)
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return opts, "", false, usageError{fmt.Sprintf("--at %q is not an RFC 3339 time such as 2026-12-01T00:00:00Z", at)}
		}
		opts.At = t
	}
	if len(ids) > 0 && certFile != "" {
		return opts, "", false, usageError{"pin the root with --root-key-id or with --root-cert, not both"}
	}
	opts.RootKeyIDs = ids
	if certFile != "" {
		if opts.RootCerts, err = readCerts(certFile); err != nil {
			return opts, "", false, usageError{err.Error()}
		}
	}
	return opts, archive, asJSON, nil
}

// readCerts reads the PEM certificates of a --root-cert file.
func readCerts(file string) ([]*x509.Certificate, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--root-cert: %w", err)
	}
	certs, err := utils.LoadCertBundleFromPEM(pem)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("--root-cert %s: no PEM certificate in it", file)
	}
	return certs, nil
}

// writeUnreadable writes the JSON report of an archive that could not be
// read: invalid, one error of the check "archive", nothing docker showed.
func writeUnreadable(w io.Writer, at time.Time, msg string) {
	var when *time.Time
	if !at.IsZero() {
		when = &at
	}
	out, _ := json.MarshalIndent(struct {
		Valid      bool            `json:"valid"`
		At         *time.Time      `json:"at"`
		RootKeyIDs []string        `json:"root_key_ids"`
		Errors     []trust.Problem `json:"errors"`
		Inspect    json.RawMessage `json:"inspect"`
	}{false, when, []string{}, []trust.Problem{{Check: CheckArchive, Message: msg}}, json.RawMessage("[]")}, "", "  ")
	w.Write(append(out, '\n'))
}

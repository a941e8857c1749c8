package views

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/trustdeck/trustdeck/internal/names"
)

func itoa(n int) string { return strconv.Itoa(n) }

func urlQuery(s string) string { return url.QueryEscape(s) }

// tagSortURL keeps the repository page's filters and sets the sort.
func tagSortURL(r RepoDetail, sort string) string {
	return tagListURL(r, sort, 1)
}

// tagPageURL is page n of the signed tags, with the same filters and order.
func tagPageURL(r RepoDetail, n int) string {
	return tagListURL(r, r.Trust.Sort, n)
}

// tagStateURL is the first page of the tags in one registry state.
func tagStateURL(r RepoDetail, state string) string {
	r.Trust.StateFilter = state
	return tagListURL(r, r.Trust.Sort, 1)
}

func tagListURL(r RepoDetail, sort string, page int) string {
	v := url.Values{}
	if r.Trust.StateFilter != "" {
		v.Set("state", r.Trust.StateFilter)
	}
	if r.Trust.TagFilter != "" {
		v.Set("tag", r.Trust.TagFilter)
	}
	if r.Trust.SignerFilter != "" {
		v.Set("signer", r.Trust.SignerFilter)
	}
	v.Set("sort", sort)
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	return repoPath(r.Namespace, r.Name) + "?" + v.Encode() + "#signed-tags"
}

// shortKey is a key ID cut to docker's 12 characters.
func shortKey(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// plural renders a count with the noun's singular or plural form.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// namesSuffix renders ": a, b" after a count, or nothing for no names.
func namesSuffix(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return ": " + strings.Join(names, ", ")
}

// repoPath is the page of the repository namespace/name.
func repoPath(namespace, name string) string { return names.RepoPath(namespace, name) }

// repoName is how the repository is named on pages: namespace/name, or the
// GUN of a repository outside the registry host.
func repoName(namespace, name string) string { return names.Display(namespace, name) }

// isForeign reports a repository outside the registry host (its namespace is
// names.Foreign).
func isForeign(namespace string) bool { return namespace == names.Foreign }

// lastRead is ", last read <time>" (nothing before the first read).
func lastRead(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return ", last read " + FormatTime(t)
}

// expiryWarningText is the sentence of the list's expiry warning.
func expiryWarningText(expired, expiring int) string {
	has := func(n int) string {
		if n == 1 {
			return "1 repository has"
		}
		return strconv.Itoa(n) + " repositories have"
	}
	more := func(n int) string {
		if n == 1 {
			return "1 more expires"
		}
		return strconv.Itoa(n) + " more expire"
	}
	switch {
	case expired > 0 && expiring > 0:
		return has(expired) + " expired trust data, which docker refuses; " + more(expiring) + " within 30 days."
	case expired > 0:
		return has(expired) + " expired trust data, which docker refuses."
	}
	return has(expiring) + " trust data that expires within 30 days."
}

// renewPath is the form that renews role's expiry in namespace/name.
func renewPath(namespace, name, role string) string {
	return repoPath(namespace, name) + "/trust/renew?role=" + url.QueryEscape(role)
}

// rotateRootPath is the form that rotates the root key of namespace/name.
func rotateRootPath(namespace, name string) string {
	return repoPath(namespace, name) + "/trust/rotate-root"
}

// renewable reports whether trustdeck can renew role's expiry: targets and
// delegations (root needs the root key; the server renews snapshot and
// timestamp).
func renewable(role string) bool { return role == "targets" || strings.HasPrefix(role, "targets/") }

// tagPageCounts says which signed tags a page shows: "Tags 1–100 of 111
// matching (of 230 signed tags) · page 1 of 2".
func tagPageCounts(t TrustView) string {
	s := "Tags " + strconv.Itoa(t.FirstRow) + "–" + strconv.Itoa(t.FirstRow+len(t.Tags)-1) + " of " + strconv.Itoa(t.Matching)
	if t.Matching != t.TagCount {
		s += " matching (of " + strconv.Itoa(t.TagCount) + " signed tags)"
	}
	if t.Pages > 1 {
		s += " · page " + strconv.Itoa(t.Page) + " of " + strconv.Itoa(t.Pages)
	}
	return s
}

// pullCommand pulls an image by digest.
func pullCommand(image, digest string) string { return "docker pull " + image + "@" + digest }

// collapseAbove is how many items a list shows before it is collapsed
// into a <details>.
const collapseAbove = 8

// summaryProblem is one line of the repository summary's problems.
type summaryProblem struct {
	Level string // "bad" or "warnc"
	Text  string
	Href  string
}

// summaryProblems lists what is wrong with a repository, worst first, each
// linked to where the page explains it.
func summaryProblems(r RepoDetail) []summaryProblem {
	var out []summaryProblem
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	}
	reg := r.Trust.Registry
	if reg.Configured && reg.Drifted > 0 {
		out = append(out, summaryProblem{"bad", plural(reg.Drifted, "tag moved", "tags moved") +
			" to another image after signing: DCT clients still pull the signed digest, every other client the new one",
			tagStateURL(r, "drifted")})
	}
	if reg.Configured && reg.Missing > 0 {
		out = append(out, summaryProblem{"bad", plural(reg.Missing, "signed tag is", "signed tags are") + " gone from the registry",
			tagStateURL(r, "missing")})
	}
	expired, expiring := 0, 0
	for _, e := range r.Trust.Expiries {
		switch e.Status {
		case "expired":
			expired++
		case "expiring":
			expiring++
		}
	}
	if expired > 0 {
		out = append(out, summaryProblem{"bad", plural(expired, "role has", "roles have") + " expired: docker refuses the trust data", "#expiry"})
	}
	if expiring > 0 {
		out = append(out, summaryProblem{"warnc", plural(expiring, "role expires", "roles expire") + " soon", "#expiry"})
	}
	certs := 0
	for _, s := range r.Trust.Signers {
		for _, k := range s.Keys {
			if k.ExpiryStatus == "expired" || k.ExpiryStatus == "expiring" {
				certs++
			}
		}
	}
	if certs > 0 {
		out = append(out, summaryProblem{"warnc", plural(certs, "signer certificate has", "signer certificates have") +
			" expired or expires soon", "#signers"})
	}
	if n := r.Trust.Disagreeing; n > 0 {
		out = append(out, summaryProblem{"bad", plural(n, "tag has roles", "tags have roles") +
			" that disagree on its digest: a signer's role signs another image than the released one", "#signed-tags"})
	}
	if n := len(r.Trust.Unreleased); n > 0 {
		out = append(out, summaryProblem{"warnc", plural(n, "signature is", "signatures are") +
			" not released: docker does not show or pull them", "#unreleased"})
	}
	if reg.Configured && reg.Unsigned > 0 {
		out = append(out, summaryProblem{"warnc", plural(reg.Unsigned, "tag in the registry is", "tags in the registry are") +
			" not signed", tagStateURL(r, "unsigned")})
	}
	return out
}

// signerRowID is the id of a signer's row in the signers table: the first
// (the change of a signer lands there) "signer-<name>", the others
// "signer-<name>-<n>".
func signerRowID(name string, i int) string {
	if i > 0 {
		return "signer-" + name + "-" + strconv.Itoa(i+1)
	}
	return "signer-" + name
}

// field is the accessibility attributes of the input id of a form refused
// with e: aria-invalid when e has a problem for it, and aria-describedby
// naming that problem (fieldProblem) and hints (ids of its help texts).
func field(e FormErrors, id string, hints ...string) templ.Attributes {
	a := templ.Attributes{}
	if e.Of(id) != "" {
		a["aria-invalid"] = "true"
		hints = append([]string{id + "-error"}, hints...)
	}
	if len(hints) > 0 {
		a["aria-describedby"] = strings.Join(hints, " ")
	}
	return a
}

// Relative says how far t is from now, as people say it: "3 days ago",
// "in 12 days", "just now".
func Relative(t, now time.Time) string {
	d := t.Sub(now)
	past := d < 0
	if past {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute && past:
		return "just now"
	case d < time.Minute:
		return "in less than a minute"
	case d >= 48*time.Hour:
		s = plural(int(d/(24*time.Hour)), "day", "days")
	case d >= 2*time.Hour:
		s = plural(int(d/time.Hour), "hour", "hours")
	default:
		s = plural(int(d/time.Minute), "minute", "minutes")
	}
	if past {
		return s + " ago"
	}
	return "in " + s
}

// ShortDigest is a digest as pages name it in passing: "sha256:" and the
// first 12 hex digits, "…" ("sha256:<hex>" or bare hex alike).
func ShortDigest(d string) string {
	hexPart := strings.TrimPrefix(d, "sha256:")
	if len(hexPart) <= 12 {
		return "sha256:" + hexPart
	}
	return "sha256:" + hexPart[:12] + "…"
}

// timestampNote says how long a cached timestamp lasts, with the current
// one's expiry when known.
func timestampNote(w DeleteWizard) string {
	note := "a timestamp lasts 14 days by default"
	for _, r := range w.Roles {
		if r.Role == "timestamp" && !r.Expires.IsZero() {
			note += "; the current one expires " + FormatTime(r.Expires) + ", older cached ones sooner"
		}
	}
	return note
}

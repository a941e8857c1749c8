package trust

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// RepoAdmin is docker's name for the signer of a tag released by the
// repository's own targets key (and nobody else).
const RepoAdmin = "Repo Admin"

// InspectResult is what `docker trust inspect` knows about one argument. Its
// exported fields marshal to exactly docker's JSON object. Err is set when
// docker would fail for this argument; such results are left out of the JSON
// and end the pretty output.
type InspectResult struct {
	Name               string
	SignedTags         []InspectTag
	Signers            []InspectSigner
	AdministrativeKeys []InspectSigner
	Err                error `json:"-"`

	origin origin // where it was made, for what is kept of it (render.go)
}

// InspectTag is one row: a tag and digest released in targets or
// targets/releases, with the other roles that signed the same digest.
type InspectTag struct {
	SignedTag string
	Digest    string
	Signers   []string
	// byAdmin is set when no delegation signed the row (Signers is then
	// [RepoAdmin]); the pretty format shows it as "(Repo Admin)".
	byAdmin bool
	// inReleases is set when targets/releases holds the row: where docker
	// looks first when it pulls the tag (see TagStates).
	inReleases bool
}

// InspectSigner is a signer (or an administrative role) and its key IDs.
type InspectSigner struct {
	Name string       `json:",omitempty"`
	Keys []InspectKey `json:",omitempty"`
}

// InspectKey is one key ID.
type InspectKey struct {
	ID string `json:",omitempty"`
}

// InspectError is the failure of one argument. Error() is the line docker
// prints on stderr for it; Unwrap gives the cause (an *errs.Error).
type InspectError struct {
	Ref     string
	Message string
	Err     error
}

func (e *InspectError) Error() string { return e.Message }
func (e *InspectError) Unwrap() error { return e.Err }

// Inspect builds docker's view of the repository for name, the argument as
// typed (a GUN or GUN:TAG); tag "" shows every tag. The result of a Repo
// that Load built is kept (see render.go) and shared: do not modify it.
func (repo *Repo) Inspect(name, tag string) InspectResult {
	o := origin{gun: repo.GUN, repo: repo.id, arg: inspectArg{name, tag}}
	if k := o.kept(); k != nil {
		return k.result
	}
	res := InspectResult{
		Name:               name,
		SignedTags:         repo.signedTags(tag),
		Signers:            repo.inspectSigners(),
		AdministrativeKeys: repo.adminKeys(),
		origin:             o,
	}
	o.keep(func(old *rendering) *rendering {
		if old != nil {
			return old
		}
		return &rendering{result: res}
	})
	return res
}

// Inspect answers `docker trust inspect refs...`: it parses each reference,
// loads each GUN once and builds one result per argument, with Err set for
// arguments docker would fail on.
func (r *Reader) Inspect(ctx context.Context, refs ...string) []InspectResult {
	type loaded struct {
		repo *Repo
		err  error
	}
	repos := map[string]loaded{}
	out := make([]InspectResult, len(refs))
	for i, ref := range refs {
		out[i].Name = ref
		gun, tag, err := ParseRef(ref)
		if err != nil {
			out[i].Err = &InspectError{Ref: ref, Message: err.Error(), Err: err}
			continue
		}
		l, ok := repos[gun]
		if !ok {
			l.repo, l.err = r.Load(ctx, gun)
			repos[gun] = l
		}
		if l.err != nil {
			out[i].Err = &InspectError{Ref: ref, Message: "no signatures or cannot access " + ref, Err: l.err}
			continue
		}
		out[i] = l.repo.Inspect(ref, tag)
	}
	return out
}

// visible reports whether notary's walk for tag consults t's role: every
// target when tag is "", else targets named tag in roles with a path that is
// a prefix of tag.
func (repo *Repo) visible(t *Target, tag string) bool {
	if tag == "" {
		return true
	}
	if t.Name != tag {
		return false
	}
	if repo.rolePaths == nil {
		return true
	}
	for _, p := range repo.rolePaths[t.Role] {
		if strings.HasPrefix(tag, p) {
			return true
		}
	}
	return false
}

type tagDigest struct{ tag, digest string }

// signedTags applies docker's rules: a row per (tag, sha256) present in
// targets or targets/releases; its signers are the other roles holding the
// same pair, in walk order; tags in natural order.
func (repo *Repo) signedTags(tag string) []InspectTag {
	rows := []InspectTag{}
	index := map[tagDigest]int{}
	for i := range repo.Targets {
		t := &repo.Targets[i]
		if !isReleased(t.Role) || !repo.visible(t, tag) {
			continue
		}
		k := tagDigest{t.Name, t.SHA256}
		n, ok := index[k]
		if !ok {
			n = len(rows)
			index[k] = n
			rows = append(rows, InspectTag{SignedTag: t.Name, Digest: t.SHA256, Signers: []string{}})
		}
		if t.Role == RoleReleases {
			rows[n].inReleases = true
		}
	}
	for i := range repo.Targets {
		t := &repo.Targets[i]
		if isReleased(t.Role) || !repo.visible(t, tag) {
			continue
		}
		if n, ok := index[tagDigest{t.Name, t.SHA256}]; ok {
			rows[n].Signers = append(rows[n].Signers, signerName(t.Role))
		}
	}
	for i := range rows {
		if len(rows[i].Signers) == 0 {
			rows[i].Signers = []string{RepoAdmin}
			rows[i].byAdmin = true
		}
	}
	// docker sorts by tag only; rows of one tag (targets and
	// targets/releases disagreeing) come in map order there. Here: by digest.
	slices.SortStableFunc(rows, func(a, b InspectTag) int {
		if c := naturalCompare(a.SignedTag, b.SignedTag); c != 0 {
			return c
		}
		return strings.Compare(a.Digest, b.Digest)
	})
	return rows
}

// inspectSigners lists every delegation but targets/releases by signer name
// (descending, as docker's JSON), with canonical key IDs.
func (repo *Repo) inspectSigners() []InspectSigner {
	keys := map[string][]string{}
	for _, d := range repo.Delegations {
		switch d.Role {
		case RoleReleases, RoleRoot, RoleSnapshot, RoleTargets, RoleTimestamp:
			continue
		}
		keys[signerName(d.Role)] = d.KeyIDs()
	}
	out := make([]InspectSigner, 0, len(keys))
	for name, ids := range keys {
		out = append(out, InspectSigner{Name: name, Keys: inspectKeys(ids)})
	}
	slices.SortFunc(out, func(a, b InspectSigner) int { return strings.Compare(b.Name, a.Name) })
	return out
}

// adminKeys lists the key IDs root.json gives root and targets.
func (repo *Repo) adminKeys() []InspectSigner {
	ids := func(keys []Key) []string {
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = k.TUFID
		}
		return out
	}
	return []InspectSigner{
		{Name: "Root", Keys: inspectKeys(ids(repo.RootKeys))},
		{Name: "Repository", Keys: inspectKeys(ids(repo.TargetsKeys))},
	}
}

func inspectKeys(ids []string) []InspectKey {
	keys := make([]InspectKey, len(ids))
	for i, id := range ids {
		keys[i] = InspectKey{ID: id}
	}
	return keys
}

// FormatJSON returns exactly what `docker trust inspect ref...` prints on
// stdout: the successful results as a JSON array indented by four spaces,
// and a newline ("[]\n" if none succeeded). The bytes may be shared (kept for
// the next inspection of the same data): do not modify them.
func FormatJSON(results []InspectResult) []byte {
	var ok []InspectResult
	for _, r := range results {
		if r.Err == nil {
			ok = append(ok, r)
		}
	}
	switch len(ok) {
	case 0:
		return []byte("[]\n")
	case 1:
		return jsonOf(ok[0])
	}
	out := []byte("[\n")
	for i, r := range ok {
		if i > 0 {
			out = append(out, ",\n"...)
		}
		one := jsonOf(r)
		out = append(out, one[len("[\n"):len(one)-len("\n]\n")]...)
	}
	return append(out, "\n]\n"...)
}

// normalized replaces nil lists by empty ones: docker never prints null.
func (r InspectResult) normalized() InspectResult {
	if r.SignedTags == nil {
		r.SignedTags = []InspectTag{}
	}
	if r.Signers == nil {
		r.Signers = []InspectSigner{}
	}
	if r.AdministrativeKeys == nil {
		r.AdministrativeKeys = []InspectSigner{}
	}
	if slices.ContainsFunc(r.SignedTags, func(t InspectTag) bool { return t.Signers == nil }) {
		r.SignedTags = slices.Clone(r.SignedTags)
		for i := range r.SignedTags {
			if r.SignedTags[i].Signers == nil {
				r.SignedTags[i].Signers = []string{}
			}
		}
	}
	return r
}

// FormatPretty returns exactly what `docker trust inspect --pretty ref...`
// prints on stdout: each result, separated by a blank line pair, stopping at
// the first failed result (docker stops there). The bytes may be shared: do
// not modify them.
func FormatPretty(results []InspectResult) []byte {
	if len(results) == 1 && results[0].Err == nil {
		return prettyOf(results[0])
	}
	var b bytes.Buffer
	for i, r := range results {
		if r.Err != nil {
			break
		}
		b.Write(prettyOf(r))
		if i < len(results)-1 {
			b.WriteString("\n\n")
		}
	}
	return b.Bytes()
}

// Stderr returns what docker prints on stderr for results: in JSON mode one
// line per failed argument, in pretty mode the first failure only. It is
// empty when docker exits 0, else docker exits 1.
func Stderr(results []InspectResult, pretty bool) []byte {
	var b bytes.Buffer
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		b.WriteString(r.Err.Error())
		b.WriteByte('\n')
		if pretty {
			break
		}
	}
	return b.Bytes()
}

// newTable is docker's table writer: minimum width 10, padding 3, spaces.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 10, 1, 3, ' ', 0) }

func writePretty(b *bytes.Buffer, r InspectResult) {
	if len(r.SignedTags) > 0 {
		fmt.Fprintf(b, "\nSignatures for %s\n\n", r.Name)
		tw := newTable(b)
		io.WriteString(tw, "SIGNED TAG\tDIGEST\tSIGNERS\n")
		for _, t := range r.SignedTags {
			signers := "(" + RepoAdmin + ")"
			if !t.byAdmin && len(t.Signers) > 0 {
				sorted := slices.Clone(t.Signers)
				slices.Sort(sorted)
				signers = strings.Join(sorted, ", ")
			}
			io.WriteString(tw, t.SignedTag+"\t"+t.Digest+"\t"+signers+"\n")
		}
		tw.Flush()
	} else {
		fmt.Fprintf(b, "\nNo signatures for %s\n\n", r.Name)
	}

	if len(r.Signers) > 0 {
		fmt.Fprintf(b, "\nList of signers and their keys for %s\n\n", r.Name)
		signers := slices.Clone(r.Signers)
		slices.SortStableFunc(signers, func(x, y InspectSigner) int { return naturalCompare(x.Name, y.Name) })
		tw := newTable(b)
		io.WriteString(tw, "SIGNER\tKEYS\n")
		for _, s := range signers {
			ids := keyIDs(s.Keys)
			slices.Sort(ids)
			for i := range ids {
				ids[i] = shortID(ids[i])
			}
			io.WriteString(tw, s.Name+"\t"+strings.Join(ids, ", ")+"\n")
		}
		tw.Flush()
	}

	fmt.Fprintf(b, "\nAdministrative keys for %s\n\n", r.Name)
	// docker orders the roles by TUF name, descending: targets, then root.
	for _, label := range [...]struct{ name, title string }{{"Repository", "Repository Key"}, {"Root", "Root Key"}} {
		for _, a := range r.AdministrativeKeys {
			if a.Name != label.name {
				continue
			}
			ids := keyIDs(a.Keys)
			slices.Sort(ids)
			fmt.Fprintf(b, "  %s:\t%s\n", label.title, strings.Join(ids, ", "))
		}
	}
}

func keyIDs(keys []InspectKey) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

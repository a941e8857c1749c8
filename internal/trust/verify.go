package trust

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/cryptoservice"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"
)

// The checks a Problem names.
const (
	CheckMissing     = "missing"     // a file the metadata lists is not there
	CheckFormat      = "format"      // not signed metadata of its role
	CheckPin         = "pin"         // the root is not the pinned one
	CheckCertificate = "certificate" // no root certificate valid for the GUN at the time
	CheckSignature   = "signature"   // not signed by enough of the role's keys
	CheckHash        = "hash"        // not the bytes its parent role lists
	CheckLength      = "length"      // not the length its parent role lists
	CheckDelegation  = "delegation"  // not delegated as its parent says
	CheckUnlisted    = "unlisted"    // a file no role lists: not part of the signed state
	CheckExpiry      = "expiry"      // expired as of the time of verification
)

// VerifyOptions says as of when and against which root Verify checks.
type VerifyOptions struct {
	// At is the time expiry is evaluated at: metadata (and the root's
	// certificates) must be valid then.
	At time.Time
	// RootKeyIDs pins the root: at least one of the root keys must have
	// one of these IDs, either the ID root.json gives it (the certificate's,
	// which docker prints as the Root Key and notary's trust pinning uses)
	// or its canonical ID (what `notary key list` shows). Only pinned keys
	// count towards the root's threshold.
	RootKeyIDs []string
	// RootCerts pins the root to certificates: a root key's certificate
	// must be one of them, or chain to one of them (as of At). Only pinned
	// keys count towards the root's threshold.
	RootCerts []*x509.Certificate
	// Skipped are delegations known to be absent because they did not
	// verify where the files were read (an archive's skipped_roles): their
	// absence is a problem, but one docker did not fail on.
	Skipped []string
}

// Problem is one failed check: the role whose file failed it, the check
// (one of the Check constants) and what is wrong, in words.
type Problem struct {
	Role    string `json:"role"`
	Check   string `json:"check"`
	Message string `json:"message"`
	// fatal is set when docker's client fails on it as a whole (rather than
	// ignoring one signer's role).
	fatal bool
}

// Verification is the result of Verify.
type Verification struct {
	GUN string
	At  time.Time
	// Anchor says what the root was checked against, in words.
	Anchor string
	// RootKeys are the keys root.json lists for root (nil if it could not
	// be read).
	RootKeys []Key
	// Problems lists every failed check, in the order of verification:
	// root, timestamp, snapshot, targets, delegations.
	Problems []Problem
	// Repo is the trust data as docker's client read it at At: nil if it
	// failed as a whole (then `docker trust inspect` printed nothing but
	// "no signatures or cannot access"); without any delegation docker
	// ignored (badly signed or expired).
	Repo *Repo
}

// Valid reports whether every check passed.
func (v *Verification) Valid() bool { return len(v.Problems) == 0 }

// Inspect is what `docker trust inspect` printed for the GUN at At, as
// for the live repository (Repo.Inspect): Err is set when docker failed.
func (v *Verification) Inspect() InspectResult {
	if v.Repo == nil {
		ref := v.GUN
		return InspectResult{Name: ref, Err: &InspectError{Ref: ref, Message: "no signatures or cannot access " + ref,
			Err: ErrVerification}}
	}
	return v.Repo.Inspect(v.GUN, "")
}

func (v *Verification) add(role, check, format string, args ...any) *Problem {
	v.Problems = append(v.Problems, Problem{Role: role, Check: check, Message: fmt.Sprintf(format, args...), fatal: true})
	return &v.Problems[len(v.Problems)-1]
}

// Verify checks the trust metadata of gun read from files (role name →
// signed JSON, as a Notary server serves it) the way docker's client checks
// what it downloads, with notary's own TUF code, except that expiry is
// evaluated as of opts.At instead of now: root.json's certificates (the
// GUN's, valid at At, pinned if asked) and its signatures and threshold;
// the timestamp's signatures; the snapshot against the hashes and length
// the timestamp lists, and its signatures; root and targets against the
// snapshot's hashes and lengths, and targets' signatures; each delegation
// the snapshot lists, reached from targets as notary's client walks them:
// against the snapshot's hashes and length and signed by its parent's keys
// for it at its threshold, its own delegations restricted to its paths;
// then every role's expiry as of At. Files that no role lists are reported
// too. Nothing is fetched: no network, no server, no state.
//
// Unlike docker's client it reports every problem it can find rather than
// stopping at the first: a delegation that fails is reported and its files
// left out, the rest still checked.
func Verify(gun string, files map[string][]byte, opts VerifyOptions) *Verification {
	v := &Verification{GUN: gun, At: opts.At, Anchor: anchorText(opts)}
	rootRaw, ok := files[RoleRoot]
	if !ok {
		v.add(RoleRoot, CheckMissing, "root.json is not there: without it nothing can be verified")
		return v
	}
	root := verifyRoot(v, gun, rootRaw, opts)
	if root == nil {
		return v
	}

	tr := tuf.NewRepo(cryptoservice.EmptyService)
	tr.Root = root
	skipped := map[string]bool{}
	for _, s := range opts.Skipped {
		skipped[s] = true
	}
	l := &treeLoad{
		get: func(ci tuf.ConsistentInfo) ([]byte, error) {
			name := ci.RoleName.String()
			raw, ok := files[name]
			if !ok {
				return nil, store.ErrMetaNotFound{Resource: name + ".json"}
			}
			if int64(len(raw)) > notary.MaxDownloadSize {
				return nil, fmt.Errorf("%s.json is larger than notary's limit of %d bytes", name, notary.MaxDownloadSize)
			}
			return raw, nil
		},
		// A root loaded into the builder would be validated by notary's
		// trustpinning.ValidateRoot, which checks the certificates' expiry
		// against the clock: verifyRoot did the same checks as of At.
		builder: tuf.NewBuilderFromRepo(data.GUN(gun), tr, trustpinning.TrustPinConfig{}),
		cache:   store.NewMemoryStore(nil),
		root:    rootRaw,
		failed: func(role data.RoleName, err error) error {
			p := v.problem(role.String(), err)
			// docker's client skips a delegation that is badly signed (or
			// expired) and fails on anything else.
			var threshold signed.ErrRoleThreshold
			var missing store.ErrMetaNotFound
			if errors.As(err, &threshold) || errors.As(err, &missing) && skipped[role.String()] {
				p.fatal = false
			}
			if errors.As(err, &missing) && skipped[role.String()] {
				p.Message += " (the backup left it out: it did not verify when the backup was made)"
			}
			return nil
		},
	}
	tr, err := l.run()
	if err != nil {
		var re *roleError
		if !errors.As(err, &re) {
			v.add("", CheckFormat, "%v", err)
			return v
		}
		p := v.problem(re.role.String(), re.err)
		if p.Role == RoleTimestamp && p.Check == CheckSignature && !rootListed(files) {
			// Not the timestamp's fault: another root.json.
			v.Problems = append([]Problem{{Role: RoleRoot, Check: CheckHash, fatal: true,
				Message: "root.json is not the root this trust data was signed under: the timestamp is not signed by its keys, " +
					"and snapshot.json (unverified) lists another root.json"}}, v.Problems...)
		}
		return v
	}

	v.checkExpiry(tr)
	for name := range files {
		if listed(tr, name) {
			continue
		}
		p := v.add(name, CheckUnlisted, "%s.json is not listed by snapshot.json: it is no part of the signed trust data", name)
		p.fatal = false
	}
	slices.SortStableFunc(v.Problems, func(a, b Problem) int { return order(a.Role) - order(b.Role) })
	if slices.ContainsFunc(v.Problems, func(p Problem) bool { return p.fatal }) {
		return v
	}
	repo, err := buildRepo(gun, tr, l.cache, opts.At)
	if err != nil {
		v.add("", CheckFormat, "%v", err)
		return v
	}
	v.Repo = repo
	return v
}

// rootListed reports whether root.json is the one snapshot.json lists, not
// verifying snapshot.json: it tells a replaced root from a badly signed
// timestamp once the timestamp failed.
func rootListed(files map[string][]byte) bool {
	var sn data.SignedSnapshot
	if err := json.Unmarshal(files[RoleSnapshot], &sn); err != nil {
		return true // nothing to tell
	}
	meta, ok := sn.Signed.Meta[RoleRoot]
	return !ok || data.CheckHashes(files[RoleRoot], RoleRoot, meta.Hashes) == nil
}

// listed reports whether the file of role name is part of the signed data:
// a top-level role, or one the snapshot lists.
func listed(tr *tuf.Repo, name string) bool {
	switch name {
	case RoleRoot, RoleTimestamp, RoleSnapshot:
		return true
	}
	_, ok := tr.Snapshot.Signed.Meta[name]
	return ok
}

// order sorts problems by role: root, timestamp, snapshot, targets, then
// delegations (stably, so in the order they were found).
func order(role string) int {
	switch role {
	case RoleRoot:
		return 0
	case RoleTimestamp:
		return 1
	case RoleSnapshot:
		return 2
	case RoleTargets:
		return 3
	}
	return 4
}

// checkExpiry reports every loaded role expired as of v.At. An expired
// delegation is left out of tr with the roles below it, as docker's client
// skips it; any other expired role fails as a whole.
func (v *Verification) checkExpiry(tr *tuf.Repo) {
	expired := func(role string, c data.SignedCommon) bool {
		if v.At.Before(c.Expires) {
			return false
		}
		v.add(role, CheckExpiry, "%s.json expired at %s, before %s (the time verified at)",
			role, c.Expires.UTC().Format(time.RFC3339), v.At.UTC().Format(time.RFC3339))
		return true
	}
	expired(RoleRoot, tr.Root.Signed.SignedCommon)
	expired(RoleTimestamp, tr.Timestamp.Signed.SignedCommon)
	expired(RoleSnapshot, tr.Snapshot.Signed.SignedCommon)
	expired(RoleTargets, tr.Targets[data.CanonicalTargetsRole].Signed.SignedCommon)
	var dels []string
	for name := range tr.Targets {
		if name != data.CanonicalTargetsRole {
			dels = append(dels, name.String())
		}
	}
	slices.Sort(dels) // parents before children
	for _, name := range dels {
		t, ok := tr.Targets[data.RoleName(name)]
		if !ok || !expired(name, t.Signed.SignedCommon) {
			continue
		}
		v.Problems[len(v.Problems)-1].fatal = false
		for other := range tr.Targets {
			if other.String() == name || strings.HasPrefix(other.String(), name+"/") {
				delete(tr.Targets, other)
			}
		}
	}
}

// problem records err, the failure of role's file, naming the check.
func (v *Verification) problem(role string, err error) *Problem {
	parent := RoleSnapshot
	switch role {
	case RoleSnapshot:
		parent = RoleTimestamp
	case RoleTimestamp, RoleRoot:
		parent = ""
	}
	var (
		mismatch  data.ErrMismatchedChecksum
		noHash    data.ErrMissingMeta
		length    lengthError
		missing   store.ErrMetaNotFound
		threshold signed.ErrRoleThreshold
		invalid   data.ErrInvalidRole
	)
	switch {
	case errors.As(err, &missing):
		if parent == "" {
			return v.add(role, CheckMissing, "%s.json is not there", role)
		}
		return v.add(role, CheckMissing, "%s.json is not there, but %s.json lists it", role, parent)
	case errors.As(err, &length):
		return v.add(role, CheckLength, "%s.json is %d bytes long, but %s.json lists %d bytes for it",
			role, length.have, parent, length.listed)
	case errors.As(err, &mismatch), errors.As(err, &noHash):
		return v.add(role, CheckHash, "%s.json does not match the hash %s.json lists for it (%v)", role, parent, err)
	case errors.As(err, &threshold), errors.Is(err, signed.ErrNoSignatures), isKeyError(err):
		whose := "its keys in root.json"
		if data.IsDelegation(data.RoleName(role)) {
			whose = "the keys its parent role delegates it to"
		}
		return v.add(role, CheckSignature, "%s.json is not signed by enough of %s (%v)", role, whose, err)
	case errors.As(err, &invalid):
		return v.add(role, CheckDelegation, "%s.json is not delegated as its parent says: %v", role, err)
	}
	return v.add(role, CheckFormat, "%s.json is not valid %s metadata: %v", role, role, err)
}

// isKeyError reports the errors notary's signature check gives for keys
// that do not fit their signatures.
func isKeyError(err error) bool {
	var (
		keyType   signed.ErrInvalidKeyType
		keyID     signed.ErrInvalidKeyID
		keyLength signed.ErrInvalidKeyLength
		noKeys    signed.ErrNoKeys
	)
	return errors.As(err, &keyType) || errors.As(err, &keyID) || errors.As(err, &keyLength) || errors.As(err, &noKeys)
}

// anchorText says what the root is checked against.
func anchorText(opts VerifyOptions) string {
	switch {
	case len(opts.RootKeyIDs) > 0:
		return "pinned root key ID " + strings.Join(opts.RootKeyIDs, ", ")
	case len(opts.RootCerts) > 0:
		var names []string
		for _, c := range opts.RootCerts {
			names = append(names, fmt.Sprintf("%q", c.Subject.CommonName))
		}
		return "pinned root certificate " + strings.Join(names, ", ")
	}
	return "trust on first use (TOFU): the root in the files themselves, pinned to nothing"
}

// rootKey is one key root.json lists for root, with its certificate.
type rootKey struct {
	id   string
	pub  data.PublicKey
	key  Key
	leaf *x509.Certificate
	ints []*x509.Certificate
	// bad says why the key cannot be a root key for the GUN ("" if it can).
	bad string
}

// verifyRoot checks root.json as notary's trustpinning.ValidateRoot does
// for a first download (no previously trusted root), with expiry as of
// opts.At: the root keys whose certificate is for gun (its common name, or
// a wildcard prefix of it), not SHA-1 signed, not a short RSA key, valid at
// At (with notary's day of leeway before the start) and pinned (or all,
// trusting on first use) must sign it at the root's threshold. It returns
// the verified root, or nil after recording the problem.
func verifyRoot(v *Verification, gun string, raw []byte, opts VerifyOptions) *data.SignedRoot {
	var s data.Signed
	if err := json.Unmarshal(raw, &s); err != nil {
		v.add(RoleRoot, CheckFormat, "root.json is not valid JSON: %v", err)
		return nil
	}
	root, err := data.RootFromSigned(&s)
	if err != nil {
		v.add(RoleRoot, CheckFormat, "root.json is not valid root metadata: %v", err)
		return nil
	}
	role, err := root.BuildBaseRole(data.CanonicalRootRole)
	if err != nil {
		v.add(RoleRoot, CheckFormat, "root.json is not valid root metadata: %v", err)
		return nil
	}
	keys := rootKeys(root, gun, opts.At)
	for _, k := range keys {
		v.RootKeys = append(v.RootKeys, k.key)
	}

	pinned := keys
	if len(opts.RootKeyIDs) > 0 || len(opts.RootCerts) > 0 {
		pinned = slices.DeleteFunc(slices.Clone(keys), func(k rootKey) bool { return !isPinned(k, opts) })
		if len(pinned) == 0 {
			v.add(RoleRoot, CheckPin, "none of root.json's root keys (%s) is the %s", describeKeys(keys), strings.TrimPrefix(v.Anchor, "pinned "))
			return nil
		}
	}
	usable := map[string]data.PublicKey{}
	var why []string
	for _, k := range pinned {
		if k.bad != "" {
			why = append(why, k.bad)
			continue
		}
		usable[k.id] = k.pub
	}
	if len(usable) == 0 {
		v.add(RoleRoot, CheckCertificate, "no root key of root.json has a certificate valid for %s at %s: %s",
			gun, opts.At.UTC().Format(time.RFC3339), strings.Join(why, "; "))
		return nil
	}
	if err := signed.VerifySignatures(&s, data.BaseRole{Name: data.CanonicalRootRole, Keys: usable, Threshold: role.Threshold}); err != nil {
		whose := "its own root keys"
		if len(opts.RootKeyIDs) > 0 || len(opts.RootCerts) > 0 {
			whose = "the pinned root keys"
		}
		v.add(RoleRoot, CheckSignature, "root.json is not signed by enough of %s (%v)", whose, err)
		return nil
	}
	if err := signed.VerifyVersion(&root.Signed.SignedCommon, 1); err != nil {
		v.add(RoleRoot, CheckFormat, "root.json: %v", err)
		return nil
	}
	// Pick up the signatures' IsValid marks, as ValidateRoot does.
	root, err = data.RootFromSigned(&s)
	if err != nil {
		v.add(RoleRoot, CheckFormat, "root.json is not valid root metadata: %v", err)
		return nil
	}
	return root
}

// rootKeys reads the keys root.json lists for root, in its order, and judges
// their certificates for gun as of at.
func rootKeys(root *data.SignedRoot, gun string, at time.Time) []rootKey {
	var out []rootKey
	for _, id := range root.Signed.Roles[data.CanonicalRootRole].KeyIDs {
		k := rootKey{id: id, key: Key{ID: id, TUFID: id}}
		pub, ok := root.Signed.Keys[id]
		if !ok {
			k.bad = fmt.Sprintf("key %s is not in root.json's keys", id)
			out = append(out, k)
			continue
		}
		k.pub, k.key = pub, keyOf(id, pub)
		k.bad = judgeCert(&k, gun, at)
		out = append(out, k)
	}
	return out
}

// judgeCert reads k's certificate bundle and says why it cannot be a root
// certificate for gun at at ("" if it can).
func judgeCert(k *rootKey, gun string, at time.Time) string {
	certs, err := utils.LoadCertBundleFromPEM(k.pub.Public())
	if err != nil {
		return fmt.Sprintf("key %s is not a certificate (%v)", k.id, err)
	}
	leaves := utils.GetLeafCerts(certs)
	if len(leaves) != 1 || certs[0].IsCA {
		return fmt.Sprintf("key %s is not one certificate followed by its issuers", k.id)
	}
	k.leaf = leaves[0]
	for _, c := range utils.GetIntermediateCerts(certs) {
		if utils.ValidateCertificate(c, false) == nil && validAt(c, at) {
			k.ints = append(k.ints, c)
		}
	}
	cn := k.leaf.Subject.CommonName
	if !trustpinning.MatchCNToGun(cn, data.GUN(gun)) {
		return fmt.Sprintf("the certificate of key %s is for %q, not %s", k.id, cn, gun)
	}
	if err := utils.ValidateCertificate(k.leaf, false); err != nil {
		return fmt.Sprintf("the certificate of key %s is not acceptable: %v", k.id, err)
	}
	if !validAt(k.leaf, at) {
		return fmt.Sprintf("the certificate of key %s is valid from %s to %s, not at %s", k.id,
			k.leaf.NotBefore.UTC().Format(time.RFC3339), k.leaf.NotAfter.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	return ""
}

// validAt reports whether c is valid at at, allowing the day before its
// start that notary allows.
func validAt(c *x509.Certificate, at time.Time) bool {
	return !at.AddDate(0, 0, 1).Before(c.NotBefore) && !at.After(c.NotAfter)
}

// isPinned reports whether k is one of the pinned keys: by either of its
// IDs, or by its certificate (the same, or issued by a pinned one).
func isPinned(k rootKey, opts VerifyOptions) bool {
	for _, id := range opts.RootKeyIDs {
		id = strings.ToLower(strings.TrimSpace(id))
		if id != "" && (id == k.key.TUFID || id == k.key.ID) {
			return true
		}
	}
	if k.leaf == nil || len(opts.RootCerts) == 0 {
		return false
	}
	pool, ints := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range opts.RootCerts {
		if c.Equal(k.leaf) {
			return true
		}
		pool.AddCert(c)
	}
	for _, c := range k.ints {
		ints.AddCert(c)
	}
	_, err := k.leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: ints, CurrentTime: opts.At,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

// describeKeys lists root keys by both their IDs.
func describeKeys(keys []rootKey) string {
	var out []string
	for _, k := range keys {
		if k.key.ID != k.key.TUFID {
			out = append(out, k.key.TUFID+" (canonical "+k.key.ID+")")
		} else {
			out = append(out, k.key.TUFID)
		}
	}
	return strings.Join(out, ", ")
}

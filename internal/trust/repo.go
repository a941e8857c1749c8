package trust

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/client"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// Role names docker gives a meaning to.
const (
	RoleRoot      = "root"
	RoleTargets   = "targets"
	RoleSnapshot  = "snapshot"
	RoleTimestamp = "timestamp"
	RoleReleases  = "targets/releases"
)

// Repo is the verified trust data of one GUN at one moment. Load builds it;
// it is immutable afterwards, so it may be shared between goroutines (do not
// modify its slices).
type Repo struct {
	GUN string
	// LoadedAt is when the data was verified.
	LoadedAt time.Time

	// Targets is every target of every role, as notary's
	// GetAllTargetMetadataByName("") reports them: roles breadth first from
	// targets, delegations in the order their parent lists them; within a
	// role by name.
	Targets []Target

	// Delegations is every delegation role declared by a loaded targets
	// role, in walk order, as notary's GetDelegationRoles reports them (key
	// IDs canonical). It is nil if notary could not translate the key IDs, in
	// which case docker shows no signers at all.
	Delegations []Delegation

	// RootKeys and TargetsKeys are the keys root.json lists for root and
	// targets, in root.json's order. Their TUFID is what docker shows as
	// administrative keys.
	RootKeys    []Key
	TargetsKeys []Key

	// Roles is the metadata of every loaded role: root, targets, snapshot,
	// timestamp, then the loaded delegations in walk order.
	Roles []RoleMeta

	// SkippedRoles are delegations the snapshot lists but the client did not
	// load: expired, without enough valid signatures, or no longer delegated.
	// Their targets count for nobody (docker ignores them too).
	SkippedRoles []string

	// RootReplaced is set when the current root.json does not chain to the
	// root seen by an earlier Load (the trust data was deleted and created
	// anew, or replaced without a root rotation). Clients that trusted the
	// old root refuse the new one until their cache is cleared.
	RootReplaced bool

	// id tells the Repos Load built apart (0: made otherwise); copies keep
	// it. What is kept of inspections is per id (render.go).
	id uint64

	// rolePaths holds the effective (parent-restricted) paths of every
	// visited targets role; a role is consulted for a tag only if one of its
	// paths is a prefix of the tag, as notary's walk does.
	rolePaths map[string][]string
}

// Target is one target in one role.
type Target struct {
	Name string
	Role string
	// SHA256 is the lowercase hex sha256 of the target ("" if the target
	// lists no sha256 hash).
	SHA256 string
	Size   int64
}

// Delegation is one delegation role.
type Delegation struct {
	Role      string
	Threshold int
	Paths     []string
	// Keys are in the order of the role's key IDs; Key.ID is canonical.
	Keys []Key
}

// KeyIDs returns the canonical IDs of the delegation's keys, in order.
func (d Delegation) KeyIDs() []string {
	ids := make([]string, len(d.Keys))
	for i, k := range d.Keys {
		ids[i] = k.ID
	}
	return ids
}

// Key is a public key with what can be learnt from it.
type Key struct {
	// ID is the canonical key ID: for a certificate, the ID of the public
	// key inside it (what docker shows for signers and what private key
	// files are named after).
	ID string
	// TUFID is the ID the metadata uses (for a certificate, the ID of the
	// certificate itself).
	TUFID string
	// Algorithm is the TUF key type: ecdsa, ecdsa-x509, rsa, rsa-x509,
	// ed25519.
	Algorithm string
	// Certificate is set for x509 keys; Subject is the certificate's
	// subject common name and NotAfter its expiry.
	Certificate bool
	Subject     string
	NotAfter    time.Time
}

// ShortID is the ID cut to 12 characters, as docker prints it.
func (k Key) ShortID() string { return shortID(k.ID) }

// Kind is "x509" for certificates and "public key" otherwise.
func (k Key) Kind() string {
	if k.Certificate {
		return "x509"
	}
	return "public key"
}

// RoleMeta is the current metadata of one role.
type RoleMeta struct {
	Role    string
	Version int
	Expires time.Time
	// Raw is the signed JSON exactly as the server sent it.
	Raw []byte
}

// Role returns the metadata of a role, or nil if it is not loaded.
func (r *Repo) Role(name string) *RoleMeta {
	for i := range r.Roles {
		if r.Roles[i].Role == name {
			return &r.Roles[i]
		}
	}
	return nil
}

// unexpired reports whether every loaded role is still valid at now.
func (r *Repo) unexpired(now time.Time) bool {
	for _, m := range r.Roles {
		if !now.Before(m.Expires) {
			return false
		}
	}
	return true
}

// shortID cuts an ID as docker's TruncateID does: drop anything up to the
// first colon, then keep at most 12 bytes.
func shortID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// signerName is docker's name for a delegation role: the role name without
// "targets/" (nested roles keep their inner slashes).
func signerName(role string) string { return strings.TrimPrefix(role, "targets/") }

// isReleased reports whether role counts as a release for docker: targets or
// targets/releases.
func isReleased(role string) bool { return role == RoleTargets || role == RoleReleases }

// buildRepo reads the verified TUF repository the client loaded.
func buildRepo(gun string, tr *tuf.Repo, cache store.MetadataStore, now time.Time) (*Repo, error) {
	if tr == nil || tr.Root == nil || tr.Snapshot == nil || tr.Timestamp == nil || tr.Targets[data.CanonicalTargetsRole] == nil {
		return nil, fmt.Errorf("incomplete trust data for %s", gun)
	}
	ro := client.NewReadOnly(tr)
	repo := &Repo{GUN: gun, LoadedAt: now, rolePaths: map[string][]string{}, id: repoIDs.Add(1)}

	all, err := ro.GetAllTargetMetadataByName("")
	if err != nil {
		if _, ok := err.(client.ErrNoSuchTarget); !ok {
			return nil, err
		}
	}
	repo.Targets = make([]Target, len(all))
	for i, t := range all {
		repo.Targets[i] = Target{
			Name:   t.Target.Name,
			Role:   t.Role.Name.String(),
			SHA256: hex.EncodeToString(t.Target.Hashes[notary.SHA256]),
			Size:   t.Target.Length,
		}
	}
	// notary lists one role's targets from a map: order each role's run.
	for start := 0; start < len(repo.Targets); {
		end := start + 1
		for end < len(repo.Targets) && repo.Targets[end].Role == repo.Targets[start].Role {
			end++
		}
		slices.SortFunc(repo.Targets[start:end], func(a, b Target) int { return strings.Compare(a.Name, b.Name) })
		start = end
	}

	// Walk the loaded targets roles as notary does, to learn their order,
	// their effective paths and the key material of their delegations.
	var walked []string
	keysOf := map[string][]Key{}
	err = tr.WalkTargets("", "", func(tgt *data.SignedTargets, role data.DelegationRole) any {
		name := role.Name.String()
		walked = append(walked, name)
		if _, seen := repo.rolePaths[name]; !seen {
			repo.rolePaths[name] = slices.Clone(role.Paths)
		}
		for _, d := range tgt.Signed.Delegations.Roles {
			if _, seen := keysOf[d.Name.String()]; seen {
				continue
			}
			keys := make([]Key, 0, len(d.KeyIDs))
			for _, id := range d.KeyIDs {
				if pub, ok := tgt.Signed.Delegations.Keys[id]; ok {
					keys = append(keys, keyOf(id, pub))
				}
			}
			keysOf[d.Name.String()] = keys
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	if dels, err := ro.GetDelegationRoles(); err == nil {
		repo.Delegations = make([]Delegation, 0, len(dels))
		for _, d := range dels {
			name := d.Name.String()
			del := Delegation{Role: name, Threshold: d.Threshold, Paths: slices.Clone(d.Paths)}
			for _, id := range d.KeyIDs {
				k := Key{ID: id}
				if i := slices.IndexFunc(keysOf[name], func(k Key) bool { return k.ID == id }); i >= 0 {
					k = keysOf[name][i]
				}
				del.Keys = append(del.Keys, k)
			}
			repo.Delegations = append(repo.Delegations, del)
		}
	}

	// Administrative keys: the key IDs root.json lists for root and targets.
	roles, err := ro.ListRoles()
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		var dst *[]Key
		switch r.Name {
		case data.CanonicalRootRole:
			dst = &repo.RootKeys
		case data.CanonicalTargetsRole:
			dst = &repo.TargetsKeys
		default:
			continue
		}
		*dst = make([]Key, 0, len(r.KeyIDs))
		for _, id := range r.KeyIDs {
			k := Key{ID: id, TUFID: id}
			if pub, ok := tr.Root.Signed.Keys[id]; ok {
				k = keyOf(id, pub)
			}
			*dst = append(*dst, k)
		}
	}

	// Role metadata.
	add := func(name string, common data.SignedCommon) {
		raw, _ := cache.GetSized(name, store.NoSizeLimit)
		repo.Roles = append(repo.Roles, RoleMeta{Role: name, Version: common.Version, Expires: common.Expires, Raw: raw})
	}
	add(RoleRoot, tr.Root.Signed.SignedCommon)
	add(RoleTargets, tr.Targets[data.CanonicalTargetsRole].Signed.SignedCommon)
	add(RoleSnapshot, tr.Snapshot.Signed.SignedCommon)
	add(RoleTimestamp, tr.Timestamp.Signed.SignedCommon)
	loaded := map[string]bool{RoleTargets: true}
	for _, name := range walked {
		if loaded[name] {
			continue
		}
		loaded[name] = true
		add(name, tr.Targets[data.RoleName(name)].Signed.SignedCommon)
	}
	for name := range tr.Snapshot.Signed.Meta {
		if data.IsDelegation(data.RoleName(name)) && !loaded[name] {
			repo.SkippedRoles = append(repo.SkippedRoles, name)
		}
	}
	slices.Sort(repo.SkippedRoles)
	return repo, nil
}

// keyOf describes a public key; id is the ID the metadata uses for it.
func keyOf(id string, pub data.PublicKey) Key {
	k := Key{ID: id, TUFID: id, Algorithm: pub.Algorithm()}
	if canonical, err := utils.CanonicalKeyID(pub); err == nil {
		k.ID = canonical
	}
	switch pub.Algorithm() {
	case data.ECDSAx509Key, data.RSAx509Key:
		k.Certificate = true
		if cert, err := utils.LoadCertFromPEM(pub.Public()); err == nil {
			k.Subject = cert.Subject.CommonName
			k.NotAfter = cert.NotAfter
		}
	}
	return k
}

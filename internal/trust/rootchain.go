package trust

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// How a root follows an earlier one (RootChain).
const (
	ChainFirst   = "first"   // nothing earlier to check against
	ChainSame    = "same"    // the same root keys (the same root.json, or root signed again)
	ChainRotated = "rotated" // new root keys, each root version signed by the keys of the one before
	ChainBroken  = "broken"  // does not chain: clients that trusted the earlier root refuse this one
)

// maxRootSteps bounds how many intermediate root versions RootChain reads.
const maxRootSteps = 1000

// RootChain says how root.json next follows root.json prev, both already
// verified on their own, the way notary's client accepts a new root from a
// server: every root version after prev's must be signed by a threshold of
// the root keys of the version before it, and by its own. version returns
// the root.json of an intermediate version; without it (nil), or when it
// fails, next must be signed by prev's root keys directly (a root rotated
// once, as `notary key rotate` does). It returns one of the Chain constants
// and what it found, in words.
func RootChain(prev, next []byte, version func(v int) ([]byte, error)) (status, detail string) {
	if bytes.Equal(prev, next) {
		return ChainSame, "the same root.json as the capture before"
	}
	old, err := parseRoot(prev)
	if err != nil {
		return ChainBroken, "the earlier root.json cannot be read: " + err.Error()
	}
	cur, err := parseRoot(next)
	if err != nil {
		return ChainBroken, "root.json cannot be read: " + err.Error()
	}
	from, to := old.Signed.Version, cur.Signed.Version
	switch {
	case to < from:
		return ChainBroken, fmt.Sprintf("root.json is version %d, older than version %d of the capture before: "+
			"the trust data was deleted and created anew, or rolled back", to, from)
	case to == from:
		return ChainBroken, fmt.Sprintf("root.json is another version %d than the capture before's: "+
			"the trust data was deleted and created anew with new root keys", to)
	}
	walk := old
	for v := from + 1; v <= to; v++ {
		raw, stepped := next, v == to
		if !stepped && version != nil && to-from <= maxRootSteps {
			if b, err := version(v); err == nil {
				raw, stepped = b, true
			}
		}
		if !stepped {
			// Intermediate versions cannot be read: next straight from walk.
			v = to
		}
		r, err := parseRoot(raw)
		if err != nil {
			return ChainBroken, fmt.Sprintf("root.json version %d cannot be read: %v", v, err)
		}
		if r.Signed.Version != v {
			return ChainBroken, fmt.Sprintf("the server's root.json of version %d is version %d", v, r.Signed.Version)
		}
		if err := signedByRoot(raw, walk); err != nil {
			return ChainBroken, fmt.Sprintf("root.json version %d is not signed by the root keys of version %d (%s): "+
				"clients that trusted the earlier root refuse it (%v)", v, walk.Signed.Version, rootKeyList(walk), err)
		}
		if err := signedByRoot(raw, r); err != nil {
			return ChainBroken, fmt.Sprintf("root.json version %d is not signed by its own root keys (%v)", v, err)
		}
		walk = r
	}
	if slices.Equal(sortedRootKeys(old), sortedRootKeys(cur)) {
		return ChainSame, fmt.Sprintf("root signed again (version %d → %d) with the same root keys", from, to)
	}
	return ChainRotated, fmt.Sprintf("root keys rotated (version %d → %d, %s → %s), each version signed by the root keys of the one before",
		from, to, rootKeyList(old), rootKeyList(cur))
}

// parseRoot reads a root.json without verifying it.
func parseRoot(raw []byte) (*data.SignedRoot, error) {
	var s data.Signed
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return data.RootFromSigned(&s)
}

// signedByRoot checks that raw is signed by a threshold of root's root keys.
func signedByRoot(raw []byte, root *data.SignedRoot) error {
	var s data.Signed
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	role, err := root.BuildBaseRole(data.CanonicalRootRole)
	if err != nil {
		return err
	}
	return signed.VerifySignatures(&s, role)
}

func sortedRootKeys(r *data.SignedRoot) []string {
	return slices.Sorted(slices.Values(r.Signed.Roles[data.CanonicalRootRole].KeyIDs))
}

// rootKeyList names root keys by docker's 12 characters.
func rootKeyList(r *data.SignedRoot) string {
	var ids []string
	for _, id := range sortedRootKeys(r) {
		ids = append(ids, shortID(id))
	}
	return "root key " + strings.Join(ids, ", ")
}

package trust

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
)

// TargetsChange is what one update of a targets role (targets or a
// delegation) changed: the tags it signs anew (new tags, and tags whose
// digest changed) and the tags it no longer signs.
type TargetsChange struct {
	Signed  []SignedDigest
	Removed []string
}

// SignedDigest is a tag and the digest it is signed for ("sha256:<hex>").
type SignedDigest struct {
	Tag    string
	Digest string
}

// Empty reports a change of no tag (a renewal, new keys).
func (c TargetsChange) Empty() bool { return len(c.Signed) == 0 && len(c.Removed) == 0 }

// DiffTargets compares two versions of a targets role's metadata file (as
// the Notary server stores it; previous nil for its first version). Tags
// come in docker's natural order.
func DiffTargets(previous, current []byte) (TargetsChange, error) {
	before, err := targetDigests(previous)
	if err != nil {
		return TargetsChange{}, err
	}
	after, err := targetDigests(current)
	if err != nil {
		return TargetsChange{}, err
	}
	var c TargetsChange
	for tag, d := range after {
		if before[tag] != d {
			c.Signed = append(c.Signed, SignedDigest{Tag: tag, Digest: d})
		}
	}
	for tag := range before {
		if _, ok := after[tag]; !ok {
			c.Removed = append(c.Removed, tag)
		}
	}
	slices.SortFunc(c.Signed, func(a, b SignedDigest) int { return naturalCompare(a.Tag, b.Tag) })
	slices.SortFunc(c.Removed, naturalCompare)
	return c, nil
}

// targetDigests maps each tag of a targets metadata file to its sha256
// digest ("sha256:<hex>"; "" for a target without one).
func targetDigests(file []byte) (map[string]string, error) {
	out := map[string]string{}
	if file == nil {
		return out, nil
	}
	var meta struct {
		Signed struct {
			Targets map[string]struct {
				Hashes map[string][]byte `json:"hashes"`
			} `json:"targets"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(file, &meta); err != nil {
		return nil, fmt.Errorf("trust: read targets metadata: %w", err)
	}
	for tag, t := range meta.Signed.Targets {
		if h, ok := t.Hashes["sha256"]; ok {
			out[tag] = "sha256:" + hex.EncodeToString(h)
		} else {
			out[tag] = ""
		}
	}
	return out, nil
}

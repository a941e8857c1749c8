package trust

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/theupdateframework/notary"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// Fetch downloads the complete current trust data of gun from a Notary
// server, as the files Verify checks: timestamp.json, then the snapshot by
// the checksum the timestamp lists, then root, targets and every delegation
// by the checksums the snapshot lists (so the files are one consistent
// state even while someone publishes). Nothing is verified here but that
// the files parse far enough to be followed and keep to the lengths their
// parents list: Verify says whether they are sound. Errors are those of
// Load (ErrNoTrustData, ErrUnreachable, ErrUnauthorized), or an
// ErrVerification naming a file that cannot be followed.
func Fetch(ctx context.Context, gun string, remote store.RemoteStore) (map[string][]byte, error) {
	return fetch(ctx, gun, remote, MaxFetchBytes)
}

// MaxFetchBytes bounds the trust data Fetch reads for one GUN.
const MaxFetchBytes = 256 << 20

func fetch(ctx context.Context, gun string, remote store.RemoteStore, maxBytes int64) (map[string][]byte, error) {
	if gun == "" {
		return nil, errs.Invalidf("invalid_gun", "The repository name is empty.")
	}
	rs := &readOnlyRemote{ctx: ctx, remote: remote}
	files := map[string][]byte{}
	ts, err := rs.GetSized(RoleTimestamp, notary.MaxTimestampSize)
	if err != nil {
		return nil, classify(gun, err, ctx.Err())
	}
	files[RoleTimestamp] = ts
	total := int64(len(ts))
	var timestamp data.SignedTimestamp
	if err := json.Unmarshal(ts, &timestamp); err != nil {
		return nil, unfollowable(gun, RoleTimestamp, err)
	}
	get := func(role string, meta data.FileMeta) error {
		name := role
		if sum, ok := meta.Hashes[notary.SHA256]; ok {
			name = role + "." + hex.EncodeToString(sum)
		}
		size := meta.Length
		if size <= 0 || size > notary.MaxDownloadSize {
			size = notary.MaxDownloadSize
		}
		raw, err := rs.GetSized(name, size)
		if err != nil {
			return classify(gun, err, ctx.Err())
		}
		if total += int64(len(raw)); total > maxBytes {
			return &errs.Error{Kind: errs.TooLarge, Code: "trust_data_too_large",
				Message: fmt.Sprintf("The trust data of %s is larger than %d MiB.", gun, maxBytes>>20)}
		}
		files[role] = raw
		return nil
	}
	snapMeta, ok := timestamp.Signed.Meta[RoleSnapshot]
	if !ok {
		return nil, unfollowable(gun, RoleTimestamp, fmt.Errorf("it lists no snapshot"))
	}
	if err := get(RoleSnapshot, snapMeta); err != nil {
		return nil, err
	}
	var snapshot data.SignedSnapshot
	if err := json.Unmarshal(files[RoleSnapshot], &snapshot); err != nil {
		return nil, unfollowable(gun, RoleSnapshot, err)
	}
	// root and targets first, then the delegations in name order (parents
	// before their children).
	var roles []string
	for name := range snapshot.Signed.Meta {
		if name == RoleRoot || name == RoleTargets || data.IsDelegation(data.RoleName(name)) {
			roles = append(roles, name)
		}
	}
	slices.SortFunc(roles, func(a, b string) int {
		if d := order(a) - order(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, role := range roles {
		if err := get(role, snapshot.Signed.Meta[role]); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// unfollowable is a file Fetch cannot follow to the next.
func unfollowable(gun, role string, err error) error {
	return &errs.Error{Kind: errs.Unavailable, Code: "trust_data_invalid",
		Message: fmt.Sprintf("The trust data of %s cannot be read: %s.json is not valid %s metadata (%v).", gun, role, role, err),
		Err:     fmt.Errorf("%w: %s: %w", ErrVerification, role, err)}
}

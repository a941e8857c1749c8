package trust

import (
	"bytes"
	"context"
	"errors"
	stdmaps "maps"
	"slices"
	"strings"
	"testing"
	"time"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// Fetch gets every file of the signed state, by checksum, and nothing more;
// what it gets verifies as what Load verified.
func TestFetchIsTheSignedState(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/prod/app"
	a := e.admin(gun).init()
	a.delegate(RoleReleases, a.key("targets/jeff", "jeff", true)).delegate("targets/jeff", a.key("targets/jeff", "jeff", true)).publish()
	a.sign("1", "content 1", RoleReleases, "targets/jeff").sign("dev", "content dev", "targets/jeff").publish()
	live, err := NewReader(e.remote()).Load(context.Background(), gun)
	if err != nil {
		t.Fatal(err)
	}
	remote, _ := e.remote()(gun)
	e.rt.take()
	files, err := Fetch(context.Background(), gun, remote)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, r := range live.Roles {
		want[r.Role] = r.Raw
	}
	if !stdmaps.EqualFunc(files, want, bytes.Equal) {
		t.Errorf("fetched %v, want the roles Load verified %v", slices.Sorted(stdmaps.Keys(files)), slices.Sorted(stdmaps.Keys(want)))
	}
	seen := e.rt.take()
	if len(seen) != len(want) || !strings.HasSuffix(seen[0], "/timestamp.json") {
		t.Errorf("requests %q: one per file, the timestamp first", seen)
	}
	for _, r := range seen[1:] {
		if !strings.Contains(r, ".json") || strings.Count(r[strings.LastIndex(r, "/"):], ".") != 2 {
			t.Errorf("%s: not by checksum", r)
		}
	}
	v := Verify(gun, files, VerifyOptions{At: time.Now()})
	if !v.Valid() || !bytes.Equal(FormatJSON([]InspectResult{v.Inspect()}), FormatJSON([]InspectResult{live.Inspect(gun, "")})) {
		t.Errorf("the fetched files do not verify as the live data: %v", v.Problems)
	}

	if _, err := fetch(context.Background(), gun, remote, int64(len(files[RoleTimestamp])+len(files[RoleSnapshot]))); errs.KindOf(err) != errs.TooLarge {
		t.Errorf("trust data over the limit: %v", err)
	}
	if _, err := Fetch(context.Background(), "reg.test/prod/none", must(e.remote()("reg.test/prod/none"))); !errors.Is(err, ErrNoTrustData) {
		t.Errorf("a GUN without trust data: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// rootSigner signs root.json versions with notary's tuf code, rotating the
// root key as `notary key rotate` does.
type rootSigner struct {
	t    *testing.T
	cs   *cryptoservice.CryptoService
	repo *tuf.Repo
}

func newRootSigner(t *testing.T) *rootSigner {
	t.Helper()
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("x")))
	r := &rootSigner{t: t, cs: cs, repo: tuf.NewRepo(cs)}
	keys := map[data.RoleName]data.PublicKey{}
	for _, role := range data.BaseRoles {
		k, err := cs.Create(role, "reg.test/prod/app", data.ECDSAKey)
		if err != nil {
			t.Fatal(err)
		}
		keys[role] = k
	}
	if err := r.repo.InitRoot(data.NewBaseRole(data.CanonicalRootRole, 1, keys[data.CanonicalRootRole]),
		data.NewBaseRole(data.CanonicalTimestampRole, 1, keys[data.CanonicalTimestampRole]),
		data.NewBaseRole(data.CanonicalSnapshotRole, 1, keys[data.CanonicalSnapshotRole]),
		data.NewBaseRole(data.CanonicalTargetsRole, 1, keys[data.CanonicalTargetsRole]), false); err != nil {
		t.Fatal(err)
	}
	return r
}

// sign signs the next root version, after replacing the root key if rotate.
func (r *rootSigner) sign(rotate bool) []byte {
	r.t.Helper()
	if rotate {
		k, err := r.cs.Create(data.CanonicalRootRole, "reg.test/prod/app", data.ECDSAKey)
		if err != nil {
			r.t.Fatal(err)
		}
		if err := r.repo.ReplaceBaseKeys(data.CanonicalRootRole, k); err != nil {
			r.t.Fatal(err)
		}
	}
	s, err := r.repo.SignRoot(time.Now().AddDate(10, 0, 0), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	raw, err := canonicaljson.MarshalCanonical(s)
	if err != nil {
		r.t.Fatal(err)
	}
	return raw
}

func TestRootChain(t *testing.T) {
	a := newRootSigner(t)
	v1 := a.sign(false)
	v2same := a.sign(false)
	v3 := a.sign(true) // cross-signed by v2's key
	v4 := a.sign(true) // by v3's, not v2's
	versions := map[int][]byte{1: v1, 2: v2same, 3: v3, 4: v4}
	fromServer := func(v int) ([]byte, error) {
		if b, ok := versions[v]; ok {
			return b, nil
		}
		return nil, errors.New("no such version")
	}
	other := newRootSigner(t)
	o1 := other.sign(false)
	o2 := other.sign(false)

	tests := []struct {
		name       string
		prev, next []byte
		version    func(int) ([]byte, error)
		want       string
		detail     string
	}{
		{"the same file", v1, v1, nil, ChainSame, "the same root.json"},
		{"signed again with the same key", v1, v2same, nil, ChainSame, "same root keys"},
		{"rotated once", v2same, v3, nil, ChainRotated, "version 2 → 3"},
		{"rotated twice, through the server's version 3", v2same, v4, fromServer, ChainRotated, "version 2 → 4"},
		{"rotated twice, without version 3", v2same, v4, nil, ChainBroken, "not signed by the root keys of version 2"},
		{"another root", v1, o2, fromServer, ChainBroken, "not signed by the root keys of version 1"},
		{"another root of the same version", v1, o1, nil, ChainBroken, "another version 1"},
		{"rolled back", v3, v2same, nil, ChainBroken, "older than version 3"},
		{"not JSON", v1, []byte("{"), nil, ChainBroken, "cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, detail := RootChain(tt.prev, tt.next, tt.version)
			if got != tt.want || !strings.Contains(detail, tt.detail) {
				t.Errorf("RootChain = %s (%s), want %s (%q)", got, detail, tt.want, tt.detail)
			}
		})
	}
}

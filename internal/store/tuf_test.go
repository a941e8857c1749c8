package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/trustdeck/trustdeck/internal/testpg"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/tuf/data"
)

func newTUF(t *testing.T) *TUFStore {
	t.Helper()
	s, err := Open(context.Background(), testpg.Location(t, filepath.Join(t.TempDir(), "trustdeck.db")))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.TUF()
}

// body is the deterministic content of a test file.
func body(gun data.GUN, role data.RoleName, version int) []byte {
	return []byte(fmt.Sprintf("%s|%s|%d", gun, role, version))
}

func upd(gun data.GUN, role data.RoleName, version int) storage.MetaUpdate {
	return storage.MetaUpdate{Role: role, Version: version, Data: body(gun, role, version)}
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The handlers type-assert, so errors must be notary's values, unwrapped.
func isOldVersion(err error) bool { _, ok := err.(storage.ErrOldVersion); return ok }
func isNotFound(err error) bool   { _, ok := err.(storage.ErrNotFound); return ok }
func isBadQuery(err error) bool   { _, ok := err.(storage.ErrBadQuery); return ok }

func mustUpdateMany(t *testing.T, s *TUFStore, gun data.GUN, us ...storage.MetaUpdate) {
	t.Helper()
	if err := s.UpdateMany(gun, us); err != nil {
		t.Fatalf("UpdateMany(%s): %v", gun, err)
	}
}

func currentVersion(t *testing.T, s *TUFStore, gun data.GUN, role data.RoleName) int {
	t.Helper()
	_, got, err := s.GetCurrent(gun, role)
	if isNotFound(err) {
		return 0
	}
	if err != nil {
		t.Fatalf("GetCurrent(%s, %s): %v", gun, role, err)
	}
	v, err := versionOf(got)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// versionOf reads the version out of a test file "gun|role|version[|...]".
func versionOf(b []byte) (int, error) {
	parts := strings.Split(string(b), "|")
	if len(parts) < 3 {
		return 0, fmt.Errorf("not a test file: %q", b)
	}
	return strconv.Atoi(parts[2])
}

func allChanges(t *testing.T, s *TUFStore) []storage.Change {
	t.Helper()
	cs, err := s.GetChanges("0", 1<<30, "")
	if err != nil {
		t.Fatalf("GetChanges: %v", err)
	}
	return cs
}

func TestTUFUpdateCurrent(t *testing.T) {
	const gun = data.GUN("example.com/app")
	tests := []struct {
		name    string
		role    data.RoleName
		version int
		wantOld bool
		current int // current version of role afterwards
	}{
		{"new role", data.CanonicalRootRole, 1, false, 1},
		{"next version", data.CanonicalRootRole, 2, false, 2},
		{"skip ahead", data.CanonicalRootRole, 4, false, 4},
		{"same version", data.CanonicalRootRole, 4, true, 4},
		{"lower version never stored", data.CanonicalRootRole, 3, true, 4},
		{"lower version stored", data.CanonicalRootRole, 1, true, 4},
		{"other role is independent", data.CanonicalTargetsRole, 1, false, 1},
		{"delegation role", "targets/releases", 7, false, 7},
		{"version zero on a new role", data.CanonicalSnapshotRole, 0, false, 0},
	}
	s := newTUF(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.UpdateCurrent(gun, upd(gun, tc.role, tc.version))
			switch {
			case tc.wantOld && !isOldVersion(err):
				t.Fatalf("err = %#v, want storage.ErrOldVersion{}", err)
			case !tc.wantOld && err != nil:
				t.Fatalf("err = %v", err)
			}
			_, got, err := s.GetCurrent(gun, tc.role)
			if err != nil {
				t.Fatalf("GetCurrent: %v", err)
			}
			if want := body(gun, tc.role, tc.current); !bytes.Equal(got, want) {
				t.Errorf("current = %q, want %q", got, want)
			}
		})
	}
	// Refused updates stored nothing: version 3 was never written.
	if _, _, err := s.GetVersion(gun, data.CanonicalRootRole, 3); !isNotFound(err) {
		t.Errorf("GetVersion(3) err = %#v, want ErrNotFound", err)
	}
	// Another GUN does not see these versions.
	if err := s.UpdateCurrent("example.com/other", upd("example.com/other", data.CanonicalRootRole, 1)); err != nil {
		t.Errorf("other GUN v1: %v", err)
	}
}

func TestTUFUpdateMany(t *testing.T) {
	const gun = data.GUN("example.com/app")
	base := []storage.MetaUpdate{
		upd(gun, data.CanonicalRootRole, 1),
		upd(gun, data.CanonicalTargetsRole, 1),
		upd(gun, data.CanonicalSnapshotRole, 1),
		upd(gun, data.CanonicalTimestampRole, 1),
	}
	tests := []struct {
		name    string
		batch   []storage.MetaUpdate
		wantOld bool
		current map[data.RoleName]int // expected afterwards
	}{
		{
			name: "empty batch",
			current: map[data.RoleName]int{
				data.CanonicalRootRole: 1, data.CanonicalTargetsRole: 1,
				data.CanonicalSnapshotRole: 1, data.CanonicalTimestampRole: 1,
			},
		},
		{
			name: "all roles next version",
			batch: []storage.MetaUpdate{
				upd(gun, data.CanonicalRootRole, 2), upd(gun, data.CanonicalTargetsRole, 2),
				upd(gun, data.CanonicalSnapshotRole, 2), upd(gun, data.CanonicalTimestampRole, 2),
			},
			current: map[data.RoleName]int{
				data.CanonicalRootRole: 2, data.CanonicalTargetsRole: 2,
				data.CanonicalSnapshotRole: 2, data.CanonicalTimestampRole: 2,
			},
		},
		{
			name:    "two versions of one role, out of order",
			batch:   []storage.MetaUpdate{upd(gun, data.CanonicalRootRole, 4), upd(gun, data.CanonicalRootRole, 3)},
			current: map[data.RoleName]int{data.CanonicalRootRole: 4, data.CanonicalTargetsRole: 1},
		},
		{
			name:    "new delegation role",
			batch:   []storage.MetaUpdate{upd(gun, "targets/releases", 1), upd(gun, data.CanonicalSnapshotRole, 2)},
			current: map[data.RoleName]int{"targets/releases": 1, data.CanonicalSnapshotRole: 2},
		},
		{
			name: "one role conflicts with the store: nothing stored",
			batch: []storage.MetaUpdate{
				upd(gun, data.CanonicalRootRole, 2), upd(gun, data.CanonicalTargetsRole, 1),
				upd(gun, data.CanonicalSnapshotRole, 2), upd(gun, data.CanonicalTimestampRole, 2),
			},
			wantOld: true,
			current: map[data.RoleName]int{
				data.CanonicalRootRole: 1, data.CanonicalTargetsRole: 1,
				data.CanonicalSnapshotRole: 1, data.CanonicalTimestampRole: 1,
			},
		},
		{
			name:    "last update conflicts: earlier ones rolled back",
			batch:   []storage.MetaUpdate{upd(gun, data.CanonicalTimestampRole, 2), upd(gun, data.CanonicalSnapshotRole, 1)},
			wantOld: true,
			current: map[data.RoleName]int{data.CanonicalSnapshotRole: 1, data.CanonicalTimestampRole: 1},
		},
		{
			name: "duplicate in one batch",
			batch: []storage.MetaUpdate{
				upd(gun, data.CanonicalTimestampRole, 3), upd(gun, data.CanonicalTimestampRole, 3),
			},
			wantOld: true,
			current: map[data.RoleName]int{data.CanonicalTimestampRole: 1},
		},
		{
			name: "duplicate role+version with different data",
			batch: []storage.MetaUpdate{
				upd(gun, data.CanonicalTargetsRole, 5),
				{Role: data.CanonicalTargetsRole, Version: 5, Data: []byte("other")},
			},
			wantOld: true,
			current: map[data.RoleName]int{data.CanonicalTargetsRole: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTUF(t)
			mustUpdateMany(t, s, gun, base...)
			before := allChanges(t, s)

			err := s.UpdateMany(gun, tc.batch)
			switch {
			case tc.wantOld && !isOldVersion(err):
				t.Fatalf("err = %#v, want storage.ErrOldVersion{}", err)
			case !tc.wantOld && err != nil:
				t.Fatalf("err = %v", err)
			}
			for role, v := range tc.current {
				if got := currentVersion(t, s, gun, role); got != v {
					t.Errorf("current %s = %d, want %d", role, got, v)
				}
			}
			after := allChanges(t, s)
			if tc.wantOld {
				// Nothing of the refused batch may be stored, not even in part.
				for _, u := range tc.batch {
					_, got, err := s.GetChecksum(gun, u.Role, hexSum(u.Data))
					if err == nil && !bytes.Equal(got, body(gun, u.Role, 1)) {
						t.Errorf("refused %s v%d was stored", u.Role, u.Version)
					}
				}
				if len(after) != len(before) {
					t.Errorf("refused batch wrote %d changes", len(after)-len(before))
				}
				return
			}
			var ts int
			for _, u := range tc.batch {
				_, got, err := s.GetVersion(gun, u.Role, u.Version)
				if err != nil || !bytes.Equal(got, u.Data) {
					t.Errorf("GetVersion(%s, %d) = %q, %v", u.Role, u.Version, got, err)
				}
				if u.Role == data.CanonicalTimestampRole {
					ts++
				}
			}
			if len(after)-len(before) != ts {
				t.Errorf("batch with %d timestamps wrote %d changes", ts, len(after)-len(before))
			}
		})
	}
}

func TestTUFGetters(t *testing.T) {
	const gun = data.GUN("example.com/app")
	s := newTUF(t)
	t0 := time.Now()
	mustUpdateMany(t, s, gun, upd(gun, data.CanonicalRootRole, 1), upd(gun, data.CanonicalTargetsRole, 1))
	mustUpdateMany(t, s, gun, upd(gun, data.CanonicalRootRole, 2))
	// Empty data is stored and read back as empty, not nil.
	mustUpdateMany(t, s, gun, storage.MetaUpdate{Role: "targets/empty", Version: 1})

	r1, r2 := body(gun, data.CanonicalRootRole, 1), body(gun, data.CanonicalRootRole, 2)
	type getter func() (*time.Time, []byte, error)
	tests := []struct {
		name string
		get  getter
		want []byte // nil: ErrNotFound
	}{
		{"current", func() (*time.Time, []byte, error) { return s.GetCurrent(gun, data.CanonicalRootRole) }, r2},
		{"current other role", func() (*time.Time, []byte, error) { return s.GetCurrent(gun, data.CanonicalTargetsRole) }, body(gun, data.CanonicalTargetsRole, 1)},
		{"current empty data", func() (*time.Time, []byte, error) { return s.GetCurrent(gun, "targets/empty") }, []byte{}},
		{"current missing role", func() (*time.Time, []byte, error) { return s.GetCurrent(gun, data.CanonicalSnapshotRole) }, nil},
		{"current missing gun", func() (*time.Time, []byte, error) { return s.GetCurrent("example.com/ap", data.CanonicalRootRole) }, nil},
		{"version 1", func() (*time.Time, []byte, error) { return s.GetVersion(gun, data.CanonicalRootRole, 1) }, r1},
		{"version 2", func() (*time.Time, []byte, error) { return s.GetVersion(gun, data.CanonicalRootRole, 2) }, r2},
		{"version 3 missing", func() (*time.Time, []byte, error) { return s.GetVersion(gun, data.CanonicalRootRole, 3) }, nil},
		{"version of other gun", func() (*time.Time, []byte, error) { return s.GetVersion("other", data.CanonicalRootRole, 1) }, nil},
		{"checksum old", func() (*time.Time, []byte, error) { return s.GetChecksum(gun, data.CanonicalRootRole, hexSum(r1)) }, r1},
		{"checksum current", func() (*time.Time, []byte, error) { return s.GetChecksum(gun, data.CanonicalRootRole, hexSum(r2)) }, r2},
		{"checksum upper case", func() (*time.Time, []byte, error) {
			return s.GetChecksum(gun, data.CanonicalRootRole, strings.ToUpper(hexSum(r2)))
		}, r2},
		{"checksum under wrong role", func() (*time.Time, []byte, error) { return s.GetChecksum(gun, data.CanonicalTargetsRole, hexSum(r1)) }, nil},
		{"checksum under wrong gun", func() (*time.Time, []byte, error) { return s.GetChecksum("other", data.CanonicalRootRole, hexSum(r1)) }, nil},
		{"checksum unknown", func() (*time.Time, []byte, error) {
			return s.GetChecksum(gun, data.CanonicalRootRole, hexSum([]byte("x")))
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			created, got, err := tc.get()
			if tc.want == nil {
				if !isNotFound(err) {
					t.Fatalf("err = %#v, want storage.ErrNotFound{}", err)
				}
				if created != nil || got != nil {
					t.Errorf("not found returned %v, %q", created, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got == nil || !bytes.Equal(got, tc.want) {
				t.Errorf("data = %q, want %q", got, tc.want)
			}
			if created == nil || created.Before(t0.Add(-time.Second)) || created.After(time.Now().Add(time.Second)) {
				t.Errorf("created = %v, want about now", created)
			}
		})
	}

	// The same file has the same time whichever way it is read.
	c1, _, _ := s.GetCurrent(gun, data.CanonicalRootRole)
	c2, _, _ := s.GetChecksum(gun, data.CanonicalRootRole, hexSum(r2))
	c3, _, _ := s.GetVersion(gun, data.CanonicalRootRole, 2)
	if !c1.Equal(*c2) || !c1.Equal(*c3) {
		t.Errorf("times differ: %v %v %v", c1, c2, c3)
	}
}

func TestTUFDelete(t *testing.T) {
	guns := []data.GUN{"a/app", "a/app2", "a/ap", "a/app/sub", "b/app"}
	tests := []struct {
		name         string
		del          data.GUN
		wantDeletion bool
		remaining    []data.GUN
	}{
		{"exact gun only, not prefixed ones", "a/app", true, []data.GUN{"a/app2", "a/ap", "a/app/sub", "b/app"}},
		{"gun that is a prefix of others", "a/ap", true, []data.GUN{"a/app", "a/app2", "a/app/sub", "b/app"}},
		{"unknown gun", "a/nothing", false, guns},
		{"prefix that is no gun", "a/", false, guns},
		{"empty gun", "", false, guns},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTUF(t)
			for _, g := range guns {
				mustUpdateMany(t, s, g,
					upd(g, data.CanonicalRootRole, 1), upd(g, data.CanonicalTimestampRole, 1),
					upd(g, data.CanonicalRootRole, 2), upd(g, data.CanonicalTimestampRole, 2))
			}
			before := allChanges(t, s)
			if err := s.Delete(tc.del); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			after := allChanges(t, s)
			if !tc.wantDeletion {
				if len(after) != len(before) {
					t.Errorf("no-op delete wrote %d changes", len(after)-len(before))
				}
			} else {
				if len(after) != len(before)+1 {
					t.Fatalf("delete wrote %d changes, want 1", len(after)-len(before))
				}
				c := after[len(after)-1]
				if c.Category != "deletion" || c.GUN != tc.del.String() || c.Version != 0 || c.SHA256 != "" {
					t.Errorf("deletion change = %+v", c)
				}
				for _, role := range []data.RoleName{data.CanonicalRootRole, data.CanonicalTimestampRole} {
					for v := 1; v <= 2; v++ {
						if _, _, err := s.GetVersion(tc.del, role, v); !isNotFound(err) {
							t.Errorf("%s v%d still there: %v", role, v, err)
						}
						if _, _, err := s.GetChecksum(tc.del, role, hexSum(body(tc.del, role, v))); !isNotFound(err) {
							t.Errorf("%s v%d still there by checksum: %v", role, v, err)
						}
					}
					if _, _, err := s.GetCurrent(tc.del, role); !isNotFound(err) {
						t.Errorf("%s current still there: %v", role, err)
					}
				}
				// A second delete finds nothing and records nothing.
				if err := s.Delete(tc.del); err != nil {
					t.Fatalf("second Delete: %v", err)
				}
				if again := allChanges(t, s); len(again) != len(after) {
					t.Errorf("second delete wrote a change")
				}
				// The GUN can start again from version 1.
				mustUpdateMany(t, s, tc.del, upd(tc.del, data.CanonicalRootRole, 1))
			}
			for _, g := range tc.remaining {
				if v := currentVersion(t, s, g, data.CanonicalRootRole); v != 2 {
					t.Errorf("%s root current = %d, want 2", g, v)
				}
				if _, _, err := s.GetVersion(g, data.CanonicalTimestampRole, 1); err != nil {
					t.Errorf("%s timestamp v1: %v", g, err)
				}
			}
		})
	}
}

func TestTUFTimestampChanges(t *testing.T) {
	s := newTUF(t)
	t0 := time.Now()
	mustUpdateMany(t, s, "g1", upd("g1", data.CanonicalRootRole, 1), upd("g1", data.CanonicalTargetsRole, 1),
		upd("g1", data.CanonicalSnapshotRole, 1), upd("g1", data.CanonicalTimestampRole, 1))
	if err := s.UpdateCurrent("g1", upd("g1", data.CanonicalTimestampRole, 2)); err != nil {
		t.Fatal(err)
	}
	// Non-timestamp roles record nothing.
	mustUpdateMany(t, s, "g1", upd("g1", data.CanonicalSnapshotRole, 2), upd("g1", "targets/releases", 1))
	if err := s.UpdateCurrent("g1", upd("g1", data.CanonicalRootRole, 2)); err != nil {
		t.Fatal(err)
	}
	// Two timestamps in one batch record two changes, in batch order.
	mustUpdateMany(t, s, "g2", upd("g2", data.CanonicalTimestampRole, 5), upd("g2", data.CanonicalTimestampRole, 3))
	// Refused updates record nothing.
	if err := s.UpdateCurrent("g1", upd("g1", data.CanonicalTimestampRole, 2)); !isOldVersion(err) {
		t.Fatalf("err = %#v", err)
	}

	want := []struct {
		gun     string
		version int
	}{{"g1", 1}, {"g1", 2}, {"g2", 5}, {"g2", 3}}
	got := allChanges(t, s)
	if len(got) != len(want) {
		t.Fatalf("got %d changes, want %d: %+v", len(got), len(want), got)
	}
	prev := ""
	for i, w := range want {
		c := got[i]
		wantSum := hexSum(body(data.GUN(w.gun), data.CanonicalTimestampRole, w.version))
		if c.GUN != w.gun || c.Version != w.version || c.Category != "update" || c.SHA256 != wantSum {
			t.Errorf("change %d = %+v, want %s v%d sha256 %s", i, c, w.gun, w.version, wantSum)
		}
		if c.ID == "" || c.ID == prev {
			t.Errorf("change %d has ID %q after %q", i, c.ID, prev)
		}
		prev = c.ID
		if c.CreatedAt.Before(t0.Add(-time.Second)) || c.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("change %d CreatedAt = %v", i, c.CreatedAt)
		}
	}
}

func TestTUFGetChanges(t *testing.T) {
	s := newTUF(t)
	// ids 1-4: alpine v1-4, ids 5-8: busybox v1-4, id 9: deletion of alpine,
	// id 10: busybox v5.
	for _, g := range []data.GUN{"alpine", "busybox"} {
		for v := 1; v <= 4; v++ {
			mustUpdateMany(t, s, g, upd(g, data.CanonicalTimestampRole, v))
		}
	}
	if err := s.Delete("alpine"); err != nil {
		t.Fatal(err)
	}
	mustUpdateMany(t, s, "busybox", upd("busybox", data.CanonicalTimestampRole, 5))

	full := allChanges(t, s)
	ids := make([]string, len(full))
	for i, c := range full {
		ids[i] = c.ID
	}
	if want := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("ids = %v, want %v", ids, want)
	}

	tests := []struct {
		name    string
		id      string
		records int
		gun     string
		want    []string // change IDs, oldest first
		bad     bool
	}{
		{"empty id from start", "", 3, "", []string{"1", "2", "3"}, false},
		{"zero from start", "0", 3, "", []string{"1", "2", "3"}, false},
		{"after an id, excluding it", "3", 3, "", []string{"4", "5", "6"}, false},
		{"page past the end", "8", 5, "", []string{"9", "10"}, false},
		{"after the newest", "10", 5, "", []string{}, false},
		{"far future id", "1000", 5, "", []string{}, false},
		{"zero records", "0", 0, "", []string{}, false},
		{"all from start", "0", 100, "", ids, false},
		{"newest", "-1", 3, "", []string{"8", "9", "10"}, false},
		{"newest with negative records", "-1", -3, "", []string{"8", "9", "10"}, false},
		{"any negative id is newest", "-7", 2, "", []string{"9", "10"}, false},
		{"before an id, excluding it", "7", -4, "", []string{"3", "4", "5", "6"}, false},
		{"before an id past the start", "3", -5, "", []string{"1", "2"}, false},
		{"before the first", "1", -5, "", []string{}, false},
		{"before a far future id", "1000", -2, "", []string{"9", "10"}, false},
		{"backwards from zero is from newest", "0", -2, "", []string{"9", "10"}, false},
		{"filter from start", "0", 100, "busybox", []string{"5", "6", "7", "8", "10"}, false},
		{"filter paged forward", "2", 2, "alpine", []string{"3", "4"}, false},
		{"filter skips other guns", "4", 2, "alpine", []string{"9"}, false},
		{"filter newest", "-1", 2, "busybox", []string{"8", "10"}, false},
		{"filter newest includes deletion", "-1", -2, "alpine", []string{"4", "9"}, false},
		{"filter backwards from id", "9", -3, "busybox", []string{"6", "7", "8"}, false},
		{"filter is exact, not prefix", "0", 100, "alp", []string{}, false},
		{"filter unknown gun", "-1", 10, "nothing", []string{}, false},
		{"non-integer id", "foo", 10, "", nil, true},
		{"non-integer id, zero records", "doesn't exist", 0, "", nil, true},
		{"id beyond 32 bits", "4294967296", 10, "", nil, true},
		{"decimal id", "1.5", 10, "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.GetChanges(tc.id, tc.records, tc.gun)
			if tc.bad {
				if !isBadQuery(err) {
					t.Fatalf("err = %#v, want storage.ErrBadQuery{}", err)
				}
				if len(got) != 0 {
					t.Errorf("bad query returned %d changes", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got == nil {
				t.Errorf("got nil slice, want empty (JSON [])")
			}
			gotIDs := make([]string, len(got))
			for i, c := range got {
				gotIDs[i] = c.ID
				if tc.gun != "" && c.GUN != tc.gun {
					t.Errorf("change %s of gun %s passed filter %s", c.ID, c.GUN, tc.gun)
				}
			}
			if !reflect.DeepEqual(gotIDs, tc.want) {
				t.Errorf("ids = %v, want %v", gotIDs, tc.want)
			}
		})
	}

	// Paging forwards then backwards through the whole feed finds every change once.
	var fwd, back []string
	for cursor := "0"; ; {
		page, err := s.GetChanges(cursor, 3, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			fwd = append(fwd, c.ID)
		}
		cursor = page[len(page)-1].ID
	}
	for cursor := "-1"; ; {
		page, err := s.GetChanges(cursor, -3, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		var ps []string
		for _, c := range page {
			ps = append(ps, c.ID)
		}
		back = append(ps, back...)
		cursor = page[0].ID
	}
	if !reflect.DeepEqual(fwd, ids) || !reflect.DeepEqual(back, ids) {
		t.Errorf("paging forward %v, backward %v, want %v", fwd, back, ids)
	}
}

func TestTUFListAndCurrentAll(t *testing.T) {
	s := newTUF(t)
	ctx := context.Background()
	if gs, err := s.ListGUNsWithData(ctx); err != nil || len(gs) != 0 {
		t.Fatalf("empty store: %v, %v", gs, err)
	}
	mustUpdateMany(t, s, "b/app", upd("b/app", data.CanonicalRootRole, 1), upd("b/app", data.CanonicalRootRole, 3),
		upd("b/app", data.CanonicalTargetsRole, 1), upd("b/app", "targets/releases", 2))
	mustUpdateMany(t, s, "a/app", upd("a/app", data.CanonicalRootRole, 1))
	mustUpdateMany(t, s, "c/gone", upd("c/gone", data.CanonicalRootRole, 1))
	if err := s.Delete("c/gone"); err != nil {
		t.Fatal(err)
	}

	gs, err := s.ListGUNsWithData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/app", "b/app"}; !reflect.DeepEqual(gs, want) {
		t.Errorf("ListGUNsWithData = %v, want %v", gs, want)
	}

	tests := []struct {
		gun  string
		want map[string][]byte
	}{
		{"b/app", map[string][]byte{
			"root":             body("b/app", data.CanonicalRootRole, 3),
			"targets":          body("b/app", data.CanonicalTargetsRole, 1),
			"targets/releases": body("b/app", "targets/releases", 2),
		}},
		{"a/app", map[string][]byte{"root": body("a/app", data.CanonicalRootRole, 1)}},
		{"c/gone", map[string][]byte{}},
		{"b/ap", map[string][]byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.gun, func(t *testing.T) {
			got, err := s.CurrentAll(ctx, tc.gun)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("CurrentAll = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTUFConcurrentPublish runs 20 publishers at once: each pushes batches
// to its own GUN (never refused) and races the others on one shared GUN,
// retrying on ErrOldVersion from the current version. No version may be
// lost or stored twice, and every refusal must be ErrOldVersion.
func TestTUFConcurrentPublish(t *testing.T) {
	const (
		workers = 20
		rounds  = 5 // successful shared publishes per worker
		shared  = data.GUN("example.com/shared")
	)
	s := newTUF(t)
	roles := []data.RoleName{data.CanonicalTargetsRole, data.CanonicalSnapshotRole, data.CanonicalTimestampRole}
	batch := func(gun data.GUN, v int, worker int) []storage.MetaUpdate {
		var us []storage.MetaUpdate
		for _, r := range roles {
			us = append(us, storage.MetaUpdate{Role: r, Version: v,
				Data: []byte(fmt.Sprintf("%s|%s|%d|w%d", gun, r, v, worker))})
		}
		return us
	}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		winners  = map[int]int{} // shared version -> worker
		refusals int
		errs     []error
		start    = make(chan struct{})
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			<-start
			own := data.GUN(fmt.Sprintf("example.com/own%d", w))
			won := 0
			for v := 1; won < rounds; v++ {
				if v <= rounds {
					if err := s.UpdateMany(own, batch(own, v, w)); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("own gun %s v%d: %w", own, v, err))
						mu.Unlock()
						return
					}
				}
				// Race for the shared GUN: read the current version, publish next.
				next := 1
				_, cur, err := s.GetCurrent(shared, data.CanonicalTimestampRole)
				if err == nil {
					var cv int
					cv, err = versionOf(cur)
					next = cv + 1
				} else if isNotFound(err) {
					err = nil
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				err = s.UpdateMany(shared, batch(shared, next, w))
				mu.Lock()
				switch {
				case err == nil:
					if prev, dup := winners[next]; dup {
						errs = append(errs, fmt.Errorf("version %d won by both %d and %d", next, prev, w))
					}
					winners[next] = w
					won++
				case isOldVersion(err):
					refusals++
				default:
					errs = append(errs, fmt.Errorf("shared v%d: %#v", next, err))
				}
				mu.Unlock()
				if err != nil && !isOldVersion(err) {
					return
				}
			}
		}(w)
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	total := workers * rounds
	if len(winners) != total {
		t.Fatalf("%d shared versions won, want %d", len(winners), total)
	}
	t.Logf("%d publishes won, %d refused with ErrOldVersion", total, refusals)

	// Shared GUN: versions 1..total, each complete and from its winner.
	for v := 1; v <= total; v++ {
		w, ok := winners[v]
		if !ok {
			t.Errorf("shared version %d missing", v)
			continue
		}
		for _, u := range batch(shared, v, w) {
			_, got, err := s.GetVersion(shared, u.Role, v)
			if err != nil || !bytes.Equal(got, u.Data) {
				t.Errorf("shared %s v%d = %q, %v; want %q", u.Role, v, got, err, u.Data)
			}
		}
	}
	for _, r := range roles {
		if _, _, err := s.GetVersion(shared, r, total+1); !isNotFound(err) {
			t.Errorf("shared %s has a version past %d", r, total)
		}
	}

	// Changefeed: one update per stored timestamp, no more, no less.
	perGUN := map[string][]int{}
	for _, c := range allChanges(t, s) {
		perGUN[c.GUN] = append(perGUN[c.GUN], c.Version)
	}
	if got := perGUN[shared.String()]; len(got) != total {
		t.Errorf("shared GUN has %d changes, want %d", len(got), total)
	} else {
		for i, v := range got {
			if v != i+1 {
				t.Errorf("shared change %d has version %d: feed out of order", i, v)
				break
			}
		}
	}
	for w := 0; w < workers; w++ {
		own := fmt.Sprintf("example.com/own%d", w)
		if got, want := perGUN[own], []int{1, 2, 3, 4, 5}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s changes = %v, want %v", own, got, want)
		}
		if v := currentVersion(t, s, data.GUN(own), data.CanonicalTimestampRole); v != rounds {
			t.Errorf("%s current = %d, want %d", own, v, rounds)
		}
	}
	if len(perGUN) != workers+1 {
		t.Errorf("changes for %d GUNs, want %d", len(perGUN), workers+1)
	}
}

// TestTUFConcurrentSameVersion: 20 publishers push the same version of the
// same GUN at once; exactly one wins and the rest get ErrOldVersion.
func TestTUFConcurrentSameVersion(t *testing.T) {
	const workers = 20
	s := newTUF(t)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, workers)
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			<-start
			errs[w] = s.UpdateMany("g", []storage.MetaUpdate{
				{Role: data.CanonicalRootRole, Version: 1, Data: []byte(fmt.Sprintf("root %d", w))},
				{Role: data.CanonicalTimestampRole, Version: 1, Data: []byte(fmt.Sprintf("ts %d", w))},
			})
		}(w)
	}
	close(start)
	wg.Wait()
	winner := -1
	for w, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("workers %d and %d both won", winner, w)
			}
			winner = w
		case !isOldVersion(err):
			t.Errorf("worker %d: %#v, want storage.ErrOldVersion{}", w, err)
		}
	}
	if winner < 0 {
		t.Fatal("nobody won")
	}
	_, root, err := s.GetCurrent("g", data.CanonicalRootRole)
	if err != nil || string(root) != fmt.Sprintf("root %d", winner) {
		t.Errorf("root = %q, %v; want the winner's", root, err)
	}
	_, ts, err := s.GetCurrent("g", data.CanonicalTimestampRole)
	if err != nil || string(ts) != fmt.Sprintf("ts %d", winner) {
		t.Errorf("timestamp = %q, %v; want the winner's", ts, err)
	}
	if cs := allChanges(t, s); len(cs) != 1 {
		t.Errorf("%d changes, want 1", len(cs))
	}
}

// A repository whose GUN has trust data in the embedded server's tables is
// not removed from the catalog, even if the caller checked before the push.
func TestDeleteRepositoryRefusesWhileTrustDataExists(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testpg.Location(t, filepath.Join(t.TempDir(), "trustdeck.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const gun = "reg.test/prod/app"
	if _, err := s.CreateRepository(ctx, "prod", "app", "admin"); err != nil {
		t.Fatal(err)
	}
	mustUpdateMany(t, s.TUF(), gun, upd(gun, data.CanonicalRootRole, 1))
	if err := s.DeleteRepository(ctx, "prod", "app", gun); err != ErrConflict {
		t.Fatalf("delete with trust data: %v, want ErrConflict", err)
	}
	if _, err := s.Repository(ctx, "prod", "app"); err != nil {
		t.Fatalf("the refused deletion removed the repository: %v", err)
	}
	if err := s.TUF().Delete(gun); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRepository(ctx, "prod", "app", gun); err != nil {
		t.Fatalf("delete without trust data: %v", err)
	}
	if err := s.DeleteRepository(ctx, "prod", "app", gun); err != ErrNotFound {
		t.Fatalf("delete again: %v, want ErrNotFound", err)
	}
}

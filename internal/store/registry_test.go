package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
)

func TestRegistryState(t *testing.T) {
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "db"))
	defer st.Close()
	if _, err := st.CreateRepository(ctx, "prod", "app", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RegistryState(ctx, "prod", "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("state of a repository outside the catalog: %v", err)
	}
	got, err := st.RegistryState(ctx, "prod", "app")
	if err != nil || got.Seen {
		t.Fatalf("never read: %+v %v", got, err)
	}
	// Counting before the first read stores nothing.
	if err := st.PutRegistryCounts(ctx, "prod", "app", store.RegistryCounts{Unsigned: 3}); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.RegistryState(ctx, "prod", "app"); got.Seen {
		t.Fatalf("counts made the repository seen: %+v", got)
	}

	t1 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tags := []store.RegistryTag{
		{Tag: "v1", Digest: "sha256:aa", MediaType: "application/vnd.oci.image.manifest.v1+json", ETag: `"sha256:aa"`},
		{Tag: "multi", Digest: "sha256:bb", MediaType: "application/vnd.oci.image.index.v1+json",
			Platforms: []string{"linux/amd64", "linux/arm/v7"}},
	}
	if err := st.SaveRegistryTags(ctx, "prod", "app", tags, []string{"sha256:cc"}, t1); err != nil {
		t.Fatal(err)
	}
	got, err = st.RegistryState(ctx, "prod", "app")
	if err != nil {
		t.Fatal(err)
	}
	wantTags := []store.RegistryTag{tags[1], tags[0]} // by name
	if !got.Seen || !got.CheckedAt.Equal(t1) || !got.FailingSince.IsZero() || got.Error != "" || got.TagCount != 2 ||
		!reflect.DeepEqual(got.Tags, wantTags) || !reflect.DeepEqual(got.Absent, []string{"sha256:cc"}) {
		t.Fatalf("after a read: %+v", got)
	}

	// Failures keep the tags and the first failure's time.
	t2, t3 := t1.Add(time.Minute), t1.Add(2*time.Minute)
	st.RegistryFailed(ctx, "prod", "app", "the registry is unreachable: refused", t2)
	st.RegistryFailed(ctx, "prod", "app", "the registry is unreachable: timeout", t3)
	got, _ = st.RegistryState(ctx, "prod", "app")
	if !got.CheckedAt.Equal(t1) || !got.FailingSince.Equal(t2) || !got.AttemptedAt.Equal(t3) ||
		got.Error != "the registry is unreachable: timeout" || len(got.Tags) != 2 {
		t.Fatalf("after failures: %+v", got)
	}

	// Notifications: a push, a tag deleted, a manifest deleted (every tag on it).
	if err := st.SaveRegistryTags(ctx, "prod", "app", append(tags, store.RegistryTag{Tag: "v2", Digest: "sha256:aa"}), nil, t3); err != nil {
		t.Fatal(err)
	}
	if err := st.ChangeRegistryTags(ctx, "prod", "app", []store.RegistryTag{{Tag: "v3", Digest: "sha256:dd"}}, []string{"multi"},
		[]string{"sha256:aa"}); err != nil {
		t.Fatal(err)
	}
	got, _ = st.RegistryState(ctx, "prod", "app")
	if len(got.Tags) != 1 || got.Tags[0].Tag != "v3" || got.TagCount != 1 || !got.CheckedAt.Equal(t3) || got.Error != "" {
		t.Fatalf("after notifications: %+v", got)
	}

	// A success ends the failure; tags not read again are gone.
	if err := st.SaveRegistryTags(ctx, "prod", "app", []store.RegistryTag{{Tag: "v4", Digest: "sha256:ee"}}, nil, t3); err != nil {
		t.Fatal(err)
	}
	st.RegistryFailed(ctx, "prod", "app", "x", t3)
	st.SaveRegistryTags(ctx, "prod", "app", []store.RegistryTag{{Tag: "v4", Digest: "sha256:ee"}}, nil, t3.Add(time.Minute))
	got, _ = st.RegistryState(ctx, "prod", "app")
	if len(got.Tags) != 1 || got.Tags[0].Tag != "v4" || !got.FailingSince.IsZero() || got.Error != "" || got.Absent != nil {
		t.Fatalf("after recovery: %+v", got)
	}
	if err := st.SaveRegistryTags(ctx, "prod", "gone", nil, nil, t3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("saving tags of a repository outside the catalog: %v", err)
	}
	if err := st.RegistryFailed(ctx, "prod", "gone", "x", t3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failure of a repository outside the catalog: %v", err)
	}

	// Removing the repository removes its registry state.
	if err := st.DeleteRepository(ctx, "prod", "app", "r/prod/app"); err != nil {
		t.Fatal(err)
	}
	st.CreateRepository(ctx, "prod", "app", "admin")
	if got, _ := st.RegistryState(ctx, "prod", "app"); got.Seen || len(got.Tags) != 0 {
		t.Errorf("a repository created again inherits registry state: %+v", got)
	}
}

// The list carries the counts and filters repositories with unsigned or
// drifted tags.
func TestListRepositoriesWithRegistryCounts(t *testing.T) {
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "db"))
	defer st.Close()
	counts := map[string]store.RegistryCounts{
		"clean":    {Signed: 2},
		"unsigned": {Signed: 1, Unsigned: 2},
		"drifted":  {Drifted: 1, Missing: 1},
		"missing":  {Missing: 4},
	}
	for _, n := range []string{"clean", "unsigned", "drifted", "missing", "unread"} {
		if _, err := st.CreateRepository(ctx, "prod", n, "admin"); err != nil {
			t.Fatal(err)
		}
		if c, ok := counts[n]; ok {
			st.SaveRegistryTags(ctx, "prod", n, []store.RegistryTag{{Tag: "x", Digest: "sha256:aa"}}, nil, time.Now())
			if err := st.PutRegistryCounts(ctx, "prod", n, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows, total, err := st.ListRepositories(ctx, store.RepositoryQuery{Limit: 10})
	if err != nil || total != 5 {
		t.Fatal(total, err)
	}
	for _, r := range rows {
		c, ok := counts[r.Name]
		switch {
		case !ok && r.Registry != nil:
			t.Errorf("%s: registry state %+v, want none", r.Name, r.Registry)
		case ok && (r.Registry == nil || r.Registry.Counts != c || !r.Registry.Counted || r.Registry.Tags != 1):
			t.Errorf("%s: registry state %+v, want counts %+v", r.Name, r.Registry, c)
		}
	}
	rows, total, err = st.ListRepositories(ctx, store.RepositoryQuery{Filter: "unsigned-or-drifted", Limit: 10})
	var got []string
	for _, r := range rows {
		got = append(got, r.Name)
	}
	if err != nil || total != 2 || fmt.Sprint(got) != "[drifted unsigned]" {
		t.Errorf("unsigned-or-drifted: %v (total %d) %v", got, total, err)
	}
}

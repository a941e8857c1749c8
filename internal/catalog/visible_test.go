package catalog

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testpg"
)

func TestVisible(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, testpg.Location(t, filepath.Join(t.TempDir(), "trustdeck.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := New(st, "reg.test")
	cat.ListForeign()
	// More than a page, created out of order.
	var all []string
	for i := 30; i >= 0; i-- {
		name := "svc-" + string(rune('a'+i/10)) + string(rune('a'+i%10))
		if _, err := cat.Create(ctx, "prod", name, "admin"); err != nil {
			t.Fatal(err)
		}
		all = append(all, "prod/"+name)
	}
	for _, r := range [][2]string{{"other", "thing"}, {names.Foreign, "elsewhere.test:5000/team/app"}} {
		if _, err := cat.Create(ctx, r[0], r[1], "admin"); err != nil {
			t.Fatal(err)
		}
		all = append(all, r[0]+"/"+r[1])
	}
	slices.Sort(all)
	tests := []struct {
		name       string
		namespaces []string
		want       []string
	}{
		{"global administrator", nil, all},
		{"one namespace", []string{"other"}, []string{"other/thing"}},
		{"no namespace", []string{}, nil},
		// Foreign repositories are for global administrators only, even if
		// a namespace "~" were ever passed.
		{"never foreign", []string{"other", names.Foreign}, []string{"other/thing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cat.Visible(ctx, tt.namespaces)
			if err != nil {
				t.Fatal(err)
			}
			var full []string
			for _, r := range got {
				full = append(full, r.Namespace+"/"+r.Name)
				if r.GUN != cat.GUN(r.Namespace, r.Name) || r.Foreign != (r.Namespace == names.Foreign) {
					t.Errorf("%+v: wrong GUN or Foreign", r)
				}
			}
			if !slices.Equal(full, tt.want) {
				t.Errorf("Visible(%q) = %q, want %q", tt.namespaces, full, tt.want)
			}
		})
	}
}

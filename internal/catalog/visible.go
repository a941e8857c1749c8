package catalog

import (
	"context"
	"math"

	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/store"
)

// Visible returns every repository of namespaces, sorted by namespace and
// name, as the list shows them: namespaces nil means every namespace
// (global administrators), foreign repositories included; otherwise the
// foreign ones are left out, as they are for global administrators only.
// It reads the catalog in one query, so a repository created or removed
// meanwhile cannot make it skip another, as reading page after page could.
func (s *Service) Visible(ctx context.Context, namespaces []string) ([]Repository, error) {
	rows, _, err := s.st.ListRepositories(ctx, store.RepositoryQuery{Namespaces: namespaces, Limit: math.MaxInt32})
	if err != nil {
		return nil, err
	}
	out := make([]Repository, 0, len(rows))
	for i := range rows {
		if namespaces != nil && rows[i].Namespace == names.Foreign {
			continue
		}
		out = append(out, *s.wrap(&rows[i]))
	}
	return out, nil
}

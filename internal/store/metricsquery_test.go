package store_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
)

// TrustStateCounts counts repositories by trust state ("unknown" without a
// summary) and, by the role that expires first, those expired and those
// expiring before soon; an expiry after soon, or none, counts in neither.
func TestTrustStateCounts(t *testing.T) {
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "db"))
	defer st.Close()
	now := time.Now()
	soon := now.Add(30 * 24 * time.Hour)
	summaries := map[string]*store.TrustSummary{
		"expired-a":  {State: "signed", NearestExpiry: now.Add(-time.Hour), NearestExpiryRole: "targets"},
		"expired-b":  {State: "signed", NearestExpiry: now.Add(-48 * time.Hour), NearestExpiryRole: "targets"},
		"expiring":   {State: "signed", NearestExpiry: now.Add(time.Hour), NearestExpiryRole: "timestamp"},
		"later":      {State: "unsigned", NearestExpiry: now.Add(365 * 24 * time.Hour), NearestExpiryRole: "root"},
		"no-trust":   {State: "none"},
		"unsummed-a": nil,
		"unsummed-b": nil,
	}
	for name, sum := range summaries {
		if _, err := st.CreateRepository(ctx, "prod", name, "admin"); err != nil {
			t.Fatal(err)
		}
		if sum != nil {
			if err := st.PutTrustSummary(ctx, "prod", name, *sum); err != nil {
				t.Fatal(err)
			}
		}
	}
	states, expired, expiring, err := st.TrustStateCounts(ctx, now, soon)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"signed": 3, "unsigned": 1, "none": 1, "unknown": 2}; !reflect.DeepEqual(states, want) {
		t.Errorf("states %v, want %v", states, want)
	}
	if want := map[string]int{"targets": 2}; !reflect.DeepEqual(expired, want) {
		t.Errorf("expired %v, want %v", expired, want)
	}
	if want := map[string]int{"timestamp": 1}; !reflect.DeepEqual(expiring, want) {
		t.Errorf("expiring %v, want %v", expiring, want)
	}
}

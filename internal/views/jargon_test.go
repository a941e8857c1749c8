package views_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The pages speak to their users, not to trustdeck's developers: no
// mention of the e2e seed ("as the seed does") in any template.
func TestNoSeedJargonInTheTemplates(t *testing.T) {
	templs, err := filepath.Glob("*.templ")
	if err != nil || len(templs) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	jargon := regexp.MustCompile(`(?i)\bthe seed\b|\bseed's\b`)
	for _, f := range templs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := jargon.Find(b); m != nil {
			t.Errorf("%s speaks of %q", f, m)
		}
	}
}

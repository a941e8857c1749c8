package views

import "testing"

func TestExpiryWarningText(t *testing.T) {
	for _, c := range []struct {
		expired, expiring int
		want              string
	}{
		{1, 0, "1 repository has expired trust data, which docker refuses."},
		{2, 1, "2 repositories have expired trust data, which docker refuses; 1 more expires within 30 days."},
		{1, 3, "1 repository has expired trust data, which docker refuses; 3 more expire within 30 days."},
		{0, 1, "1 repository has trust data that expires within 30 days."},
		{0, 4, "4 repositories have trust data that expires within 30 days."},
	} {
		if got := expiryWarningText(c.expired, c.expiring); got != c.want {
			t.Errorf("expiryWarningText(%d, %d) = %q, want %q", c.expired, c.expiring, got, c.want)
		}
	}
}

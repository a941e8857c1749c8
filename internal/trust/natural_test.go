package trust

import (
	"slices"
	"testing"
)

func TestNaturalLess(t *testing.T) {
	tests := []struct {
		a, b string
		less bool
	}{
		{"v2", "v10", true},
		{"v10", "v2", false},
		{"0", "00", true},
		{"00", "0", false},
		{"aa", "ab", true},
		{"ab", "abc", true},
		{"abc", "ad", true},
		{"ab1", "ab2", true},
		{"ab1c", "ab1c", false},
		{"ab12", "abc", true}, // a digit sorts before a letter
		{"ab2a", "ab10", true},
		{"a0001", "a0000001", true},
		{"a10", "abcdefgh2", true},
		{"аб2аб", "аб10аб", true},
		{"2аб", "3аб", true},
		{"a1b", "a01b", true},
		{"a01b", "a1b", false},
		{"ab01b", "ab010b", true},
		{"ab010b", "ab01b", false},
		{"a01b001", "a001b01", true},
		{"a001b01", "a01b001", false},
		{"a1", "a1x", true},
		{"1ax", "1b", true},
		{"1b", "1ax", false},
		{"082", "83", true},
		{"083a", "9a", false},
		{"9a", "083a", true},
		{"", "", false},
		{"", "a", true},
		{"latest", "v1", true},
		{"v1.9", "v1.10", true},
		{"v1.10-rc1", "v1.10", false},
	}
	for _, tt := range tests {
		if got := naturalLess(tt.a, tt.b); got != tt.less {
			t.Errorf("naturalLess(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.less)
		}
	}
}

func TestNaturalSort(t *testing.T) {
	got := []string{"v10", "v2", "latest", "v01", "v2a", "v1", "1.0", "10.0", "2.0"}
	slices.SortFunc(got, naturalCompare)
	want := []string{"1.0", "2.0", "10.0", "latest", "v1", "v01", "v2", "v2a", "v10"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

package httpenc

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		values []string
		want   bool
	}{
		{nil, false},
		{[]string{"gzip"}, true},
		{[]string{"br, GZIP;q=0.5"}, true},
		{[]string{"deflate", "gzip"}, true},
		{[]string{"*"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q=0.000"}, false},
		{[]string{"gzip;q=0.001"}, true},
		{[]string{"identity"}, false},
		{[]string{"x-gzip"}, false},
		{[]string{""}, false},
	}
	for _, tt := range tests {
		if got := AcceptsGzip(tt.values); got != tt.want {
			t.Errorf("AcceptsGzip(%q) = %v, want %v", tt.values, got, tt.want)
		}
	}
}

func TestGzip(t *testing.T) {
	if Gzip([]byte(strings.Repeat("a", MinGzip-1))) != nil {
		t.Error("a body under MinGzip was compressed")
	}
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*7919 + i*i*31)
	}
	body := []byte(strings.Repeat(`{"SignedTag": "v1", "Digest": "abc"},`, 100))
	z := Gzip(body)
	if z == nil || len(z) >= len(body) {
		t.Fatalf("compressible body: %d bytes of %d", len(z), len(body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	if back, err := io.ReadAll(zr); err != nil || !bytes.Equal(back, body) {
		t.Fatalf("round trip: %v", err)
	}
}

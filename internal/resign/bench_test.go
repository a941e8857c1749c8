package resign

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// BenchmarkSign signs distinct images, one signature each, against
// go-containerregistry's in-process registry and Debian's docker-registry,
// both over TLS without the referrers API (the tag-schema index is
// written). tags/s is the figure for closing notes.
func BenchmarkSign(b *testing.B) {
	for _, bc := range []struct {
		registry string
		start    func(testing.TB) *testRegistry
		format   string
	}{
		{"in-process", func(tb testing.TB) *testRegistry { return newTestRegistry(tb, false) }, FormatCosign},
		{"in-process", func(tb testing.TB) *testRegistry { return newTestRegistry(tb, false) }, FormatNotation},
		{"debian", startDebianRegistry, FormatCosign},
		{"debian", startDebianRegistry, FormatNotation},
	} {
		format := bc.format
		b.Run(bc.registry+"/"+format, func(b *testing.B) {
			r := bc.start(b)
			k := newTestKeys(b, "bench")
			cosign, notation := k.formats(b, r.reg)
			var f Format = cosign
			if format == FormatNotation {
				f = notation
			}
			imgs := benchImages(b, r, b.N)
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if _, err := f.Sign(ctx, imgs[i], Provenance{Tag: fmt.Sprint("t", i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tags/s")
		})
	}
}

// benchImages pushes n distinct manifests cheaply: one image's blobs, and
// manifests that differ by an annotation.
func benchImages(b *testing.B, r *testRegistry, n int) []Image {
	b.Helper()
	base := r.pushImage(b, "bench/app", "base")
	_, m := r.rawManifest(b, base.Reference())
	out := make([]Image, n)
	for i := range n {
		m.Annotations = map[string]string{"n": fmt.Sprint(i)}
		body, err := json.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		ref, _ := name.NewTag(base.Name() + ":" + fmt.Sprint("t", i))
		if err := remote.Put(ref, rawManifest{raw: body, mt: m.MediaType}, r.opts()...); err != nil {
			b.Fatal(err)
		}
		out[i] = r.head(b, ref)
	}
	return out
}

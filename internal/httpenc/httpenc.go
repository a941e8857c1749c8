// Package httpenc holds what trustdeck needs of HTTP content coding: whether
// a client accepts gzip, and compressing a body once so that it can be sent
// compressed many times.
package httpenc

import (
	"bytes"
	"compress/gzip"
	"strings"
)

// MinGzip is the size below which compressing a body is not worth it.
const MinGzip = 1024

// AcceptsGzip reports whether the Accept-Encoding values of a request name
// gzip (or *) with a weight above zero.
func AcceptsGzip(values []string) bool {
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(item), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "*" {
				continue
			}
			q := strings.ReplaceAll(strings.ToLower(params), " ", "")
			if q == "q=0" || strings.HasPrefix(q, "q=0.") && strings.Trim(q[len("q=0."):], "0") == "" {
				return false
			}
			return true
		}
	}
	return false
}

// Gzip compresses b (fast rather than small: it is done on a request's
// path), or returns nil when b is smaller than MinGzip or does not shrink by
// a tenth.
func Gzip(b []byte) []byte {
	if len(b) < MinGzip {
		return nil
	}
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	if out.Len() >= len(b)*9/10 {
		return nil
	}
	return out.Bytes()
}

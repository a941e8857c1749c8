package testnotary

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"path"
	"strings"
	"testing"
)

// Untar unpacks a trust backup (a gzip'd tar archive) and checks its shape:
// regular files only, clean paths under one top folder, none twice. It
// returns the top folder and the files by path below it.
func Untar(t testing.TB, archive []byte) (top string, files map[string][]byte) {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("backup is not gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	files = map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("backup tar: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			t.Errorf("backup entry %s is not a regular file (type %c)", hdr.Name, hdr.Typeflag)
			continue
		}
		dir, rest, ok := strings.Cut(hdr.Name, "/")
		if !ok || rest == "" || path.Clean(hdr.Name) != hdr.Name || strings.Contains(hdr.Name, "..") {
			t.Errorf("backup entry %q is not a clean path under one top folder", hdr.Name)
			continue
		}
		if top == "" {
			top = dir
		} else if dir != top {
			t.Errorf("backup entry %q is not under the top folder %q", hdr.Name, top)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := files[rest]; dup {
			t.Errorf("backup holds %s twice", rest)
		}
		files[rest] = content
	}
	if err := gz.Close(); err != nil {
		t.Errorf("backup gzip: %v", err)
	}
	return top, files
}

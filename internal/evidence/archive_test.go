package evidence

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// entry is one tar entry.
type entry struct {
	name string
	body string
	kind byte // tar type flag; 0: regular file
}

func archive(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		kind := e.kind
		if kind == 0 {
			kind = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: kind, ModTime: time.Now()}
		if kind == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		} else if kind == tar.TypeSymlink {
			hdr.Linkname = "/etc/passwd"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

const single = `{"gun":"reg.test/prod/app","created_at":"2026-12-01T10:00:00Z","created_by":"alice","files":[]}`

func TestReadOneRepository(t *testing.T) {
	a, err := Read(bytes.NewReader(archive(t,
		entry{name: "top/", kind: tar.TypeDir},
		entry{name: "top/root.json", body: "r"},
		entry{name: "top/targets.json", body: "t"},
		entry{name: "top/targets/releases.json", body: "tr"},
		entry{name: "top/manifest.json", body: single},
		entry{name: "top/README.txt", body: "read me"},
	)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.All || a.Top != "top" || !a.CreatedAt.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) || len(a.Repositories) != 1 {
		t.Fatalf("%+v", a)
	}
	r := a.Repositories[0]
	if r.GUN != "reg.test/prod/app" || len(r.Files) != 3 || string(r.Files["targets/releases"]) != "tr" || r.Files["README"] != nil {
		t.Errorf("%+v", r)
	}
}

func TestReadEveryRepository(t *testing.T) {
	top := `{"created_at":"2026-12-01T10:00:00Z","created_by":"alice","notary_url":"https://reg.test",
		"repositories":[{"repository":"prod/app","gun":"reg.test/prod/app","status":"backed_up","folder":"reg.test_prod_app"},
		{"repository":"prod/gone","gun":"reg.test/prod/gone","status":"backed_up","folder":"reg.test_prod_gone"},
		{"repository":"prod/bad","gun":"reg.test/prod/bad","status":"failed","error":{"code":"x","message":"it failed"}}]}`
	a, err := Read(bytes.NewReader(archive(t,
		entry{name: "all/reg.test_prod_app/root.json", body: "r"},
		entry{name: "all/reg.test_prod_app/manifest.json", body: single},
		// Not listed by the (unsigned) top manifest: verified all the same.
		entry{name: "all/extra/root.json", body: "x"},
		entry{name: "all/extra/manifest.json", body: strings.Replace(single, "prod/app", "prod/extra", 1)},
		entry{name: "all/manifest.json", body: top},
	)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !a.All || a.NotaryURL != "https://reg.test" || len(a.Repositories) != 2 ||
		a.Repositories[0].GUN != "reg.test/prod/app" || a.Repositories[1].GUN != "reg.test/prod/extra" ||
		string(a.Repositories[1].Files["root"]) != "x" || len(a.NotBackedUp) != 2 {
		t.Fatalf("%+v", a)
	}
	rep := &Report{Archive: a}
	if rep.Valid() {
		t.Errorf("an archive missing a folder its manifest lists is valid")
	}
}

func TestReadRefusesWhatIsNoBackup(t *testing.T) {
	m := entry{name: "top/manifest.json", body: single}
	tests := []struct {
		name    string
		archive []byte
		kind    errs.Kind
		says    string
	}{
		{"not gzip", []byte("hello"), errs.Invalid, "not a gzip"},
		{"empty", archive(t), errs.Invalid, "no file"},
		{"no manifest", archive(t, entry{name: "top/root.json", body: "r"}), errs.Invalid, "manifest.json is missing"},
		{"manifest not JSON", archive(t, entry{name: "top/manifest.json", body: "{"}), errs.Invalid, "not valid JSON"},
		{"manifest of something else", archive(t, entry{name: "top/manifest.json", body: "{}"}), errs.Invalid, "neither a GUN"},
		{"two top folders", archive(t, m, entry{name: "other/root.json"}), errs.Invalid, "not below the top folder"},
		{"climbing out", archive(t, m, entry{name: "top/../../etc/x.json"}), errs.Invalid, "not a file below one top folder"},
		{"absolute", archive(t, entry{name: "/top/manifest.json", body: single}), errs.Invalid, "not a file below one top folder"},
		{"a symlink", archive(t, m, entry{name: "top/root.json", kind: tar.TypeSymlink}), errs.Invalid, "not a regular file"},
		{"twice", archive(t, m, m), errs.Invalid, "twice"},
		{"too large", archive(t, m, entry{name: "top/root.json", body: strings.Repeat("x", 2000)}), errs.TooLarge, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.archive), 1500)
			e, ok := errs.As(err)
			if !ok || e.Kind != tt.kind || !strings.Contains(e.Message, tt.says) {
				t.Errorf("Read: %v, want kind %v saying %q", err, tt.kind, tt.says)
			}
		})
	}
}

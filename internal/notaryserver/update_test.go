package notaryserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// sign serialises meta (a *data.SignedRoot, *SignedTargets, *SignedSnapshot
// or *SignedTimestamp) signed by keys, whose private parts are in cs. No key
// leaves the old signatures in place.
func sign(t *testing.T, cs signed.CryptoService, meta interface{ ToSigned() (*data.Signed, error) }, keys ...data.PublicKey) []byte {
	t.Helper()
	s, err := meta.ToSigned()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		s.Signatures = nil
		if err := signed.Sign(cs, s, keys, len(keys), nil); err != nil {
			t.Fatal(err)
		}
	}
	b, err := canonicaljson.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode[T any](t *testing.T, b []byte) *T {
	t.Helper()
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
	return v
}

// keyOf is the public key of the only key of role in cs.
func keyOf(t *testing.T, cs signed.CryptoService, role string) data.PublicKey {
	t.Helper()
	ids := cs.ListKeys(data.RoleName(role))
	if len(ids) != 1 {
		t.Fatalf("%d keys for %s", len(ids), role)
	}
	return cs.GetKey(ids[0])
}

// rootKey is the key listed for root in the stored root (the certificate).
func rootKey(t *testing.T, root *data.SignedRoot) data.PublicKey {
	t.Helper()
	return root.Signed.Keys[root.Signed.Roles[data.CanonicalRootRole].KeyIDs[0]]
}

// Every update the server must refuse, and refuses without storing anything.
func TestUpdateRejections(t *testing.T) {
	e := newTestEnv(t)
	const gun = "example.com/rejections"
	admin, adminKeys := e.initRepo(gun)
	e.addDelegation(admin, "targets/releases", adminKeys)
	e.addDelegation(admin, "targets/jeff", newClientCrypto())
	e.addTarget(admin, "targets/releases", "v1", "one")
	e.addTarget(admin, "targets/releases", "v2", "two")

	// A valid upload to start each mutation from: the next version of
	// targets/releases, properly signed.
	releases := func() *data.SignedTargets {
		r := decode[data.SignedTargets](t, e.current(gun, "targets/releases"))
		r.Signed.Version++
		r.Signed.Expires = r.Signed.Expires.Add(1)
		return r
	}
	releasesKey := keyOf(t, adminKeys, "targets/releases")
	root := func() *data.SignedRoot { return decode[data.SignedRoot](t, e.current(gun, "root")) }

	// Sanity: the unmodified next version is accepted.
	valid := sign(t, adminKeys, releases(), releasesKey)

	strangerKey, err := adminKeys.Create("targets/releases", gun, data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	clientSnapshotKey, err := adminKeys.Create(data.CanonicalSnapshotRole, gun, data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	clientTimestampKey, err := adminKeys.Create(data.CanonicalTimestampRole, gun, data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}

	type want struct {
		status int
		code   string
		detail string // the Name of the serialised validation error, if any
	}
	tests := []struct {
		name  string
		parts func() []part
		raw   func() (body []byte, contentType string) // instead of parts
		want  want
	}{
		{
			name: "bad signature",
			parts: func() []part {
				r := releases()
				r.Signed.Targets["evil"] = data.FileMeta{Length: 1, Hashes: data.Hashes{"sha256": bytes.Repeat([]byte{1}, 32)}}
				signedOK := decode[data.Signed](t, sign(t, adminKeys, releases(), releasesKey))
				r.Signatures = signedOK.Signatures // signatures of other content
				return []part{{filename: "targets/releases", body: sign(t, adminKeys, r)}}
			},
			want: want{http.StatusBadRequest, "INVALID_UPDATE", "ErrBadTargets"},
		},
		{
			name: "delegation signed by a key its parent does not list",
			parts: func() []part {
				return []part{{filename: "targets/releases", body: sign(t, adminKeys, releases(), strangerKey)}}
			},
			want: want{http.StatusBadRequest, "INVALID_UPDATE", "ErrBadTargets"},
		},
		{
			name: "version rollback",
			parts: func() []part {
				r := releases()
				r.Signed.Version -= 2
				return []part{{filename: "targets/releases", body: sign(t, adminKeys, r, releasesKey)}}
			},
			want: want{http.StatusBadRequest, "VERSION", ""},
		},
		{
			name: "same version again",
			parts: func() []part {
				r := releases()
				r.Signed.Version--
				return []part{{filename: "targets/releases", body: sign(t, adminKeys, r, releasesKey)}}
			},
			want: want{http.StatusBadRequest, "VERSION", ""},
		},
		{
			name: "root skipping a version",
			parts: func() []part {
				r := root()
				r.Signed.Version += 2
				return []part{{filename: "root", body: sign(t, adminKeys, r, rootKey(t, r))}}
			},
			want: want{http.StatusBadRequest, "INVALID_UPDATE", "ErrBadRoot"},
		},
		{
			name: "root rollback",
			parts: func() []part {
				r := root()
				r.Signed.Version--
				return []part{{filename: "root", body: sign(t, adminKeys, r, rootKey(t, r))}}
			},
			want: want{http.StatusBadRequest, "INVALID_UPDATE", "ErrBadRoot"},
		},
		{
			name: "root signed by a stranger",
			parts: func() []part {
				r := root()
				r.Signed.Version++
				return []part{{filename: "root", body: sign(t, adminKeys, r, strangerKey)}}
			},
			want: want{http.StatusBadRequest, "INVALID_UPDATE", "ErrBadRoot"},
		},
		{
			name: "client snapshot where the server holds the snapshot key",
			parts: func() []part {
				s := decode[data.SignedSnapshot](t, e.current(gun, "snapshot"))
				s.Signed.Version++
				return []part{
					{filename: "targets/releases", body: valid},
					{filename: "snapshot", body: sign(t, adminKeys, s, clientSnapshotKey)},
				}
			},
			want: want{http.StatusBadRequest, "INVALID_UPDATE", "ErrBadSnapshot"},
		},
		{
			name: "client timestamp",
			parts: func() []part {
				ts := decode[data.SignedTimestamp](t, e.current(gun, "timestamp"))
				ts.Signed.Version++
				return []part{
					{filename: "targets/releases", body: valid},
					{filename: "timestamp", body: sign(t, adminKeys, ts, clientTimestampKey)},
				}
			},
			want: want{http.StatusBadRequest, "INVALID_UPDATE", "ErrValidation"},
		},
		{
			name:  "unknown role name",
			parts: func() []part { return []part{{filename: "foo", body: valid}} },
			want:  want{http.StatusBadRequest, "INVALID_ROLE", ""},
		},
		{
			name:  "delegation name without targets/ (what Part.FileName makes of it)",
			parts: func() []part { return []part{{filename: "releases", body: valid}} },
			want:  want{http.StatusBadRequest, "INVALID_ROLE", ""},
		},
		{
			name: "valid part after an unknown role",
			parts: func() []part {
				return []part{{filename: "targets/releases", body: valid}, {filename: "targets/nobody/../x y", body: valid}}
			},
			want: want{http.StatusBadRequest, "INVALID_ROLE", ""},
		},
		{
			name: "delegation that does not exist",
			parts: func() []part {
				r := releases()
				return []part{{filename: "targets/ghost", body: sign(t, adminKeys, r, releasesKey)}}
			},
			want: want{http.StatusBadRequest, "INVALID_UPDATE", "ErrBadTargets"},
		},
		{
			name:  "malformed JSON",
			parts: func() []part { return []part{{filename: "targets/releases", body: []byte(`{"signed": {`)}} },
			want:  want{http.StatusBadRequest, "MALFORMED_JSON", ""},
		},
		{
			name:  "trailing garbage after the JSON",
			parts: func() []part { return []part{{filename: "targets/releases", body: append(valid, "}garbage"...)}} },
			want:  want{http.StatusBadRequest, "MALFORMED_JSON", ""},
		},
		{
			name:  "empty part",
			parts: func() []part { return []part{{filename: "targets/releases"}} },
			want:  want{http.StatusBadRequest, "MALFORMED_JSON", ""},
		},
		{
			name:  "no filename",
			parts: func() []part { return []part{{disposition: `form-data; name="files"`, body: valid}} },
			want:  want{http.StatusBadRequest, "NO_FILENAME", ""},
		},
		{
			name: "same role twice",
			parts: func() []part {
				return []part{{filename: "targets/releases", body: valid}, {filename: "targets/releases", body: valid}}
			},
			want: want{http.StatusBadRequest, "MALFORMED_UPLOAD", ""},
		},
		{
			name: "multipart without parts",
			raw: func() ([]byte, string) {
				b, ct := multipartBody(t)
				return b.Bytes(), ct
			},
			want: want{http.StatusBadRequest, "MALFORMED_UPLOAD", ""},
		},
		{
			name: "empty body",
			raw: func() ([]byte, string) {
				return nil, "multipart/form-data; boundary=xyz"
			},
			want: want{http.StatusBadRequest, "MALFORMED_UPLOAD", ""},
		},
		{
			name: "truncated multipart",
			raw: func() ([]byte, string) {
				b, ct := multipartBody(t, part{filename: "targets/releases", body: valid})
				return b.Bytes()[:b.Len()/2], ct
			},
			want: want{http.StatusBadRequest, "MALFORMED_UPLOAD", ""},
		},
		{
			name: "not multipart",
			raw: func() ([]byte, string) {
				return valid, "application/json"
			},
			want: want{http.StatusBadRequest, "MALFORMED_UPLOAD", ""},
		},
	}

	before := e.state(gun)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.hooks.reset()
			var body []byte
			var ct string
			if tt.raw != nil {
				body, ct = tt.raw()
			} else {
				b, c := multipartBody(t, tt.parts()...)
				body, ct = b.Bytes(), c
			}
			resp := e.do(http.MethodPost, "/v2/"+gun+"/_trust/tuf/", bytes.NewReader(body), "Content-Type", ct)
			got := readError(t, resp)
			if resp.StatusCode != tt.want.status || got.Code != tt.want.code {
				t.Errorf("got %d %s (%s), want %d %s", resp.StatusCode, got.Code, got.Detail, tt.want.status, tt.want.code)
			}
			if tt.want.detail != "" {
				var detail struct{ Name string }
				_ = json.Unmarshal(got.Detail, &detail)
				if detail.Name != tt.want.detail {
					t.Errorf("detail %s, want %s", got.Detail, tt.want.detail)
				}
			}
			if after := e.state(gun); !reflect.DeepEqual(after, before) {
				t.Error("the store changed")
			}
			if u := e.hooks.of("updated"); len(u) != 0 {
				t.Errorf("Updated called: %+v", u)
			}
		})
	}

	// The valid upload the mutations started from goes through, with the
	// server's snapshot and timestamp.
	b, ct := multipartBody(t, part{filename: "targets/releases", body: valid})
	resp := e.do(http.MethodPost, "/v2/"+gun+"/_trust/tuf/", b, "Content-Type", ct)
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("valid upload: %d %s", resp.StatusCode, body)
	}
	u := e.hooks.of("updated")
	if len(u) != 1 || !reflect.DeepEqual(roles(u[0].Written), []string{"targets/releases", "snapshot", "timestamp"}) {
		t.Errorf("updated = %+v", u)
	}
	if got := e.current(gun, "targets/releases"); !bytes.Equal(got, valid) {
		t.Error("stored targets/releases differs from the upload")
	}
}

// Uploads that cannot be validated for want of stored data or server keys.
func TestUpdateWithoutFoundation(t *testing.T) {
	e := newTestEnv(t)

	t.Run("no root at all", func(t *testing.T) {
		// targets metadata of another repository, to a GUN that has none
		e.initRepo("example.com/source")
		b, ct := multipartBody(t, part{filename: "targets", body: e.current("example.com/source", "targets")})
		resp := e.do(http.MethodPost, "/v2/example.com/empty/_trust/tuf/", b, "Content-Type", ct)
		got := readError(t, resp)
		if resp.StatusCode != http.StatusBadRequest || got.Code != "INVALID_UPDATE" || !strings.Contains(string(got.Detail), "ErrValidation") {
			t.Errorf("got %d %s %s", resp.StatusCode, got.Code, got.Detail)
		}
		if e.current("example.com/empty", "targets") != nil {
			t.Error("stored")
		}
	})

	t.Run("no snapshot and no server snapshot key", func(t *testing.T) {
		// The client keeps the snapshot key (notary's default), so the
		// server cannot sign a snapshot for an upload without one.
		const gun = "example.com/client-snapshot"
		_, cs := e.initRepoManaged(gun)
		before := e.state(gun)

		tg := decode[data.SignedTargets](t, e.current(gun, "targets"))
		tg.Signed.Version++
		b, ct := multipartBody(t, part{filename: "targets", body: sign(t, cs, tg, keyOf(t, cs, "targets"))})
		resp := e.do(http.MethodPost, "/v2/"+gun+"/_trust/tuf/", b, "Content-Type", ct)
		got := readError(t, resp)
		var detail struct {
			Name  string
			Error struct{ Missing string }
		}
		_ = json.Unmarshal(got.Detail, &detail)
		if resp.StatusCode != http.StatusBadRequest || got.Code != "INVALID_UPDATE" ||
			detail.Name != "ErrBadHierarchy" || detail.Error.Missing != "snapshot" {
			t.Errorf("got %d %s %s", resp.StatusCode, got.Code, got.Detail)
		}
		if !reflect.DeepEqual(e.state(gun), before) {
			t.Error("the store changed")
		}
		if strings.Contains(string(got.Detail), "cache") {
			t.Errorf("without an uploaded root the refusal blames no client cache: %s", got.Detail)
		}

		// With the root uploaded too (a client publishing from its cache of
		// trust data deleted since), the message names the cause and the fix.
		b, ct = multipartBody(t, part{filename: "root", body: e.current(gun, "root")},
			part{filename: "targets", body: sign(t, cs, tg, keyOf(t, cs, "targets"))})
		resp = e.do(http.MethodPost, "/v2/"+gun+"/_trust/tuf/", b, "Content-Type", ct)
		got = readError(t, resp)
		var msg struct{ Error struct{ Msg string } }
		_ = json.Unmarshal(got.Detail, &msg)
		for _, says := range []string{"does not hold current snapshot key", "cache of trust data that was deleted on the server",
			"notary delete " + gun + ", without --remote", "~/.docker/trust/tuf/" + gun} {
			if !strings.Contains(msg.Error.Msg, says) {
				t.Errorf("the refusal should say %q: %s", says, got.Detail)
			}
		}
	})
}

func TestUpdateTooLarge(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.MaxUploadBytes = 1 << 10 })
	b, ct := multipartBody(t, part{filename: "targets", body: bytes.Repeat([]byte("x"), 4<<10)})
	resp := e.do(http.MethodPost, "/v2/example.com/big/_trust/tuf/", b, "Content-Type", ct)
	got := readError(t, resp)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || got.Code != "UPLOAD_TOO_LARGE" {
		t.Errorf("got %d %s", resp.StatusCode, got.Code)
	}
}

// An update is admitted under the GUN's lock, which Config.Locks shares: one
// who holds it (trustdeck removing the catalog entry) can refuse a push that
// arrived meanwhile, and nothing of that push is stored.
func TestUpdateAdmittedUnderSharedLock(t *testing.T) {
	locks := &GUNLocks{}
	e := newTestEnv(t, func(c *Config) { c.Locks = locks })
	const gun = "example.com/locked/app"
	r, _ := e.initRepo(gun)
	before, _ := e.store.GetChanges("0", 1000, "")

	unlock := locks.Lock(gun)
	done := make(chan error, 1)
	go func() {
		if err := r.AddTarget(&client.Target{Name: "v1", Hashes: data.Hashes{"sha256": make([]byte, 32)}, Length: 1}); err != nil {
			done <- err
			return
		}
		done <- r.Publish()
	}()
	select {
	case err := <-done:
		t.Fatalf("the push finished while the GUN was locked: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	e.hooks.setRefuse(&Refusal{Status: http.StatusNotFound, Code: "NAME_UNKNOWN", Message: "removed meanwhile"})
	unlock()
	if err := <-done; err == nil {
		t.Fatal("the push succeeded after the GUN was refused under the lock")
	}
	after, _ := e.store.GetChanges("0", 1000, "")
	if len(after) != len(before) {
		t.Errorf("%d changes stored after the refusal, want %d", len(after), len(before))
	}
}

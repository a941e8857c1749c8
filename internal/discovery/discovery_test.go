package discovery

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTufGUN(t *testing.T) {
	tests := []struct {
		path, gun string
		ok        bool
	}{
		{"/v2/reg:5000/prod/app/_trust/tuf/", "reg:5000/prod/app", true},
		{"/prefix/v2/reg/a/b/_trust/tuf", "reg/a/b", true},
		{"/v2/reg/a/b/_trust/tuf/timestamp.key", "", false},
		{"/v2/_trust/changefeed", "", false},
		{"/v2//_trust/tuf/", "", false},
	}
	for _, tt := range tests {
		if gun, ok := tufGUN(tt.path); gun != tt.gun || ok != tt.ok {
			t.Errorf("tufGUN(%q) = %q, %v; want %q, %v", tt.path, gun, ok, tt.gun, tt.ok)
		}
	}
}

func TestOwnWrites(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	o := NewOwnWrites()
	now := time.Now()
	o.now = func() time.Time { return now }
	rt := o.Wrap(http.DefaultTransport)
	send := func(method, path string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("x"))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send("POST", "/v2/reg/a/b/_trust/tuf/")
	send("GET", "/v2/reg/a/b/_trust/tuf/root.json")     // reads are not writes
	send("POST", "/v2/reg/a/b/_trust/tuf/snapshot.key") // key rotation records no change
	status = http.StatusBadRequest
	send("POST", "/v2/reg/a/b/_trust/tuf/") // refused: nothing changed
	status = http.StatusOK
	send("DELETE", "/v2/reg/a/b/_trust/tuf/")

	if o.consume("reg/a/b", "update", now.Add(-2*time.Minute)) {
		t.Error("a change older than the write matched it")
	}
	if !o.consume("reg/a/b", "update", now) {
		t.Error("own update not recognised")
	}
	if o.consume("reg/a/b", "update", now) {
		t.Error("one write matched two changes")
	}
	if o.consume("reg/other/x", "deletion", now) {
		t.Error("another GUN matched")
	}
	now = now.Add(ownWindow + time.Second)
	if o.consume("reg/a/b", "deletion", now) {
		t.Error("an expired write matched")
	}
}

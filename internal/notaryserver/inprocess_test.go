package notaryserver

import (
	"context"
	"io"
	"net/http"
	"testing"
)

func TestInProcessActor(t *testing.T) {
	// The handler answers who the request is made for, and whether it came
	// in-process.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsInProcess(r.Context()) {
			http.Error(w, "not in-process", http.StatusBadRequest)
			return
		}
		io.WriteString(w, InProcessActor(r.Context()))
	})
	tests := []struct {
		name string
		rt   http.RoundTripper
		ctx  context.Context
		want string
	}{
		{"no actor", InProcess(h), context.Background(), "trustdeck"},
		{"WithActor", InProcess(h), WithActor(context.Background(), "alice"), "alice"},
		{"ActingAs", ActingAs(InProcess(h), "bob"), context.Background(), "bob"},
		{"ActingAs wins over the request's actor", ActingAs(InProcess(h), "bob"), WithActor(context.Background(), "alice"), "bob"},
		{"ActingAs with no name", ActingAs(InProcess(h), ""), context.Background(), "trustdeck"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// notary's client sends its requests this way: a plain
			// http.Client over the round tripper.
			req, err := http.NewRequestWithContext(tt.ctx, http.MethodGet, "https://trustdeck.internal/v2/", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: tt.rt}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(b) != tt.want {
				t.Fatalf("got %d %q, want %q", resp.StatusCode, b, tt.want)
			}
			if got := InProcessActor(req.Context()); got != InProcessActor(tt.ctx) {
				t.Fatalf("the caller's request was changed: actor %q", got)
			}
		})
	}
}

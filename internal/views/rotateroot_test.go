package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The root warning offers the rotation to administrators, and names the
// notary command to everyone.
func TestRootResignWarningOffersRotation(t *testing.T) {
	render := func(canManage bool) string {
		t.Helper()
		r := RepoDetail{Namespace: "prod", Name: "app", GUN: "reg.test/prod/app", CanManage: canManage,
			Trust: TrustView{State: "ok", RootResign: time.Now().Add(90 * 24 * time.Hour)}}
		var buf bytes.Buffer
		if err := TrustSection(r).Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		_, warning, _ := strings.Cut(buf.String(), `id="root-resign"`)
		warning, _, _ = strings.Cut(warning, "</p>")
		return warning
	}
	admin, reader := render(true), render(false)
	if !strings.Contains(admin, `href="/repositories/prod/app/trust/rotate-root"`) || !strings.Contains(admin, "Rotate root key…") {
		t.Errorf("the warning should link an administrator to the rotation:\n%s", admin)
	}
	if strings.Contains(reader, "/trust/rotate-root") {
		t.Errorf("the warning links a reader to the rotation:\n%s", reader)
	}
	for _, w := range []string{admin, reader} {
		if !strings.Contains(w, "notary key rotate reg.test/prod/app root") {
			t.Errorf("the warning should name the notary command:\n%s", w)
		}
	}
}

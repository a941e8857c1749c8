package trust

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/testnotary"
)

// published is a repository published through notary's client (jeff and
// ian sign tag 1, the admin signs latest), loaded by a Reader: its files
// as served, and the live Repo.
func published(t *testing.T) (files map[string][]byte, live *Repo) {
	t.Helper()
	e := newEnv(t)
	gun := "reg.test/prod/app"
	a := e.admin(gun).init()
	a.delegate(RoleReleases, a.key("targets/jeff", "jeff", true), a.key("targets/ian", "ian", true)).
		delegate("targets/jeff", a.key("targets/jeff", "jeff", true)).publish()
	a.delegate("targets/ian", a.key("targets/ian", "ian", true)).
		sign("1", "content 1", RoleReleases, "targets/jeff").sign("latest", "content latest", "targets").publish()
	repo, err := NewReader(e.remote()).Load(context.Background(), gun)
	if err != nil {
		t.Fatal(err)
	}
	files = map[string][]byte{}
	for _, r := range repo.Roles {
		files[r.Role] = r.Raw
	}
	return files, repo
}

func problems(v *Verification) []string {
	var out []string
	for _, p := range v.Problems {
		out = append(out, p.Role+" "+p.Check)
	}
	return out
}

func TestVerifyMatchesTheLiveInspection(t *testing.T) {
	files, live := published(t)
	v := Verify(live.GUN, files, VerifyOptions{At: time.Now()})
	if !v.Valid() || v.Repo == nil {
		t.Fatalf("verification of what Load verified: %v", v.Problems)
	}
	want := []InspectResult{live.Inspect(live.GUN, "")}
	got := []InspectResult{v.Inspect()}
	if !bytes.Equal(FormatJSON(got), FormatJSON(want)) || !bytes.Equal(FormatPretty(got), FormatPretty(want)) {
		t.Errorf("inspection from files differs from the live one:\n%s\n%s\n--- live:\n%s\n%s",
			FormatJSON(got), FormatPretty(got), FormatJSON(want), FormatPretty(want))
	}
	if len(v.RootKeys) != 1 || v.RootKeys[0] != live.RootKeys[0] {
		t.Errorf("root keys %+v, want %+v", v.RootKeys, live.RootKeys)
	}
	if !strings.Contains(v.Anchor, "trust on first use (TOFU)") {
		t.Errorf("anchor %q without pins", v.Anchor)
	}
}

func TestVerifyPinsTheRoot(t *testing.T) {
	files, live := published(t)
	rootKey := live.RootKeys[0]
	if rootKey.ID == rootKey.TUFID {
		t.Fatalf("the root key should be a certificate with two IDs: %+v", rootKey)
	}
	cert, err := utils.LoadCertFromPEM(rootCertPEM(t, files))
	if err != nil {
		t.Fatal(err)
	}
	_, other := published(t) // another repository's root
	tests := []struct {
		name string
		opts VerifyOptions
		want []string
	}{
		{"root.json's ID", VerifyOptions{RootKeyIDs: []string{rootKey.TUFID}}, nil},
		{"canonical ID, upper case", VerifyOptions{RootKeyIDs: []string{strings.ToUpper(rootKey.ID)}}, nil},
		{"one of several IDs", VerifyOptions{RootKeyIDs: []string{"0123", rootKey.ID}}, nil},
		{"another root's ID", VerifyOptions{RootKeyIDs: []string{other.RootKeys[0].TUFID}}, []string{"root pin"}},
		{"a prefix", VerifyOptions{RootKeyIDs: []string{rootKey.TUFID[:12]}}, []string{"root pin"}},
		{"the root certificate", VerifyOptions{RootCerts: []*x509.Certificate{cert}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.At = time.Now()
			v := Verify(live.GUN, files, tt.opts)
			if got := problems(v); !slices.Equal(got, tt.want) {
				t.Errorf("problems %q, want %q: %+v", got, tt.want, v.Problems)
			}
			if (v.Repo == nil) != (tt.want != nil) || !strings.Contains(v.Anchor, "pinned") {
				t.Errorf("repo %v, anchor %q", v.Repo != nil, v.Anchor)
			}
		})
	}
}

// TestVerifyPinsTheRootToACA: --root-cert with the CA that issued the root
// certificate, as notary's trust pinning by CA.
func TestVerifyPinsTheRootToACA(t *testing.T) {
	ca, err := testnotary.NewIssuer("Example Root CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testnotary.NewIssuer("Other CA")
	if err != nil {
		t.Fatal(err)
	}
	gun := "reg.test/prod/ca"
	b, err := testnotary.Fixture{GUN: gun, RootIssuer: ca, Targets: map[string]map[string]string{"targets": {"1": "c1"}}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		certs []*x509.Certificate
		at    time.Time
		want  []string
	}{
		{"unpinned", nil, time.Now(), nil},
		{"the CA", []*x509.Certificate{ca.Cert}, time.Now(), nil},
		{"another CA and the CA", []*x509.Certificate{other.Cert, ca.Cert}, time.Now(), nil},
		{"another CA", []*x509.Certificate{other.Cert}, time.Now(), []string{"root pin"}},
		{"the CA, after it expired", []*x509.Certificate{ca.Cert}, ca.Cert.NotAfter.Add(time.Hour), []string{"root pin"}},
	} {
		v := Verify(gun, b.Files, VerifyOptions{At: tt.at, RootCerts: tt.certs})
		if got := problems(v); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q: %+v", tt.name, got, tt.want, v.Problems)
		}
	}
}

// rootCertPEM is the certificate of the (one) root key in root.json.
func rootCertPEM(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var s data.Signed
	if err := json.Unmarshal(files[RoleRoot], &s); err != nil {
		t.Fatal(err)
	}
	root, err := data.RootFromSigned(&s)
	if err != nil {
		t.Fatal(err)
	}
	ids := root.Signed.Roles[data.CanonicalRootRole].KeyIDs
	if len(ids) != 1 {
		t.Fatalf("root keys %v", ids)
	}
	return root.Signed.Keys[ids[0]].Public()
}

func TestVerifyAsOfATime(t *testing.T) {
	files, live := published(t)
	ts := live.Role(RoleTimestamp).Expires
	v := Verify(live.GUN, files, VerifyOptions{At: ts.Add(-time.Second)})
	if !v.Valid() {
		t.Errorf("a second before the timestamp expires: %v", v.Problems)
	}
	v = Verify(live.GUN, files, VerifyOptions{At: ts})
	if got := problems(v); !slices.Equal(got, []string{"timestamp expiry"}) || v.Repo != nil {
		t.Errorf("when the timestamp expires: %q (repo %v), want timestamp expiry and nothing docker could read", got, v.Repo != nil)
	}
	// Before the root certificate: it was not valid yet (notary allows a day).
	v = Verify(live.GUN, files, VerifyOptions{At: time.Now().Add(-72 * time.Hour)})
	if got := problems(v); !slices.Equal(got, []string{"root certificate"}) || !strings.Contains(v.Problems[0].Message, "valid from") {
		t.Errorf("before the root certificate: %+v", v.Problems)
	}
	// Years later, after the root certificate expired (notary's own root
	// validation would refuse it as of now), with --at inside its validity.
	// (Cannot move the clock: the check is the same function, validAt.)
	cert, _ := utils.LoadCertFromPEM(rootCertPEM(t, files))
	if !validAt(cert, cert.NotAfter) || validAt(cert, cert.NotAfter.Add(time.Second)) ||
		!validAt(cert, cert.NotBefore.Add(-23*time.Hour)) || validAt(cert, cert.NotBefore.Add(-25*time.Hour)) {
		t.Errorf("validAt of a certificate valid %s to %s is wrong", cert.NotBefore, cert.NotAfter)
	}
}

func TestVerifyDelegationsAsDockerDid(t *testing.T) {
	// jeff's role expired: docker ignored it (tag 1 only by releases).
	jeffExpires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	b, err := testnotary.Fixture{GUN: "reg.test/prod/old", Expires: map[string]time.Time{"targets/jeff": jeffExpires},
		Delegations: []string{RoleReleases, "targets/jeff"},
		Targets:     map[string]map[string]string{RoleReleases: {"1": "c1"}, "targets/jeff": {"1": "c1"}},
	}.Build()
	if err != nil {
		t.Fatal(err)
	}
	for at, signers := range map[time.Time]string{jeffExpires.Add(-time.Second): `["jeff"]`, jeffExpires: `["Repo Admin"]`} {
		v := Verify("reg.test/prod/old", b.Files, VerifyOptions{At: at})
		want := []string(nil)
		if at.Equal(jeffExpires) {
			want = []string{"targets/jeff expiry"}
		}
		if got := problems(v); !slices.Equal(got, want) || v.Repo == nil {
			t.Errorf("at %s: %q (repo %v), want %q", at, got, v.Repo != nil, want)
			continue
		}
		if got := tagSigners(t, v, "1"); got != signers {
			t.Errorf("at %s docker showed tag 1 signed by %s, want %s", at, got, signers)
		}
	}

	files, live := published(t)
	// Missing: docker failed on it, unless the backup says it left it out
	// because it did not verify then.
	without := maps(files, "targets/jeff")
	v := Verify(live.GUN, without, VerifyOptions{At: time.Now()})
	if got := problems(v); !slices.Equal(got, []string{"targets/jeff missing"}) || v.Repo != nil {
		t.Errorf("without jeff's file: %q, repo %v", got, v.Repo != nil)
	}
	v = Verify(live.GUN, without, VerifyOptions{At: time.Now(), Skipped: []string{"targets/jeff"}})
	if got := problems(v); !slices.Equal(got, []string{"targets/jeff missing"}) || v.Repo == nil ||
		!strings.Contains(v.Problems[0].Message, "left it out") {
		t.Errorf("without jeff's file, skipped by the backup: %+v, repo %v", v.Problems, v.Repo != nil)
	} else if got := tagSigners(t, v, "1"); got != `["Repo Admin"]` {
		t.Errorf("docker's view without jeff's role: tag 1 signed by %s", got)
	}

	// A file no role lists.
	extra := maps(files, "")
	extra["targets/mallory"] = files["targets/jeff"]
	v = Verify(live.GUN, extra, VerifyOptions{At: time.Now()})
	if got := problems(v); !slices.Equal(got, []string{"targets/mallory unlisted"}) || v.Repo == nil {
		t.Errorf("with an unlisted file: %q", got)
	}
}

// tagSigners is the Signers of tag in docker's JSON of v, as JSON.
func tagSigners(t *testing.T, v *Verification, tag string) string {
	t.Helper()
	var res []struct {
		SignedTags []struct {
			SignedTag string
			Signers   json.RawMessage
		}
	}
	out := FormatJSON([]InspectResult{v.Inspect()})
	if err := json.Unmarshal(out, &res); err != nil || len(res) != 1 {
		t.Fatalf("inspect %s: %v", out, err)
	}
	for _, r := range res[0].SignedTags {
		if r.SignedTag == tag {
			var b bytes.Buffer
			json.Compact(&b, r.Signers)
			return b.String()
		}
	}
	return "(no tag " + tag + ")"
}

// maps copies m without the key drop.
func maps(m map[string][]byte, drop string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range m {
		if k != drop {
			out[k] = v
		}
	}
	return out
}

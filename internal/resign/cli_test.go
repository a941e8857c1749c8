package resign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/trustdeck/trustdeck/internal/testclis"
)

// newVerifiers are the real cosign and notation CLIs, configured from the
// exports of k as a namespace's consumers would configure them.
func newVerifiers(t *testing.T, r *testRegistry, k *testKeys, ns string, repos []string) *testclis.Verifiers {
	t.Helper()
	pub, err := PublicKeysPEM(k.cosign.Public())
	if err != nil {
		t.Fatal(err)
	}
	scope := PolicyScope{Registry: r.Host, Namespace: ns, Repositories: repos,
		Identities: []string{k.leaf.Subject.String()}}
	policy, err := NotationTrustPolicy(scope)
	if err != nil {
		t.Fatal(err)
	}
	return testclis.NewVerifiers(t, testclis.Exports{CosignPub: pub, TrustStore: CertificatesPEM(k.ca),
		StoreName: scope.TrustStoreName(), TrustPolicy: policy, RegistryCA: r.CAFile})
}

// TestRealCLIsVerify signs an image and a multi-platform index with both
// formats through the registry client trustdeck uses, and has the real
// cosign and notation CLIs verify them with the exported key, trust store
// and trust policy — on a registry with the referrers API and on one
// without (the referrers tag schema, as Debian's registry 2.8 needs).
func TestRealCLIsVerify(t *testing.T) {
	for _, tc := range []struct {
		name         string
		referrersAPI bool
	}{{"tag-schema fallback", false}, {"referrers API", true}} {
		t.Run(tc.name, func(t *testing.T) { testRealCLIsVerify(t, newTestRegistry(t, tc.referrersAPI), tc.referrersAPI) })
	}
}

// TestRealCLIsVerifyDebianRegistry: the same against Debian's registry 2.8
// (docker-registry), which has no referrers API.
func TestRealCLIsVerifyDebianRegistry(t *testing.T) {
	testRealCLIsVerify(t, startDebianRegistry(t), false)
}

func testRealCLIsVerify(t *testing.T, r *testRegistry, referrersAPI bool) {
	ctx := context.Background()
	const ns = "prod"
	app := r.pushImage(t, ns+"/app", "v1")
	multi := r.pushIndex(t, ns+"/multi", "v2")
	unsigned := r.pushImage(t, ns+"/app", "v1-rebuilt") // the same tag's drifted digest, never signed
	k := newTestKeys(t, ns)
	cosign, notation := k.formats(t, r.reg)
	prov := Provenance{Tag: "v1", Signers: []string{"alice", "targets"}, TrustVersion: 3}

	for _, img := range []Image{app, multi} {
		for _, f := range []Format{cosign, notation} {
			out, err := f.Sign(ctx, img, prov)
			if err != nil {
				t.Fatalf("%s sign %s: %v", f.Name(), img.Reference(), err)
			}
			if !out.Added || !out.Signature.Verified {
				t.Fatalf("%s sign %s: %+v, want a new verified signature", f.Name(), img.Reference(), out)
			}
		}
	}

	v := newVerifiers(t, r, k, ns, []string{"app", "multi"})
	v.WantBoth(t, app.Reference(), true)
	v.WantBoth(t, multi.Reference(), true)
	v.WantBoth(t, unsigned.Reference(), false)

	// Both are told exactly which DCT tag they carry over.
	if out, err := v.CosignVerify(t, app.Reference(), "-a", AnnotationTag+"=v1"); err != nil {
		t.Errorf("cosign verify -a %s=v1: %v\n%s", AnnotationTag, err, out)
	}
	if out, err := v.NotationVerify(t, app.Reference(), "--user-metadata", AnnotationTag+"=v1"); err != nil {
		t.Errorf("notation verify --user-metadata %s=v1: %v\n%s", AnnotationTag, err, out)
	}
	if out, err := v.NotationVerify(t, app.Reference(), "--user-metadata", AnnotationTag+"=v2"); err == nil {
		t.Errorf("notation verify --user-metadata %s=v2 succeeded for a v1 signature\n%s", AnnotationTag, out)
	}

	// Re-signing adds nothing: one signature per format, read back from the registry.
	for _, img := range []Image{app, multi} {
		for _, f := range []Format{cosign, notation} {
			out, err := f.Sign(ctx, img, prov)
			if err != nil || out.Added {
				t.Fatalf("%s re-sign %s: added=%v err=%v, want nothing added", f.Name(), img.Reference(), out.Added, err)
			}
			sigs, err := f.Find(ctx, img)
			if err != nil {
				t.Fatal(err)
			}
			if len(sigs) != 1 || !sigs[0].Verified || sigs[0].Provenance == nil || sigs[0].Provenance.Tag != "v1" ||
				sigs[0].Provenance.TrustVersion != 3 || strings.Join(sigs[0].Provenance.Signers, ",") != "alice,targets" {
				t.Fatalf("%s signatures of %s after re-signing: %+v, want one verified with the DCT provenance", f.Name(), img.Reference(), sigs)
			}
		}
	}
	if sigs, _ := cosign.Find(ctx, unsigned); len(sigs) != 0 {
		t.Errorf("cosign signatures of the unsigned digest: %+v", sigs)
	}
	if sigs, _ := notation.Find(ctx, unsigned); len(sigs) != 0 {
		t.Errorf("notation signatures of the unsigned digest: %+v", sigs)
	}

	// Where the signatures live: cosign's tag, and for Notation the
	// referrers API or else the tag-schema index.
	_, sigManifest := r.rawManifest(t, app.Name()+":"+app.tagForm()+".sig")
	if len(sigManifest.Layers) != 1 || sigManifest.Layers[0].Annotations[cosignSignatureAnnotation] == "" {
		t.Errorf("cosign .sig manifest: %+v", sigManifest)
	}
	idxRef, _ := name.ParseReference(app.Name() + ":" + app.tagForm())
	_, err := remote.Get(idxRef, r.opts()...)
	if referrersAPI && err == nil {
		t.Errorf("a referrers tag-schema index was written although the registry has the referrers API")
	}
	if !referrersAPI {
		if err != nil {
			t.Fatalf("no referrers tag-schema index for %s: %v", app.Reference(), err)
		}
		if raw, _ := r.rawManifest(t, idxRef.String()); !bytes.Contains(raw, []byte(NotationArtifactType)) {
			t.Errorf("the tag-schema index lists no Notation signature: %s", raw)
		}
	}

	t.Run("others' signatures are kept and named", func(t *testing.T) { testOthers(t, r, v, k, app) })
	t.Run("altered signatures fail", func(t *testing.T) { testAltered(t, r, v, k, ns) })
}

// testOthers: a CI pipeline signs the same digest with its own key and
// certificate; trustdeck's signatures stay, and Find names the stranger.
func testOthers(t *testing.T, r *testRegistry, v *testclis.Verifiers, k *testKeys, img Image) {
	ctx := context.Background()
	ci := newTestKeys(t, "ci")
	ciCosign, ciNotation := ci.formats(t, r.reg)
	for _, f := range []Format{ciCosign, ciNotation} {
		if out, err := f.Sign(ctx, img, Provenance{}); err != nil || !out.Added {
			t.Fatalf("ci %s sign: %+v %v", f.Name(), out, err)
		}
	}
	v.WantBoth(t, img.Reference(), true) // ours still there and verifying

	cosign, notation := k.formats(t, r.reg)
	for _, f := range []Format{cosign, notation} {
		sigs, err := f.Find(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if len(sigs) != 2 {
			t.Fatalf("%s: %d signatures, want ours and CI's: %+v", f.Name(), len(sigs), sigs)
		}
		var ours, theirs int
		for _, s := range sigs {
			switch {
			case s.Verified:
				ours++
			case s.Problem != "":
				theirs++
				if f.Name() == FormatNotation && (!strings.Contains(s.Identity, "CN=ci Notation signer") || s.KeyID != KeyID(ci.leaf.Raw)) {
					t.Errorf("CI's Notation signature named %q (%s), want its certificate", s.Identity, s.KeyID)
				}
			}
		}
		if ours != 1 || theirs != 1 {
			t.Errorf("%s: %+v, want one verified (ours) and one not (CI's)", f.Name(), sigs)
		}
	}
	// Trusting CI's key too verifies both.
	both, err := NewCosign(r.reg, nil, k.cosign.Public(), ci.cosign.Public())
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := both.Find(ctx, img)
	if err != nil || len(sigs) != 2 || !sigs[0].Verified || !sigs[1].Verified || sigs[0].KeyID == sigs[1].KeyID {
		t.Errorf("with both keys trusted: %+v %v", sigs, err)
	}
}

// testAltered: a signature changed in the registry fails both CLIs and Find.
func testAltered(t *testing.T, r *testRegistry, v *testclis.Verifiers, k *testKeys, ns string) {
	ctx := context.Background()
	img := r.pushImage(t, ns+"/app", "v3")
	cosign, notation := k.formats(t, r.reg)
	prov := Provenance{Tag: "v3"}
	for _, f := range []Format{cosign, notation} {
		if _, err := f.Sign(ctx, img, prov); err != nil {
			t.Fatal(err)
		}
	}
	v.WantBoth(t, img.Reference(), true)

	// cosign: the payload now names tag "latest"; the signature is the old one.
	sigTag, _ := name.NewTag(img.Name() + ":" + img.tagForm() + ".sig")
	_, m := r.rawManifest(t, sigTag.String())
	payload, err := r.reg.blob(ctx, mustRepo(t, img), m.Layers[0].Digest, maxCosignPayload)
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Replace(payload, []byte(`"v3"`), []byte(`"latest"`), 1)
	if bytes.Equal(forged, payload) {
		t.Fatalf("payload has no tag to alter: %s", payload)
	}
	altered, err := mutate.Append(emptySigImage(), mutate.Addendum{
		Layer:       static.NewLayer(forged, cosignPayloadMediaType),
		Annotations: m.Layers[0].Annotations,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(sigTag, altered, r.opts()...); err != nil {
		t.Fatal(err)
	}

	// Notation: the envelope's payload now claims tag "latest"; the
	// original signature manifest is removed from the listing.
	sigs, err := notation.Find(ctx, img)
	if err != nil || len(sigs) != 1 {
		t.Fatalf("notation signatures before altering: %+v %v", sigs, err)
	}
	orig := sigs[0].Ref
	_, om := r.rawManifest(t, img.Name()+"@"+orig)
	env, err := r.reg.blob(ctx, mustRepo(t, img), om.Layers[0].Digest, maxSignatureBlob)
	if err != nil {
		t.Fatal(err)
	}
	var jws JWSEnvelope
	if err := json.Unmarshal(env, &jws); err != nil {
		t.Fatal(err)
	}
	p, _ := base64.RawURLEncoding.DecodeString(jws.Payload)
	jws.Payload = base64.RawURLEncoding.EncodeToString(bytes.Replace(p, []byte(`"v3"`), []byte(`"latest"`), 1))
	forgedEnv, _ := json.Marshal(jws)
	forgedManifest, err := notationManifest(img, forgedEnv, k.notation, sigs[0].SignedAt)
	if err != nil {
		t.Fatal(err)
	}
	repo := mustRepo(t, img)
	if err := r.reg.upload(ctx, repo, forgedEnv, NotationJWSMediaType); err != nil {
		t.Fatal(err)
	}
	fd, _, _ := v1.SHA256(bytes.NewReader(forgedManifest))
	if err := r.reg.put(ctx, repo.Digest(fd.String()), forgedManifest, types.OCIManifestSchema1); err != nil {
		t.Fatal(err)
	}
	origRef, _ := name.NewDigest(img.Name() + "@" + orig)
	if err := remote.Delete(origRef, r.opts()...); err != nil {
		t.Fatal(err)
	}
	idxRef, _ := name.NewTag(img.Name() + ":" + img.tagForm())
	if d, err := remote.Get(idxRef, r.opts()...); err == nil { // tag schema: list only the forgery
		idx, _ := v1.ParseIndexManifest(bytes.NewReader(d.Manifest))
		var keep []v1.Descriptor
		for _, m := range idx.Manifests {
			if m.Digest.String() != orig {
				keep = append(keep, m)
			}
		}
		idx.Manifests = keep
		b, _ := json.Marshal(idx)
		if err := r.reg.put(ctx, idxRef, b, types.OCIImageIndex); err != nil {
			t.Fatal(err)
		}
	}

	v.WantBoth(t, img.Reference(), false)
	for _, f := range []Format{cosign, notation} {
		sigs, err := f.Find(ctx, img)
		if err != nil || len(sigs) != 1 || sigs[0].Verified || sigs[0].Problem == "" {
			t.Errorf("%s after altering: %+v %v, want one signature that does not verify", f.Name(), sigs, err)
		}
		// and signing again repairs it: the forgery does not count as "already signed"
		if out, err := f.Sign(ctx, img, prov); err != nil || !out.Added {
			t.Errorf("%s re-sign after altering: %+v %v, want a new signature", f.Name(), out, err)
		}
	}
	v.WantBoth(t, img.Reference(), true)
}

func mustRepo(t *testing.T, img Image) name.Repository {
	t.Helper()
	repo, err := img.repository()
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// emptySigImage is the empty OCI image cosign starts a .sig manifest from.
func emptySigImage() v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

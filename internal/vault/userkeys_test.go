package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/keys"
)

// signerCert makes a signer's self-signed certificate and its key, valid
// from notBefore to notAfter.
func signerCert(t *testing.T, cn string, notBefore, notAfter time.Time) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), k
}

func TestUserKeys(t *testing.T) {
	ctx := context.Background()
	env := newSCEnv(t)
	uk := NewUserKeys(env.st)
	alice, err := env.st.CreateUser(ctx, "alice", "x", false)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := env.st.CreateUser(ctx, "bob", "x", false)
	if err != nil {
		t.Fatal(err)
	}

	notAfter := time.Now().AddDate(1, 0, 0).Truncate(time.Second).UTC()
	cert, certKey := signerCert(t, "alice", time.Now().Add(-time.Hour), notAfter)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&other.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	k1, err := uk.Register(ctx, alice.ID, "alice", cert)
	if err != nil {
		t.Fatal(err)
	}
	// The canonical ID is the one docker shows for the certificate's key.
	tufCert, err := utils.ParsePEMPublicKey(cert)
	if err != nil {
		t.Fatal(err)
	}
	wantID, _ := utils.CanonicalKeyID(tufCert)
	bare, err := utils.ECDSAToPrivateKey(certKey)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID != wantID || k1.ID != data.PublicKeyFromPrivate(bare).ID() || k1.Type != keys.TypeCertificate ||
		k1.Algorithm != "ECDSA P-256" || k1.Subject != "alice" || !k1.NotAfter.Equal(notAfter) ||
		k1.PEM != string(cert) || k1.CreatedAt.IsZero() {
		t.Fatalf("Register(cert) = %+v, want ID %s", k1, wantID)
	}
	pub, err := k1.Public(time.Now())
	if err != nil || pub.Key.ID() != tufCert.ID() || pub.Key.Algorithm() != data.ECDSAx509Key {
		t.Fatalf("Public() = %+v, %v", pub, err)
	}

	k2, err := uk.Register(ctx, alice.ID, "alice", pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Type != keys.TypePublicKey || !k2.NotAfter.IsZero() || k2.Subject != "" {
		t.Fatalf("Register(public key) = %+v", k2)
	}

	_, err = uk.Register(ctx, alice.ID, "alice", cert)
	wantErr(t, err, errs.Conflict, "key_registered", "alice", k1.ID)
	// Another user may register the same public key.
	if _, err := uk.Register(ctx, bob.ID, "bob", cert); err != nil {
		t.Fatal(err)
	}
	_, err = uk.Register(ctx, 9999, "ghost", pubPEM)
	wantErr(t, err, errs.NotFound, "user_not_found", "ghost")

	// Registration validates like ParsePublic.
	priv, err := x509.MarshalPKCS8PrivateKey(other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = uk.Register(ctx, alice.ID, "alice", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}))
	wantErr(t, err, errs.Invalid, "private_key", "never the private key")
	expired, _ := signerCert(t, "old", time.Now().AddDate(-1, 0, 0), time.Now().Add(-time.Hour))
	_, err = uk.Register(ctx, alice.ID, "alice", expired)
	wantErr(t, err, errs.Invalid, "certificate_expired", "old")

	list, err := uk.List(ctx, alice.ID)
	if err != nil || len(list) != 2 || list[0].ID != k1.ID || list[1].ID != k2.ID {
		t.Fatalf("List(alice) = %+v, %v", list, err)
	}
	if list, err := uk.List(ctx, bob.ID); err != nil || len(list) != 1 {
		t.Fatalf("List(bob) = %+v, %v", list, err)
	}

	if k1.Username != "alice" || list[1].Username != "alice" {
		t.Fatalf("usernames %q, %q", k1.Username, list[1].Username)
	}
	all, err := uk.All(ctx)
	if err != nil || len(all) != 3 || all[0].Username != "alice" || all[2].Username != "bob" || all[2].ID != k1.ID {
		t.Fatalf("All = %+v, %v", all, err)
	}
	if f, err := uk.Find(ctx, "bob", k1.ID); err != nil || f.PEM != k1.PEM || f.Username != "bob" {
		t.Fatalf("Find(bob) = %+v, %v", f, err)
	}
	_, err = uk.Find(ctx, "bob", k2.ID)
	wantErr(t, err, errs.NotFound, "key_not_found", "bob", k2.ID)

	got, err := uk.Get(ctx, alice.ID, k2.ID)
	if err != nil || got.PEM != k2.PEM {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	_, err = uk.Get(ctx, bob.ID, k2.ID)
	wantErr(t, err, errs.NotFound, "key_not_found", k2.ID)

	unknown := "0000000000000000000000000000000000000000000000000000000000000000"
	by, err := uk.RegisteredBy(ctx, []string{k1.ID, k2.ID, unknown})
	if err != nil {
		t.Fatal(err)
	}
	if len(by) != 2 || by[k1.ID] != "alice, bob" || by[k2.ID] != "alice" {
		t.Fatalf("RegisteredBy = %v", by)
	}

	if err := uk.Delete(ctx, alice.ID, k1.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, uk.Delete(ctx, alice.ID, k1.ID), errs.NotFound, "key_not_found")
	by, err = uk.RegisteredBy(ctx, []string{k1.ID})
	if err != nil || by[k1.ID] != "bob" {
		t.Fatalf("RegisteredBy after delete = %v, %v", by, err)
	}
}

package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// A data directory whose CA an older trustdeck made (no name constraints,
// ten years) keeps it, since clients trust it: the server starts, serves a
// certificate from it, and warns that it can sign for any name.
func TestLegacyCAKept(t *testing.T) {
	s := testserver.Start(t)
	const warning = "has no name constraints"
	if strings.Contains(s.Logs.String(), warning) {
		t.Fatalf("a new CA reported as unconstrained:\n%s", s.Logs.String())
	}
	s.Stop()

	// the CA an older trustdeck made
	dir := filepath.Join(s.DataDir, "tls")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePEM("ca.crt", "CERTIFICATE", der)
	writePEM("ca.key", "PRIVATE KEY", keyDER)

	seen := len(s.Logs.String())
	s.Restart()
	if logs := s.Logs.String()[seen:]; !strings.Contains(logs, warning) {
		t.Errorf("no warning about the unconstrained CA:\n%s", logs)
	}
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if blk, _ := pem.Decode(ca); blk == nil || string(blk.Bytes) != string(der) {
		t.Fatal("the CA was replaced")
	}
	resp, err := s.Client().Get(s.URL + "/healthz") // trusting only that CA
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
}

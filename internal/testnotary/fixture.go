package testnotary

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// Fixture describes the trust data of one GUN signed offline with notary's
// tuf package, every key (the snapshot's and timestamp's too) held by the
// test, and each role's expiry chosen freely: trust data that expired while
// nobody looked. No Notary server accepts expired metadata in an upload, so
// tests write Build's result into the server's MetaStore (UpdateMany).
type Fixture struct {
	GUN string
	// Expires sets the expiry of a role (root, targets, snapshot, timestamp
	// or a delegation); roles not listed expire in a year.
	Expires map[string]time.Time
	// RootCertNotAfter ends the validity of the root key's certificate
	// (default: ten years from now, as notary's client makes it).
	RootCertNotAfter time.Time
	// RootIssuer, if set, issues the root key's certificate, which is
	// otherwise self-signed: a CA that verifiers may pin.
	RootIssuer *Issuer
	// Delegations are created in this order (parents first), each with a
	// key of its own and every path.
	Delegations []string
	// Targets maps a targets role to the tags it signs and their content.
	Targets map[string]map[string]string
	// Tamper names a targets role whose content is changed after it was
	// signed: its signature no longer matches, while the snapshot lists the
	// tampered bytes (so only the signature check can catch it).
	Tamper string
}

// Issuer is a certificate authority.
type Issuer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewIssuer makes a self-signed CA named cn, valid from an hour ago for
// ten years.
func NewIssuer(cn string) (*Issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	start := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: start, NotAfter: start.Add(10 * notary.Year), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Issuer{Cert: cert, Key: key}, nil
}

// issue makes the certificate of a root key for gun: self-signed as
// notary's client makes it if i is nil, else issued by i.
func (i *Issuer) issue(key data.PrivateKey, gun data.GUN, start, notAfter time.Time) (*x509.Certificate, error) {
	if i == nil {
		return cryptoservice.GenerateCertificate(key, gun, start, notAfter)
	}
	tmpl, err := utils.NewCertificate(gun.String(), start, notAfter)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, i.Cert, key.CryptoSigner().Public(), i.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// Built is a signed fixture.
type Built struct {
	// Files is every role's signed JSON by role name.
	Files map[string][]byte
	// Versions is every role's version.
	Versions map[string]int
	// TargetsKey is the private key of targets (the repository key).
	TargetsKey data.PrivateKey
}

// Updates returns the files as one MetaStore.UpdateMany batch.
func (b Built) Updates() []storage.MetaUpdate {
	out := make([]storage.MetaUpdate, 0, len(b.Files))
	for role, raw := range b.Files {
		out = append(out, storage.MetaUpdate{Role: data.RoleName(role), Version: b.Versions[role], Data: raw})
	}
	return out
}

// Build signs every role.
func (f Fixture) Build() (Built, error) {
	gun := data.GUN(f.GUN)
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("fixture")))
	expires := func(role string) time.Time {
		if t, ok := f.Expires[role]; ok {
			return t
		}
		return time.Now().Add(365 * 24 * time.Hour)
	}

	// The root key is a certificate whose common name is the GUN, as
	// notary's client makes it (trust on first use accepts nothing else).
	rootPriv, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		return Built{}, err
	}
	if err := cs.AddKey(data.CanonicalRootRole, gun, rootPriv); err != nil {
		return Built{}, err
	}
	start := time.Now().Add(-time.Hour)
	notAfter := f.RootCertNotAfter
	if notAfter.IsZero() {
		notAfter = start.Add(10 * notary.Year)
	} else if !notAfter.After(start) {
		start = notAfter.Add(-24 * time.Hour)
	}
	cert, err := f.RootIssuer.issue(rootPriv, gun, start, notAfter)
	if err != nil {
		return Built{}, err
	}
	rootPub := data.NewECDSAx509PublicKey(utils.CertToPEM(cert))

	base := map[data.RoleName]data.PublicKey{data.CanonicalRootRole: rootPub}
	for _, role := range []data.RoleName{data.CanonicalTargetsRole, data.CanonicalSnapshotRole, data.CanonicalTimestampRole} {
		if base[role], err = cs.Create(role, gun, data.ECDSAKey); err != nil {
			return Built{}, err
		}
	}
	repo := tuf.NewRepo(cs)
	if err := repo.InitRoot(
		data.NewBaseRole(data.CanonicalRootRole, 1, base[data.CanonicalRootRole]),
		data.NewBaseRole(data.CanonicalTimestampRole, 1, base[data.CanonicalTimestampRole]),
		data.NewBaseRole(data.CanonicalSnapshotRole, 1, base[data.CanonicalSnapshotRole]),
		data.NewBaseRole(data.CanonicalTargetsRole, 1, base[data.CanonicalTargetsRole]),
		false); err != nil {
		return Built{}, err
	}
	if _, err := repo.InitTargets(data.CanonicalTargetsRole); err != nil {
		return Built{}, err
	}
	for _, d := range f.Delegations {
		role := data.RoleName(d)
		pub, err := cs.Create(role, gun, data.ECDSAKey)
		if err != nil {
			return Built{}, err
		}
		if err := repo.UpdateDelegationKeys(role, data.KeyList{pub}, nil, 1); err != nil {
			return Built{}, fmt.Errorf("delegate %s: %w", d, err)
		}
		if err := repo.UpdateDelegationPaths(role, []string{""}, nil, false); err != nil {
			return Built{}, fmt.Errorf("paths of %s: %w", d, err)
		}
		if _, err := repo.InitTargets(role); err != nil {
			return Built{}, err
		}
	}
	for role, tags := range f.Targets {
		files := data.Files{}
		for tag, content := range tags {
			meta, err := data.NewFileMeta(strings.NewReader(content), notary.SHA256)
			if err != nil {
				return Built{}, err
			}
			files[tag] = meta
		}
		if _, err := repo.AddTargets(data.RoleName(role), files); err != nil {
			return Built{}, fmt.Errorf("sign into %s: %w", role, err)
		}
	}

	if err := repo.InitSnapshot(); err != nil {
		return Built{}, err
	}
	if err := repo.InitTimestamp(); err != nil {
		return Built{}, err
	}
	if _, err := repo.SignRoot(expires(data.CanonicalRootRole.String()), nil); err != nil {
		return Built{}, err
	}
	// Children before parents does not matter: a parent's signature covers
	// the delegation's keys, not its metadata.
	targetsRoles := append([]string{data.CanonicalTargetsRole.String()}, f.Delegations...)
	for _, role := range targetsRoles {
		if _, err := repo.SignTargets(data.RoleName(role), expires(role)); err != nil {
			return Built{}, fmt.Errorf("sign %s: %w", role, err)
		}
	}
	if f.Tamper != "" {
		t, ok := repo.Targets[data.RoleName(f.Tamper)]
		if !ok {
			return Built{}, fmt.Errorf("tamper: no targets role %s", f.Tamper)
		}
		meta, err := data.NewFileMeta(strings.NewReader("tampered "+f.Tamper), notary.SHA256)
		if err != nil {
			return Built{}, err
		}
		t.Signed.Targets["tampered"] = meta
	}
	if _, err := repo.SignSnapshot(expires(data.CanonicalSnapshotRole.String())); err != nil {
		return Built{}, err
	}
	if _, err := repo.SignTimestamp(expires(data.CanonicalTimestampRole.String())); err != nil {
		return Built{}, err
	}

	b := Built{Files: map[string][]byte{}, Versions: map[string]int{}}
	if b.TargetsKey, _, err = cs.GetPrivateKey(base[data.CanonicalTargetsRole].ID()); err != nil {
		return Built{}, err
	}
	add := func(role string, version int, s *data.Signed, err error) error {
		if err != nil {
			return err
		}
		raw, err := json.Marshal(s)
		if err != nil {
			return err
		}
		b.Files[role], b.Versions[role] = raw, version
		return nil
	}
	rs, err := repo.Root.ToSigned()
	if err := add(data.CanonicalRootRole.String(), repo.Root.Signed.Version, rs, err); err != nil {
		return Built{}, err
	}
	for _, role := range targetsRoles {
		t := repo.Targets[data.RoleName(role)]
		ts, err := t.ToSigned()
		if err := add(role, t.Signed.Version, ts, err); err != nil {
			return Built{}, err
		}
	}
	ss, err := repo.Snapshot.ToSigned()
	if err := add(data.CanonicalSnapshotRole.String(), repo.Snapshot.Signed.Version, ss, err); err != nil {
		return Built{}, err
	}
	tss, err := repo.Timestamp.ToSigned()
	if err := add(data.CanonicalTimestampRole.String(), repo.Timestamp.Signed.Version, tss, err); err != nil {
		return Built{}, err
	}
	return b, nil
}

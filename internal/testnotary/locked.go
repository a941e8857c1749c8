// Package testnotary holds test support shared by the packages that run
// notary's server or client in their tests.
package testnotary

import (
	"sync"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// LockedCrypto serialises a CryptoService that is not safe for concurrent
// use (notary's signed.Ed25519, its key stores), for test servers.
type LockedCrypto struct {
	mu sync.Mutex
	cs signed.CryptoService
}

// Locked wraps cs.
func Locked(cs signed.CryptoService) *LockedCrypto { return &LockedCrypto{cs: cs} }

func (l *LockedCrypto) Create(role data.RoleName, gun data.GUN, alg string) (data.PublicKey, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cs.Create(role, gun, alg)
}

func (l *LockedCrypto) AddKey(role data.RoleName, gun data.GUN, key data.PrivateKey) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cs.AddKey(role, gun, key)
}

func (l *LockedCrypto) GetKey(id string) data.PublicKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cs.GetKey(id)
}

func (l *LockedCrypto) GetPrivateKey(id string) (data.PrivateKey, data.RoleName, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cs.GetPrivateKey(id)
}

func (l *LockedCrypto) RemoveKey(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cs.RemoveKey(id)
}

func (l *LockedCrypto) ListKeys(role data.RoleName) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cs.ListKeys(role)
}

func (l *LockedCrypto) ListAllKeys() map[string]data.RoleName {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cs.ListAllKeys()
}

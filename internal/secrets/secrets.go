// Package secrets creates, on first start, and loads afterwards the random
// secrets trustdeck keeps in its data directory: the session cookie keys, the
// key that binds CSRF tokens to sessions, the key that signs registry tokens
// and the key that encrypts server-held private keys at rest. Every file is written with mode 0600.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Secrets are the data directory's long-lived secrets.
type Secrets struct {
	SessionHashKey  []byte            // HMAC key of the session cookie
	SessionBlockKey []byte            // AES key of the session cookie
	CSRFKey         []byte            // HMAC key binding CSRF tokens to sessions
	TokenKey        *ecdsa.PrivateKey // signs registry (JWT) tokens
	box             cipher.AEAD       // encrypts private keys at rest
}

// Load reads the secrets from dir/secrets, creating any that are missing.
func Load(dataDir string) (*Secrets, error) {
	dir := filepath.Join(dataDir, "secrets")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create secrets dir: %w", err)
	}
	s := &Secrets{}
	var err error
	if s.SessionHashKey, err = randomFile(filepath.Join(dir, "session-hash.key"), 64); err != nil {
		return nil, err
	}
	if s.SessionBlockKey, err = randomFile(filepath.Join(dir, "session-block.key"), 32); err != nil {
		return nil, err
	}
	if s.CSRFKey, err = randomFile(filepath.Join(dir, "csrf.key"), 32); err != nil {
		return nil, err
	}
	enc, err := randomFile(filepath.Join(dir, "encryption.key"), 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	if s.box, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	if s.TokenKey, err = tokenKey(filepath.Join(dir, "token-signing.pem")); err != nil {
		return nil, err
	}
	return s, nil
}

// Seal encrypts plaintext with the data directory's encryption key (AES-256-GCM,
// random nonce prepended). additional binds the ciphertext to its context
// (for example a key ID) so it cannot be moved to another row.
func (s *Secrets) Seal(plaintext, additional []byte) []byte {
	nonce := make([]byte, s.box.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return s.box.Seal(nonce, nonce, plaintext, additional)
}

// Open decrypts what Seal produced with the same additional data.
func (s *Secrets) Open(ciphertext, additional []byte) ([]byte, error) {
	n := s.box.NonceSize()
	if len(ciphertext) < n {
		return nil, errors.New("secrets: ciphertext too short")
	}
	out, err := s.box.Open(nil, ciphertext[:n], ciphertext[n:], additional)
	if err != nil {
		return nil, errors.New("secrets: cannot decrypt (wrong data directory key or tampered data)")
	}
	return out, nil
}

func randomFile(path string, n int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != n {
			return nil, fmt.Errorf("secret %s has %d bytes, want %d", path, len(b), n)
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	b = make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, writeNew(path, b)
}

func tokenKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("secret %s is not PEM", path)
		}
		return x509.ParseECPrivateKey(blk.Bytes)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return k, writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

// writeNew writes a secret file with mode 0600, never overwriting one.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write secret: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

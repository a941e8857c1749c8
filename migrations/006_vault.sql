-- The key vault (internal/vault.Vault): private keys trustdeck holds for
-- GUNs on behalf of its users (root, repository and delegation keys), and
-- the public signing keys users register (internal/vault.UserKeys).

-- sealed_pem is the key file exactly as a docker trust directory holds it
-- (~/.docker/trust/private/<key_id>.key: PKCS#8 encrypted with the key's own
-- passphrase, "role" and "gun" PEM headers), sealed once more with the data
-- directory's encryption key (AES-256-GCM, the key ID as additional data).
-- Neither the passphrase nor the decrypted key is ever stored.
CREATE TABLE vault_keys (
    key_id     TEXT PRIMARY KEY,   -- canonical key ID (docker's file name, the ID in targets' keys)
    role       TEXT NOT NULL,      -- the file's role header: root, targets, a signer name, ...
    gun        TEXT NOT NULL,      -- '' for global keys (root, delegation keys)
    algorithm  TEXT NOT NULL,      -- e.g. "ECDSA P-256"
    sealed_pem BLOB NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX vault_keys_gun ON vault_keys(gun, role);

-- Public signing keys (certificate or PUBLIC KEY PEM) users register, so the
-- repository page can say whose key a delegation lists. The same public key
-- may be registered by several users (it is public); once per user.
CREATE TABLE user_keys (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_id     TEXT NOT NULL,      -- canonical key ID, as docker shows it
    key_type   TEXT NOT NULL,      -- "x509 certificate" or "public key"
    algorithm  TEXT NOT NULL,      -- e.g. "ECDSA P-256", "RSA 4096"
    subject    TEXT NOT NULL DEFAULT '',  -- certificate subject CN
    not_after  TEXT,               -- RFC 3339; NULL for a bare public key
    pem        BLOB NOT NULL,      -- normalised PEM (one block, no headers)
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, key_id)
);
CREATE INDEX user_keys_key ON user_keys(key_id);

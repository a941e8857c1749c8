-- Private keys the embedded Notary server signs timestamp and snapshot
-- metadata with (internal/vault.ServerCrypto). The private part is stored
-- only sealed with the data directory's encryption key (AES-256-GCM, the key
-- ID as additional data); public is the key's TUF public bytes.
CREATE TABLE server_keys (
    key_id         TEXT PRIMARY KEY,  -- TUF key ID: sha256 of the canonical JSON public key
    gun            TEXT NOT NULL,     -- the GUN the key was created for
    role           TEXT NOT NULL,     -- "timestamp" or "snapshot" (any TUF role name is accepted)
    algorithm      TEXT NOT NULL,     -- "ecdsa", "ed25519", ...
    public         BLOB NOT NULL,
    private_sealed BLOB NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX server_keys_role ON server_keys(role);
CREATE INDEX server_keys_gun_role ON server_keys(gun, role);

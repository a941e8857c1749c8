-- Keys for the signature formats that follow Docker Content Trust
-- (internal/vault.SigningKeys, used by the migration to cosign and Notation):
-- per namespace and format, the key trustdeck signs with and, for Notation,
-- the namespace CA that issued its signing certificate.
--
-- sealed_key is the private key as an encrypted PKCS#8 PEM file (the same
-- passphrase encryption as vault_keys, with "role" and "gun" headers naming
-- the format and namespace), sealed once more with the data directory's
-- encryption key (AES-256-GCM, "<namespace>/<format>/<role>/<key_id>" as
-- additional data). A cosign key may instead be an existing signer's key in
-- vault_keys: sealed_key is then NULL and vault_key_id names it. Neither the
-- passphrase nor the decrypted key is ever stored.
CREATE TABLE signing_keys (
    namespace    TEXT NOT NULL,
    format       TEXT NOT NULL CHECK (format IN ('cosign', 'notation')),
    role         TEXT NOT NULL CHECK (role IN ('signer', 'ca')),
    key_id       TEXT NOT NULL,          -- SHA-256 (hex) of the public key's PKIX DER
    algorithm    TEXT NOT NULL,          -- e.g. "ECDSA P-256"
    public_pem   BLOB NOT NULL,          -- PUBLIC KEY (cosign) or CERTIFICATE (Notation) PEM
    sealed_key   BLOB,
    vault_key_id TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (namespace, format, role),
    CHECK ((sealed_key IS NULL) <> (vault_key_id = ''))
);

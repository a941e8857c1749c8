-- What the dashboard needs to make key and account actions safe (issue 16).

-- made_for: the repository (GUN) a key without a gun header was made for.
-- Root keys are global in notary's key store (no gun header), so without it
-- the vault cannot say whose root key it holds; '' when not known (a key
-- imported from a file).
-- exported_at: when the key was first downloaded (RFC 3339; NULL: never).
-- A root key nobody downloaded leaves the vault only after a typed
-- confirmation that it cannot be recovered.
ALTER TABLE vault_keys ADD COLUMN made_for TEXT NOT NULL DEFAULT '';
ALTER TABLE vault_keys ADD COLUMN exported_at TEXT;

-- disabled_at: when an administrator disabled the account (RFC 3339; NULL:
-- enabled). A disabled account cannot sign in, and its sessions, tokens and
-- cached password checks no longer work.
ALTER TABLE users ADD COLUMN disabled_at TEXT;

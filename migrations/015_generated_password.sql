-- password_generated: the account's password is the one trustdeck generated
-- (and logged once) on its first start. Pages remind the account to change
-- it until it is changed; any new password clears it.
ALTER TABLE users ADD COLUMN password_generated INTEGER NOT NULL DEFAULT 0;

-- Failed sign-ins, counted per (account, client address) and per client
-- address across accounts, so that a restart does not reset an attack in
-- progress. Rows are forgotten some time after their last failure; a
-- successful sign-in clears its (account, address) row.
CREATE TABLE login_failures (
    kind         TEXT NOT NULL CHECK (kind IN ('account', 'address')),
    username     TEXT NOT NULL,   -- '' for kind 'address'
    address      TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    last_failure TEXT NOT NULL,
    PRIMARY KEY (kind, username, address)
);
CREATE INDEX login_failures_last ON login_failures(last_failure);

package testpg

import (
	"os"
	"path/filepath"
)

// notaryServerSchema is notary-server's PostgreSQL schema (Debian's notary
// package ships no migrations): the tables of upstream's
// migrations/server/postgresql, which its gorm models read and write.
// tuf_files holds every version of every role's metadata; changefeed one
// row per published timestamp or deletion, in ID order.
const notaryServerSchema = `
CREATE TABLE tuf_files (
	id         serial PRIMARY KEY,
	created_at timestamp NULL DEFAULT NULL,
	updated_at timestamp NULL DEFAULT NULL,
	deleted_at timestamp NULL DEFAULT NULL,
	gun        varchar(255) NOT NULL,
	role       varchar(255) NOT NULL,
	version    integer NOT NULL,
	data       bytea NOT NULL,
	sha256     char(64) DEFAULT NULL,
	UNIQUE (gun, role, version)
);
CREATE INDEX tuf_files_sha256_idx ON tuf_files (sha256);

CREATE TABLE change_category (
	category varchar(20) PRIMARY KEY
);
INSERT INTO change_category VALUES ('update'), ('deletion');

CREATE TABLE changefeed (
	id         serial PRIMARY KEY,
	created_at timestamp DEFAULT CURRENT_TIMESTAMP,
	gun        varchar(255) NOT NULL,
	version    integer NOT NULL,
	sha256     char(64) DEFAULT NULL,
	category   varchar(20) NOT NULL DEFAULT 'update' REFERENCES change_category
);
CREATE INDEX changefeed_gun_idx ON changefeed (gun);
`

// NotaryServerDB is the name of notary-server's database.
const NotaryServerDB = "notaryserver"

// NotaryServerDatabase creates notary-server's user, database and schema
// (as that user, so that its tables are its own) and returns the URL for
// notary-server's storage.db_url.
func (c *Cluster) NotaryServerDatabase() (string, error) {
	const user, password = "notary", "notary-test-pass"
	url, err := c.NewDatabase(user, password, NotaryServerDB)
	if err != nil {
		return "", err
	}
	schema := filepath.Join(c.Dir, "notary-server-schema.sql")
	if err := os.WriteFile(schema, []byte(notaryServerSchema), 0o644); err != nil {
		return "", err
	}
	if _, err := c.run([]string{"PGPASSWORD=" + password}, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", c.Port, "-U", user, "-d", NotaryServerDB, "-f", schema); err != nil {
		return "", err
	}
	return url, nil
}

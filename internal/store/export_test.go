package store

// Schema is ddl as the store applies it to the database at location (the
// migrations' SQL, translated for PostgreSQL), for tests that build an old
// schema by hand.
func Schema(location, ddl string) string {
	if IsPostgresURL(location) {
		return pgSchema(ddl)
	}
	return ddl
}

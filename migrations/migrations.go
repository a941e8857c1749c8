// Package migrations embeds the numbered SQL migrations applied by the store
// at start-up. Files are append-only: never edit a released migration, add a
// new one with the next number.
package migrations

import "embed"

// FS holds every NNN_name.sql file of this directory.
//
//go:embed *.sql
var FS embed.FS

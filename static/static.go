// Package static embeds trustdeck's stylesheets, scripts and images so the
// binary serves them without files on disk.
package static

import "embed"

// FS holds css/, js/ and img/.
//
//go:embed css js img
var FS embed.FS

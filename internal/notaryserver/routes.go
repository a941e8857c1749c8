package notaryserver

import (
	"net/http"
	"path"
	"strings"
)

// endpoint is one operation of the Notary v1 API.
type endpoint int

const (
	notFound         endpoint = iota
	ping                      // GET /v2/
	globalChangefeed          // GET /v2/_trust/changefeed
	changefeed                // GET /v2/{gun}/_trust/changefeed
	update                    // POST /v2/{gun}/_trust/tuf/
	deleteGUN                 // DELETE /v2/{gun}/_trust/tuf/
	getMetadata               // GET /v2/{gun}/_trust/tuf/{role}.json, {role}.{checksum}.json, {version}.{role}.json
	getKey                    // GET /v2/{gun}/_trust/tuf/{timestamp|snapshot}.key
	rotateKey                 // POST /v2/{gun}/_trust/tuf/{timestamp|snapshot}.key
)

// route is a request matched to an endpoint.
type route struct {
	endpoint endpoint
	gun      string   // "" for ping, the global changefeed and unknown paths
	actions  []string // what the Authorizer must allow
	write    bool     // as told to Hooks.Admit

	// for getMetadata, getKey and rotateKey
	role     string
	checksum string
	version  string
}

// vars are the route variables notary's handlers read with mux.Vars.
func (rt route) vars() map[string]string {
	v := map[string]string{"gun": rt.gun}
	if rt.role != "" {
		v["tufRole"] = rt.role
	}
	if rt.checksum != "" {
		v["checksum"] = rt.checksum
	}
	if rt.version != "" {
		v["version"] = rt.version
	}
	return v
}

const trustSep = "/_trust/"

// match maps a request to its endpoint, following notary-server's routes.
// The GUN is everything between /v2/ and the first /_trust/: it may hold
// slashes but not '*'. Paths that are not clean (//, /./, /../) match
// nothing; neither does a known path with another method.
func match(method, p string) route {
	if !strings.HasPrefix(p, "/v2/") || !isClean(p) {
		return route{}
	}
	if p == "/v2/" {
		if method == http.MethodGet {
			return route{endpoint: ping}
		}
		return route{}
	}
	if p == "/v2/_trust/changefeed" {
		if method == http.MethodGet {
			return route{endpoint: globalChangefeed, actions: []string{"*"}}
		}
		return route{}
	}

	after := p[len("/v2/"):]
	i := strings.Index(after, trustSep)
	if i < 0 {
		return route{}
	}
	gun, rest := after[:i], after[i+len(trustSep):]
	if gun == "" || strings.Contains(gun, "*") {
		return route{}
	}

	switch {
	case rest == "changefeed":
		if method == http.MethodGet {
			return route{endpoint: changefeed, gun: gun, actions: []string{"pull"}}
		}
	case rest == "tuf/":
		switch method {
		case http.MethodPost:
			return route{endpoint: update, gun: gun, actions: []string{"push", "pull"}, write: true}
		case http.MethodDelete:
			return route{endpoint: deleteGUN, gun: gun, actions: []string{"*"}, write: true}
		}
	case strings.HasPrefix(rest, "tuf/") && strings.HasSuffix(rest, ".key"):
		role := strings.TrimSuffix(rest[len("tuf/"):], ".key")
		if role != "timestamp" && role != "snapshot" {
			break
		}
		switch method {
		case http.MethodGet:
			return route{endpoint: getKey, gun: gun, role: role, actions: []string{"push", "pull"}}
		case http.MethodPost:
			return route{endpoint: rotateKey, gun: gun, role: role, actions: []string{"*"}, write: true}
		}
	case strings.HasPrefix(rest, "tuf/") && strings.HasSuffix(rest, ".json"):
		if method != http.MethodGet {
			break
		}
		role, checksum, version, ok := parseMetadataName(strings.TrimSuffix(rest[len("tuf/"):], ".json"))
		if ok {
			return route{endpoint: getMetadata, gun: gun, role: role, checksum: checksum,
				version: version, actions: []string{"pull"}}
		}
	}
	return route{}
}

// isClean reports whether p needs no cleaning (a trailing slash is allowed).
func isClean(p string) bool {
	c := path.Clean(p)
	return c == p || c+"/" == p
}

// parseMetadataName splits the name of a metadata file (without ".json") into
// role and either a checksum or a version. As in notary-server, "role.checksum"
// is tried first, then "version.role", then a plain role.
func parseMetadataName(name string) (role, checksum, version string, ok bool) {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if c := name[i+1:]; isChecksum(c) && isRouteRole(name[:i]) {
			return name[:i], c, "", true
		}
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if v := name[:i]; isDigits(v) && isRouteRole(name[i+1:]) {
			return name[i+1:], "", v, true
		}
	}
	if isRouteRole(name) {
		return name, "", "", true
	}
	return "", "", "", false
}

// isRouteRole reports whether s is root, snapshot, timestamp, targets or a
// path below targets whose segments are non-empty and hold no whitespace.
func isRouteRole(s string) bool {
	switch s {
	case "root", "snapshot", "timestamp", "targets":
		return true
	}
	rest, ok := strings.CutPrefix(s, "targets/")
	if !ok {
		return false
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || strings.ContainsAny(seg, " \t\n\f\r") {
			return false
		}
	}
	return true
}

// isChecksum reports whether s is the hex of a SHA-256, SHA-384 or SHA-512.
func isChecksum(s string) bool {
	switch len(s) {
	case 64, 96, 128:
	default:
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

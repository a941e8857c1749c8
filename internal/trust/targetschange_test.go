package trust

import (
	"encoding/base64"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
)

// targetsFile is a targets metadata file signing tag=digest-byte pairs.
func targetsFile(pairs ...string) []byte {
	var b strings.Builder
	b.WriteString(`{"signed":{"_type":"Targets","targets":{`)
	for i := 0; i < len(pairs); i += 2 {
		if i > 0 {
			b.WriteString(",")
		}
		sum := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(pairs[i+1], 32)))
		b.WriteString(`"` + pairs[i] + `":{"hashes":{"sha256":"` + sum + `"},"length":1}`)
	}
	b.WriteString(`},"version":2}}`)
	return []byte(b.String())
}

func TestDiffTargets(t *testing.T) {
	digest := func(c string) string { return "sha256:" + hex.EncodeToString([]byte(strings.Repeat(c, 32))) }
	for _, tc := range []struct {
		name              string
		previous, current []byte
		want              TargetsChange
	}{
		{"first version", nil, targetsFile("v10", "a", "v2", "b"),
			TargetsChange{Signed: []SignedDigest{{"v2", digest("b")}, {"v10", digest("a")}}}},
		{"a new tag and a moved one", targetsFile("1", "a", "2", "b"), targetsFile("1", "a", "2", "c", "3", "d"),
			TargetsChange{Signed: []SignedDigest{{"2", digest("c")}, {"3", digest("d")}}}},
		{"a removed tag", targetsFile("1", "a", "2", "b"), targetsFile("2", "b"),
			TargetsChange{Removed: []string{"1"}}},
		{"a renewal", targetsFile("1", "a"), targetsFile("1", "a"), TargetsChange{}},
	} {
		got, err := DiffTargets(tc.previous, tc.current)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if _, err := DiffTargets(nil, []byte("{")); err == nil {
		t.Error("a damaged file is no error")
	}
}

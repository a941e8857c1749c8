package trust

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"
)

// fixture is a set of repositories on one test server, built as docker
// builds them, and the values (digests, key IDs) the goldens refer to.
type fixture struct {
	e    *env
	vars map[string]string
}

var placeholderRE = regexp.MustCompile(`\{[A-Za-z0-9.:-]+\}`)

// expand replaces {name} placeholders in a golden.
func (f *fixture) expand(t *testing.T, s string) string {
	t.Helper()
	pairs := []string{"{DIGESTCOL}", "DIGEST" + strings.Repeat(" ", 61)}
	for k, v := range f.vars {
		pairs = append(pairs, "{"+k+"}", v)
	}
	out := strings.NewReplacer(pairs...).Replace(s)
	if m := placeholderRE.FindString(out); m != "" {
		t.Fatalf("unexpanded placeholder %s", m)
	}
	return out
}

func (f *fixture) admin(t *testing.T, name string, a *admin) {
	t.Helper()
	roles, err := a.repo.ListRoles()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles {
		switch r.Name {
		case data.CanonicalRootRole:
			f.vars[name+".root"] = strings.Join(r.KeyIDs, ", ")
		case data.CanonicalTargetsRole:
			f.vars[name+".targets"] = strings.Join(r.KeyIDs, ", ")
		}
	}
}

func (f *fixture) signer(t *testing.T, name string, k data.PublicKey) data.PublicKey {
	id := canonical(t, k)
	f.vars[name] = id
	f.vars[name+"12"] = id[:12]
	return k
}

func (f *fixture) digests(contents ...string) {
	for _, c := range contents {
		f.vars["d:"+c] = digest(c)
	}
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{e: newEnv(t), vars: map[string]string{}}
	e := f.e

	plain := e.admin("reg.test/ns/plain").init().sign("v1", "plain-1", "targets").sign("v2", "plain-2", "targets").publish()
	f.admin(t, "plain", plain)

	one := e.admin("reg.test/ns/one").init()
	alice1 := f.signer(t, "one.alice", one.key("targets/alice", "alice", true))
	one.delegate(RoleReleases, alice1).delegate("targets/alice", alice1).publish()
	one.sign("v1", "one-1", RoleReleases, "targets/alice").publish()
	f.admin(t, "one", one)

	two := e.admin("reg.test/ns/two").init()
	alice := f.signer(t, "two.alice", two.key("targets/alice", "alice", true))
	bob := f.signer(t, "two.bob", two.key("targets/bob", "bob", false))
	ci := f.signer(t, "two.ci", two.key("targets/alice/ci", "ci", false))
	two.delegate(RoleReleases, alice, bob).delegate("targets/alice", alice).delegate("targets/bob", bob).publish()
	two.delegate("targets/alice/ci", ci).publish()
	two.sign("v1", "two-1", RoleReleases, "targets/alice", "targets/bob").
		sign("v2", "two-2", RoleReleases, "targets/alice").
		sign("v10", "two-10", RoleReleases, "targets/bob", "targets/alice/ci").
		sign("dev", "two-dev", "targets/bob").
		publish()
	two.sign("v2", "two-2-bob", "targets/bob").publish()
	f.admin(t, "two", two)

	dis := e.admin("reg.test/ns/disagree").init()
	dalice := f.signer(t, "dis.alice", dis.key("targets/alice", "alice", false))
	dis.delegate(RoleReleases, dalice).delegate("targets/alice", dalice).publish()
	dis.sign("v1", "dis-admin", "targets").sign("v1", "dis-rel", RoleReleases, "targets/alice").publish()
	f.admin(t, "dis", dis)

	nat := e.admin("reg.test/ns/natural").init()
	for _, tag := range []string{"v10", "v2", "v1", "latest", "v01", "v2a", "1.0"} {
		nat.sign(tag, "nat-"+tag, "targets")
		f.digests("nat-" + tag)
	}
	nat.publish()
	f.admin(t, "nat", nat)

	empty := e.admin("reg.test/ns/empty").init().publish()
	f.admin(t, "empty", empty)

	so := e.admin("reg.test/ns/signersonly").init()
	carol := f.signer(t, "so.carol", so.key("targets/carol", "carol", false))
	so.delegate(RoleReleases, carol).delegate("targets/carol", carol).publish()
	f.admin(t, "so", so)

	f.digests("plain-1", "plain-2", "one-1", "two-1", "two-2", "two-10", "two-dev", "two-2-bob", "dis-admin", "dis-rel")
	return f
}

// adminJSON is the AdministrativeKeys member of scenario s.
func adminJSON(s string) string {
	return strings.ReplaceAll(`        "AdministrativeKeys": [
            {
                "Name": "Root",
                "Keys": [
                    {
                        "ID": "{S.root}"
                    }
                ]
            },
            {
                "Name": "Repository",
                "Keys": [
                    {
                        "ID": "{S.targets}"
                    }
                ]
            }
        ]
`, "{S.", "{"+s+".")
}

// adminPretty is the administrative keys section of scenario s for ref.
func adminPretty(s, ref string) string {
	return "\nAdministrative keys for " + ref + "\n\n" +
		"  Repository Key:\t{" + s + ".targets}\n" +
		"  Root Key:\t{" + s + ".root}\n"
}

const twoSignersJSON = `        "Signers": [
            {
                "Name": "bob",
                "Keys": [
                    {
                        "ID": "{two.bob}"
                    }
                ]
            },
            {
                "Name": "alice/ci",
                "Keys": [
                    {
                        "ID": "{two.ci}"
                    }
                ]
            },
            {
                "Name": "alice",
                "Keys": [
                    {
                        "ID": "{two.alice}"
                    }
                ]
            }
        ],
`

const twoSignersPretty = `
List of signers and their keys for {REF}

SIGNER     KEYS
alice      {two.alice12}
alice/ci   {two.ci12}
bob        {two.bob12}
`

func TestInspectGolden(t *testing.T) {
	f := newFixture(t)
	r := NewReader(f.e.remote())
	ctx := context.Background()

	disRows := []string{
		"            {\n                \"SignedTag\": \"v1\",\n                \"Digest\": \"{d:dis-admin}\",\n                \"Signers\": [\n                    \"Repo Admin\"\n                ]\n            }",
		"            {\n                \"SignedTag\": \"v1\",\n                \"Digest\": \"{d:dis-rel}\",\n                \"Signers\": [\n                    \"alice\"\n                ]\n            }",
	}
	disPretty := []string{
		"v1           {d:dis-admin}   (Repo Admin)\n",
		"v1           {d:dis-rel}   alice\n",
	}
	if digest("dis-rel") < digest("dis-admin") {
		disRows[0], disRows[1] = disRows[1], disRows[0]
		disPretty[0], disPretty[1] = disPretty[1], disPretty[0]
	}

	tests := []struct {
		name   string
		refs   []string
		json   string
		pretty string
		stderr string // JSON mode; pretty mode: its first line
	}{
		{
			name: "tags in targets only",
			refs: []string{"reg.test/ns/plain"},
			json: `[
    {
        "Name": "reg.test/ns/plain",
        "SignedTags": [
            {
                "SignedTag": "v1",
                "Digest": "{d:plain-1}",
                "Signers": [
                    "Repo Admin"
                ]
            },
            {
                "SignedTag": "v2",
                "Digest": "{d:plain-2}",
                "Signers": [
                    "Repo Admin"
                ]
            }
        ],
        "Signers": [],
` + adminJSON("plain") + `    }
]
`,
			pretty: `
Signatures for reg.test/ns/plain

SIGNED TAG   {DIGESTCOL}SIGNERS
v1           {d:plain-1}   (Repo Admin)
v2           {d:plain-2}   (Repo Admin)
` + adminPretty("plain", "reg.test/ns/plain"),
		},
		{
			name: "released with one signer",
			refs: []string{"reg.test/ns/one"},
			json: `[
    {
        "Name": "reg.test/ns/one",
        "SignedTags": [
            {
                "SignedTag": "v1",
                "Digest": "{d:one-1}",
                "Signers": [
                    "alice"
                ]
            }
        ],
        "Signers": [
            {
                "Name": "alice",
                "Keys": [
                    {
                        "ID": "{one.alice}"
                    }
                ]
            }
        ],
` + adminJSON("one") + `    }
]
`,
			pretty: `
Signatures for reg.test/ns/one

SIGNED TAG   {DIGESTCOL}SIGNERS
v1           {d:one-1}   alice

List of signers and their keys for reg.test/ns/one

SIGNER    KEYS
alice     {one.alice12}
` + adminPretty("one", "reg.test/ns/one"),
		},
		{
			name: "two signers, nested signer, natural order, unreleased tags hidden",
			refs: []string{"reg.test/ns/two"},
			json: `[
    {
        "Name": "reg.test/ns/two",
        "SignedTags": [
            {
                "SignedTag": "v1",
                "Digest": "{d:two-1}",
                "Signers": [
                    "alice",
                    "bob"
                ]
            },
            {
                "SignedTag": "v2",
                "Digest": "{d:two-2}",
                "Signers": [
                    "alice"
                ]
            },
            {
                "SignedTag": "v10",
                "Digest": "{d:two-10}",
                "Signers": [
                    "bob",
                    "alice/ci"
                ]
            }
        ],
` + twoSignersJSON + adminJSON("two") + `    }
]
`,
			pretty: `
Signatures for reg.test/ns/two

SIGNED TAG   {DIGESTCOL}SIGNERS
v1           {d:two-1}   alice, bob
v2           {d:two-2}   alice
v10          {d:two-10}   alice/ci, bob
` + strings.ReplaceAll(twoSignersPretty, "{REF}", "reg.test/ns/two") + adminPretty("two", "reg.test/ns/two"),
		},
		{
			name: "targets and releases disagree",
			refs: []string{"reg.test/ns/disagree"},
			json: `[
    {
        "Name": "reg.test/ns/disagree",
        "SignedTags": [
` + disRows[0] + ",\n" + disRows[1] + `
        ],
        "Signers": [
            {
                "Name": "alice",
                "Keys": [
                    {
                        "ID": "{dis.alice}"
                    }
                ]
            }
        ],
` + adminJSON("dis") + `    }
]
`,
			pretty: `
Signatures for reg.test/ns/disagree

SIGNED TAG   {DIGESTCOL}SIGNERS
` + disPretty[0] + disPretty[1] + `
List of signers and their keys for reg.test/ns/disagree

SIGNER    KEYS
alice     {dis.alice12}
` + adminPretty("dis", "reg.test/ns/disagree"),
		},
		{
			name: "natural sort",
			refs: []string{"reg.test/ns/natural"},
			pretty: `
Signatures for reg.test/ns/natural

SIGNED TAG   {DIGESTCOL}SIGNERS
1.0          {d:nat-1.0}   (Repo Admin)
latest       {d:nat-latest}   (Repo Admin)
v1           {d:nat-v1}   (Repo Admin)
v01          {d:nat-v01}   (Repo Admin)
v2           {d:nat-v2}   (Repo Admin)
v2a          {d:nat-v2a}   (Repo Admin)
v10          {d:nat-v10}   (Repo Admin)
` + adminPretty("nat", "reg.test/ns/natural"),
		},
		{
			name: "initialised without tags",
			refs: []string{"reg.test/ns/empty"},
			json: `[
    {
        "Name": "reg.test/ns/empty",
        "SignedTags": [],
        "Signers": [],
` + adminJSON("empty") + `    }
]
`,
			pretty: `
No signatures for reg.test/ns/empty

` + adminPretty("empty", "reg.test/ns/empty"),
		},
		{
			name: "signers without tags",
			refs: []string{"reg.test/ns/signersonly"},
			pretty: `
No signatures for reg.test/ns/signersonly


List of signers and their keys for reg.test/ns/signersonly

SIGNER    KEYS
carol     {so.carol12}
` + adminPretty("so", "reg.test/ns/signersonly"),
		},
		{
			name:   "no trust data",
			refs:   []string{"reg.test/ns/missing"},
			json:   "[]\n",
			pretty: "",
			stderr: "no signatures or cannot access reg.test/ns/missing\n",
		},
		{
			name: "a tag",
			refs: []string{"reg.test/ns/two:v10"},
			json: `[
    {
        "Name": "reg.test/ns/two:v10",
        "SignedTags": [
            {
                "SignedTag": "v10",
                "Digest": "{d:two-10}",
                "Signers": [
                    "bob",
                    "alice/ci"
                ]
            }
        ],
` + twoSignersJSON + adminJSON("two") + `    }
]
`,
			pretty: `
Signatures for reg.test/ns/two:v10

SIGNED TAG   {DIGESTCOL}SIGNERS
v10          {d:two-10}   alice/ci, bob
` + strings.ReplaceAll(twoSignersPretty, "{REF}", "reg.test/ns/two:v10") + adminPretty("two", "reg.test/ns/two:v10"),
		},
		{
			name: "a tag only a signer signed",
			refs: []string{"reg.test/ns/two:dev"},
			json: `[
    {
        "Name": "reg.test/ns/two:dev",
        "SignedTags": [],
` + twoSignersJSON + adminJSON("two") + `    }
]
`,
			pretty: `
No signatures for reg.test/ns/two:dev

` + strings.ReplaceAll(twoSignersPretty, "{REF}", "reg.test/ns/two:dev") + adminPretty("two", "reg.test/ns/two:dev"),
		},
		{
			name: "several refs, some failing",
			refs: []string{"reg.test/ns/plain:v2", "reg.test/ns/missing", "reg.test/ns/empty:latest", "bad ref"},
			json: `[
    {
        "Name": "reg.test/ns/plain:v2",
        "SignedTags": [
            {
                "SignedTag": "v2",
                "Digest": "{d:plain-2}",
                "Signers": [
                    "Repo Admin"
                ]
            }
        ],
        "Signers": [],
` + adminJSON("plain") + `    },
    {
        "Name": "reg.test/ns/empty:latest",
        "SignedTags": [],
        "Signers": [],
` + adminJSON("empty") + `    }
]
`,
			pretty: `
Signatures for reg.test/ns/plain:v2

SIGNED TAG   {DIGESTCOL}SIGNERS
v2           {d:plain-2}   (Repo Admin)
` + adminPretty("plain", "reg.test/ns/plain:v2") + "\n\n",
			stderr: "no signatures or cannot access reg.test/ns/missing\ninvalid reference format\n",
		},
		{
			name: "several refs",
			refs: []string{"reg.test/ns/plain:v1", "reg.test/ns/empty"},
			pretty: `
Signatures for reg.test/ns/plain:v1

SIGNED TAG   {DIGESTCOL}SIGNERS
v1           {d:plain-1}   (Repo Admin)
` + adminPretty("plain", "reg.test/ns/plain:v1") + "\n\n" + `
No signatures for reg.test/ns/empty

` + adminPretty("empty", "reg.test/ns/empty"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := r.Inspect(ctx, tt.refs...)
			if len(res) != len(tt.refs) {
				t.Fatalf("%d results for %d refs", len(res), len(tt.refs))
			}
			if tt.json != "" {
				if got, want := string(FormatJSON(res)), f.expand(t, tt.json); got != want {
					t.Errorf("JSON:\n%s\nwant:\n%s", got, want)
				}
			}
			if got, want := string(FormatPretty(res)), f.expand(t, tt.pretty); got != want {
				t.Errorf("pretty:\n%q\nwant:\n%q", got, want)
			}
			if got := string(Stderr(res, false)); got != tt.stderr {
				t.Errorf("stderr (JSON) %q, want %q", got, tt.stderr)
			}
			wantPretty, _, _ := strings.Cut(tt.stderr, "\n")
			if wantPretty != "" {
				wantPretty += "\n"
			}
			if got := string(Stderr(res, true)); got != wantPretty {
				t.Errorf("stderr (pretty) %q, want %q", got, wantPretty)
			}
		})
	}
}

package names

import "testing"

func TestGUN(t *testing.T) {
	good := []string{"alpine", "library/alpine", "docker.io/library/alpine", "localhost/a", "localhost:5000/a/b",
		"registry.example.com:5000/team/app", "10.0.0.1:443/x/y/z", "reg-1.example/a__b/c-d.e"}
	bad := []string{"", "Upper/Case", "reg.example//a", "reg.example/", "/a", "a/-b", "reg.example:port/a",
		"-reg.example/a", "reg.example/a b", "reg.example/a+b", string(make([]byte, 256))}
	for _, g := range good {
		if err := GUN(g); err != nil {
			t.Errorf("GUN(%q): %v, want valid", g, err)
		}
	}
	for _, g := range bad {
		if GUN(g) == nil {
			t.Errorf("GUN(%q) valid, want an error", g)
		}
	}
}

func TestHasHost(t *testing.T) {
	for name, want := range map[string]bool{
		"127.0.0.1:5000/prod/app": true, "registry.example/prod/app": true, "localhost/a": true,
		"host:5000/a": true, "my.team/app": true,
		"prod/app": false, "prod/app/extra": false, "alpine": false, "localhost": false,
		"registry.example": false, "": false,
	} {
		if got := HasHost(name); got != want {
			t.Errorf("HasHost(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRepoPathRoundTrip(t *testing.T) {
	for _, c := range []struct{ ns, name, path string }{
		{"prod", "app", "/repositories/prod/app"},
		{Foreign, "registry.example.com:5000/team/app", "/repositories/~/registry.example.com:5000+team+app"},
	} {
		if got := RepoPath(c.ns, c.name); got != c.path {
			t.Errorf("RepoPath(%q, %q) = %q, want %q", c.ns, c.name, got, c.path)
		}
		seg := c.path[len("/repositories/"+c.ns+"/"):]
		if got := NameFromPath(c.ns, seg); got != c.name {
			t.Errorf("NameFromPath(%q, %q) = %q, want %q", c.ns, seg, got, c.name)
		}
	}
	if Display(Foreign, "reg.example/a/b") != "reg.example/a/b" || Display("a", "b") != "a/b" {
		t.Error("Display")
	}
}

package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

// attackLimit is how many passwords one (account, address) may try before
// its attempts are delayed: the configured number of checks an attack gets.
const attackLimit = 5

// signIn is one way to present a username and password: the login form,
// HTTP basic credentials on the API, or the registry token service.
type signIn struct {
	name string
	// prepare runs before the attack, on the test goroutine (the login form
	// needs its CSRF token); try may run on any goroutine.
	prepare func(t *testing.T, b *testserver.Browser)
	try     func(b *testserver.Browser, user, password string) (*http.Response, error)
	ok      int // the status of a successful sign-in
}

func signIns(s *testserver.Server) []signIn {
	basic := func(path string) func(b *testserver.Browser, user, password string) (*http.Response, error) {
		return func(b *testserver.Browser, user, password string) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
			req.SetBasicAuth(user, password)
			return b.C.Do(req)
		}
	}
	warm := func(t *testing.T, b *testserver.Browser) { b.Get("/healthz") }
	return []signIn{
		{name: "login form", ok: http.StatusSeeOther,
			prepare: func(t *testing.T, b *testserver.Browser) { b.Get("/login") },
			try: func(b *testserver.Browser, user, password string) (*http.Response, error) {
				return b.C.PostForm(s.URL+"/login", url.Values{"username": {user}, "password": {password}, "_csrf": {b.CSRF}})
			}},
		{name: "API basic auth", ok: http.StatusOK, prepare: warm, try: basic("/api/v1/repositories")},
		{name: "token service", ok: http.StatusOK, prepare: warm,
			try: basic("/auth/token?scope=" + url.QueryEscape("repository:"+s.Addr+"/prod/app:pull"))},
	}
}

// fromAddress makes b connect from another loopback address (127.0.0.0/8
// is all local on Linux), which the server sees as another client.
func fromAddress(t *testing.T, b *testserver.Browser, ip string) {
	t.Helper()
	tr := b.C.Transport.(*http.Transport)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	tr.DialContext = d.DialContext
}

// memoryPeak samples the Go heap in use and the process's resident set until
// stop is called, and returns their peaks above the levels at the start.
func memoryPeak() (stop func() (heap, rss uint64)) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap0, rss0 := ms.HeapInuse, residentBytes()
	var heapMax, rssMax atomic.Uint64
	heapMax.Store(heap0)
	rssMax.Store(rss0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heapMax.Store(max(heapMax.Load(), ms.HeapInuse))
			rssMax.Store(max(rssMax.Load(), residentBytes()))
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() (uint64, uint64) {
		cancel()
		<-done
		return heapMax.Load() - heap0, rssMax.Load() - rss0
	}
}

// residentBytes reads VmRSS from /proc/self/status (0 where there is none).
func residentBytes() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestSimultaneousWrongPasswords is the acceptance test of the login
// throttle under concurrency: 200 simultaneous wrong passwords for one
// account from one address, through each way of signing in, check at most
// attackLimit passwords (counted as argon2id hashes actually run) and keep
// the process's memory growth under 200 MB, while the owner's right
// password from another address still works during the attack (after a
// delay at most).
func TestSimultaneousWrongPasswords(t *testing.T) {
	const attackers = 200
	const memoryBudget = 200 << 20
	s := testserver.Start(t)
	for i, way := range signIns(s) {
		t.Run(way.name, func(t *testing.T) {
			victim := fmt.Sprintf("victim%d", i)
			s.MustCreateUser(t, victim, userPassword, "prod", "read")
			clients := make([]*testserver.Browser, attackers)
			for j := range clients {
				clients[j] = s.NewBrowser(t)
				way.prepare(t, clients[j])
			}
			owner := s.NewBrowser(t)
			fromAddress(t, owner, "127.0.0.2")
			way.prepare(t, owner)

			stopMemory := memoryPeak()
			hashes0 := accounts.PasswordHashes()
			start := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			statuses := map[int]int{}
			var failures []string
			for j, b := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					resp, err := way.try(b, victim, fmt.Sprintf("wrong-password-%d", j))
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						failures = append(failures, err.Error())
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					statuses[resp.StatusCode]++
					if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
						failures = append(failures, "429 without Retry-After")
					}
				}()
			}
			// The owner signs in from elsewhere while the attack runs; a
			// busy server may make them wait, never refuse them for good.
			ownerDone := make(chan string, 1)
			go func() {
				<-start
				deadline := time.Now().Add(30 * time.Second)
				for {
					resp, err := way.try(owner, victim, userPassword)
					if err != nil {
						ownerDone <- err.Error()
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch {
					case resp.StatusCode == way.ok:
						ownerDone <- ""
						return
					case (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) &&
						time.Now().Before(deadline):
						wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
						time.Sleep(time.Duration(max(wait, 1)) * time.Second)
					default:
						ownerDone <- fmt.Sprintf("status %d", resp.StatusCode)
						return
					}
				}
			}()
			began := time.Now()
			close(start)
			wg.Wait()
			ownerErr := <-ownerDone
			elapsed := time.Since(began)
			hashes := accounts.PasswordHashes() - hashes0
			heapGrowth, rssGrowth := stopMemory()
			t.Logf("%s: %d simultaneous wrong passwords: statuses %v, %d argon2id hashes (owner's included), "+
				"heap in use +%d MiB, RSS +%d MiB, %v", way.name, attackers, statuses, hashes, heapGrowth>>20, rssGrowth>>20,
				elapsed.Round(time.Millisecond))

			if len(failures) > 0 {
				t.Errorf("%d requests failed, first: %s", len(failures), failures[0])
			}
			if ownerErr != "" {
				t.Errorf("the owner's right password from another address failed during the attack: %s", ownerErr)
			}
			// The owner's sign-in costs one hash more.
			if hashes > attackLimit+1 {
				t.Errorf("%d passwords were hashed, want at most %d for the attack and 1 for the owner", hashes, attackLimit)
			}
			if n := statuses[http.StatusUnauthorized]; n == 0 || n > attackLimit {
				t.Errorf("%d wrong passwords were checked (401), want 1 to %d", n, attackLimit)
			}
			for status, n := range statuses {
				if status != http.StatusUnauthorized && status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
					t.Errorf("%d answers with status %d", n, status)
				}
			}
			if heapGrowth > memoryBudget {
				t.Errorf("the heap in use grew by %d MiB, want under %d MiB", heapGrowth>>20, memoryBudget>>20)
			}
			if !raceEnabled && rssGrowth > memoryBudget {
				t.Errorf("the resident set grew by %d MiB, want under %d MiB", rssGrowth>>20, memoryBudget>>20)
			}
		})
	}
	noServerErrors(t, s)
}

// retryAfter returns the Retry-After of resp in seconds, failing the test
// when it is missing.
func retryAfter(t *testing.T, resp *http.Response) time.Duration {
	t.Helper()
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("Retry-After %q, want whole seconds", resp.Header.Get("Retry-After"))
	}
	return time.Duration(n) * time.Second
}

// basicFrom sends a request with HTTP basic credentials through b's client.
func basicFrom(t *testing.T, s *testserver.Server, b *testserver.Browser, user, pass, method, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, nil)
	req.SetBasicAuth(user, pass)
	return send(t, b.C, req)
}

// TestLoginDelaysNeverLocksOut: failed logins on one account from one
// address delay the next attempts from that address (with a Retry-After),
// through the form and the API, and lock nobody out: the owner's password
// works at once from another address, and from the same one once the delay
// has passed.
func TestLoginDelaysNeverLocksOut(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateUser(t, "alice", userPassword, "prod", "read")
	b := s.NewBrowser(t)
	b.Get("/login")
	for i := 1; i <= attackLimit; i++ {
		resp, body := b.PostForm("/login", url.Values{"username": {"alice"}, "password": {"wrong-password"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failed login %d: status %d, want 401: %s", i, resp.StatusCode, truncate(body))
		}
	}
	var resp *http.Response
	var body string
	unchanged(t, s, func() {
		resp, body = b.PostForm("/login", url.Values{"username": {"alice"}, "password": {userPassword}})
	})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password after %d failures from the same address: status %d, want 429: %s",
			attackLimit, resp.StatusCode, truncate(body))
	}
	wait := retryAfter(t, resp)
	if alert, _ := alertText(body); !strings.Contains(alert, "Too many failed sign-ins") {
		t.Errorf("alert %q", alert)
	}
	if slices.ContainsFunc(resp.Cookies(), func(c *http.Cookie) bool { return c.Name == "__Host-trustdeck_session" }) {
		t.Error("a delayed login set a session cookie")
	}
	resp, body = s.API(t, "alice", userPassword, "GET", "/api/v1/repositories", nil)
	if code, _ := apiErr(t, body); resp.StatusCode != http.StatusTooManyRequests || code != "too_many_attempts" {
		t.Errorf("API with the right password from the same address: %d %s", resp.StatusCode, body)
	}
	retryAfter(t, resp)

	elsewhere := s.NewBrowser(t)
	fromAddress(t, elsewhere, "127.0.0.2")
	elsewhere.Login("alice", userPassword)

	time.Sleep(wait)
	resp, body = b.PostForm("/login", url.Values{"username": {"alice"}, "password": {userPassword}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right password once the delay passed: status %d: %s", resp.StatusCode, truncate(body))
	}
	noServerErrors(t, s)
}

// TestLoginAddressLimitIsHigh: twenty failures from one address on made-up
// names (few on each, so that no account reaches its own limit) no longer
// stop everyone behind that address: the address's own ceiling is far
// higher (accounts.TestAddressCeilingCountsOnlyFailures reaches it), and
// other addresses are never affected.
func TestLoginAddressLimitIsHigh(t *testing.T) {
	s := testserver.Start(t)
	here := s.NewBrowser(t)
	elsewhere := s.NewBrowser(t)
	fromAddress(t, elsewhere, "127.0.0.2")
	for i := range 20 {
		user := fmt.Sprintf("guess%d", i/(attackLimit-1))
		if resp, body := basicFrom(t, s, here, user, "wrong-password", "GET", "/api/v1/repositories"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	for _, b := range []*testserver.Browser{here, elsewhere} {
		if resp, body := basicFrom(t, s, b, "admin", testserver.AdminPassword, "GET", "/api/v1/repositories"); resp.StatusCode != http.StatusOK {
			t.Fatalf("admin after 20 failures on made-up names: %d %s", resp.StatusCode, body)
		}
	}
	noServerErrors(t, s)
}

// TestPasswordRules: forms and the API refuse the most common passwords and
// passwords over 1,024 bytes, and the forms say the rule; a login with an
// overlong password fails without being hashed.
func TestPasswordRules(t *testing.T) {
	s := testserver.Start(t)
	admin := s.NewBrowser(t)
	admin.Login("admin", testserver.AdminPassword)
	_, page := admin.Get("/admin/users")
	if !strings.Contains(page, "not one of the most common passwords") || !strings.Contains(page, "1024 bytes") {
		t.Error("the create-user form does not say the password rule")
	}
	var resp *http.Response
	var body string
	unchanged(t, s, func() {
		resp, body = admin.PostForm("/admin/users", url.Values{"username": {"carol"}, "password": {"Password123"}})
	})
	if alert, _ := alertText(body); resp.StatusCode != http.StatusBadRequest || !strings.Contains(alert, "most common passwords") {
		t.Errorf("create user with a common password: %d, alert %q", resp.StatusCode, alert)
	}
	for pw, code := range map[string]string{
		"iloveyou1":               "common_password",
		strings.Repeat("x", 1025): "password_too_long",
		strings.Repeat("é", 513):  "password_too_long", // 1,026 bytes in 513 characters
		"carol":                   "weak_password",
	} {
		resp, body := s.API(t, "admin", testserver.AdminPassword, "POST", "/api/v1/users",
			map[string]any{"username": "carol", "password": pw})
		if got, _ := apiErr(t, body); code != "" && (resp.StatusCode != http.StatusBadRequest || got != code) {
			t.Errorf("create user with password %.12q…: %d %s, want 400 %s", pw, resp.StatusCode, body, code)
		}
	}
	s.MustCreateUser(t, "dave", userPassword, "", "")
	dave := s.NewBrowser(t)
	dave.Login("dave", userPassword)
	_, page = dave.Get("/profile/keys")
	if !strings.Contains(page, "not one of the most common passwords") {
		t.Error("the change-password form does not say the password rule")
	}
	unchanged(t, s, func() {
		resp, body = dave.PostForm("/profile/password", url.Values{"current_password": {userPassword},
			"new_password": {"Qwerty123"}, "new_password_confirm": {"Qwerty123"}})
	})
	if alert, _ := alertText(body); resp.StatusCode != http.StatusBadRequest || !strings.Contains(alert, "most common passwords") {
		t.Errorf("change to a common password: %d, alert %q", resp.StatusCode, alert)
	}

	before := accounts.PasswordHashes()
	anon := s.NewBrowser(t)
	anon.Get("/login")
	resp, body = anon.PostForm("/login", url.Values{"username": {"dave"}, "password": {strings.Repeat("y", 100_000)}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with an overlong password: %d %s", resp.StatusCode, truncate(body))
	}
	if resp, _ := s.API(t, "dave", strings.Repeat("y", 1025), "GET", "/api/v1/repositories", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API with an overlong password: %d", resp.StatusCode)
	}
	if n := accounts.PasswordHashes() - before; n != 0 {
		t.Errorf("overlong passwords cost %d hashes, want none", n)
	}
	noServerErrors(t, s)
}

// rawToken asks the token service for scope as user and returns the token.
func rawToken(t *testing.T, s *testserver.Server, user, pass, scope string) string {
	t.Helper()
	resp, body := s.API(t, user, pass, http.MethodGet, "/auth/token?scope="+url.QueryEscape(scope), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token for %s: %d %s", user, resp.StatusCode, body)
	}
	var reply struct{ Token string }
	if err := json.Unmarshal([]byte(body), &reply); err != nil {
		t.Fatal(err)
	}
	return reply.Token
}

// TestRegistryTokensFollowRoleAndPasswordChanges: a registry token stops
// working on the Notary API as soon as its user is demoted or changes their
// password, instead of keeping its rights until it expires.
func TestRegistryTokensFollowRoleAndPasswordChanges(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateRepo(t, "prod", "app")
	s.MustCreateUser(t, "wendy", userPassword, "prod", "write")
	gun := s.Addr + "/prod/app"
	scope := "repository:" + gun + ":pull,push"
	c := s.Client()
	notary := func(tok, method, suffix string) int {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+"/v2/"+gun+"/_trust/tuf/"+suffix, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, _ := send(t, c, req)
		return resp.StatusCode
	}
	pull := func(tok string) int { return notary(tok, http.MethodGet, "root.json") }
	push := func(tok string) int { return notary(tok, http.MethodPost, "") }

	writer := rawToken(t, s, "wendy", userPassword, scope)
	if got := pull(writer); got == http.StatusUnauthorized {
		t.Fatalf("pull with a fresh token: %d", got)
	}
	if got := push(writer); got == http.StatusUnauthorized {
		t.Fatalf("push with a fresh token: %d", got)
	}
	resp, body := s.API(t, "admin", testserver.AdminPassword, "PUT", "/api/v1/namespaces/prod/members/wendy",
		map[string]string{"role": "read"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("demote: %d %s", resp.StatusCode, body)
	}
	if got := push(writer); got != http.StatusUnauthorized {
		t.Errorf("push with the token of a demoted user: %d, want 401", got)
	}
	if got := pull(writer); got != http.StatusUnauthorized {
		t.Errorf("pull with a token issued before the demotion: %d, want 401 (the client fetches a new one)", got)
	}
	reader := rawToken(t, s, "wendy", userPassword, scope)
	if got := pull(reader); got == http.StatusUnauthorized {
		t.Errorf("pull with a token issued after the demotion: %d", got)
	}
	if got := push(reader); got != http.StatusUnauthorized {
		t.Errorf("push with a token issued after the demotion: %d, want 401", got)
	}

	b := s.NewBrowser(t)
	b.Login("wendy", userPassword)
	b.Get("/profile/keys")
	const next = "wendy-password-2"
	if resp, body := b.PostForm("/profile/password", url.Values{"current_password": {userPassword},
		"new_password": {next}, "new_password_confirm": {next}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change password: %d %s", resp.StatusCode, truncate(body))
	}
	if got := pull(reader); got != http.StatusUnauthorized {
		t.Errorf("pull with a token issued before a password change: %d, want 401", got)
	}
	if resp, _ := s.API(t, "wendy", userPassword, http.MethodGet, "/auth/token?scope="+url.QueryEscape(scope), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token with the old password: %d, want 401", resp.StatusCode)
	}
	if got := pull(rawToken(t, s, "wendy", next, scope)); got == http.StatusUnauthorized {
		t.Errorf("pull with a token of the new password: %d", got)
	}
	noServerErrors(t, s)
}

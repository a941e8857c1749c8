// Command withpg runs a command beside a throwaway PostgreSQL cluster
// (internal/testpg: Debian's postgresql, as root): the browser tests'
// PostgreSQL pass and the benchmark of the store on PostgreSQL use it.
//
//	withpg [-notary-server] COMMAND [ARG...]
//
// COMMAND sees TRUSTDECK_DATABASE, the URL of a database on the cluster
// whose user may create more (the e2e harness gives every server a new one),
// and PATH with PostgreSQL's programs first (psql). With -notary-server,
// also NOTARY_SERVER_DB_URL: notary-server's database (its schema applied),
// for its storage.db_url. The cluster is stopped
// and removed when COMMAND exits; withpg exits with COMMAND's status.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/trustdeck/trustdeck/internal/testpg"
)

func main() {
	args := os.Args[1:]
	notaryServer := len(args) > 0 && args[0] == "-notary-server"
	if notaryServer {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withpg [-notary-server] COMMAND [ARG...]")
		os.Exit(2)
	}
	if why := testpg.Available(); why != "" {
		fmt.Fprintln(os.Stderr, "withpg: no PostgreSQL: "+why)
		os.Exit(1)
	}
	c, err := testpg.StartCluster()
	if err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		os.Exit(1)
	}
	code := run(c, notaryServer, args)
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "withpg: stop the cluster:", err)
	}
	os.Exit(code)
}

func run(c *testpg.Cluster, notaryServer bool, args []string) int {
	url, err := c.NewDatabase("trustdeck", "trustdeck-test-pass", "trustdeck")
	if err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		return 1
	}
	env := append(os.Environ(), "TRUSTDECK_DATABASE="+url, "PATH="+c.BinDir()+":"+os.Getenv("PATH"))
	if notaryServer {
		nsURL, err := c.NotaryServerDatabase()
		if err != nil {
			fmt.Fprintln(os.Stderr, "withpg:", err)
			return 1
		}
		env = append(env, "NOTARY_SERVER_DB_URL="+nsURL)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = env
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode()
	case err != nil:
		fmt.Fprintln(os.Stderr, "withpg:", err)
		return 1
	}
	return 0
}

package interop

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/migration"
	"github.com/trustdeck/trustdeck/internal/testnotary"
)

// BenchmarkMigration migrates repositories of 100 DCT-signed tags against
// Debian's docker-registry through the API (POST /api/v1/migrations, then
// polling the run), in cosign, Notation and both formats. tags/s and
// signatures/s are the figures for closing notes; only the runs are timed
// (each op seeds a new repository first: 100 images pushed, trust data
// written into the store).
func BenchmarkMigration(b *testing.B) {
	const n = 100
	for _, formats := range [][]string{{"cosign"}, {"notation"}, {"cosign", "notation"}} {
		b.Run(strings.Join(formats, "+"), func(b *testing.B) {
			w, r := registryWorldAs(b, false, admin)
			mgGenerateKeys(b, w.s, "prod")
			admins := r.Client(admin.name, admin.pass)
			var elapsed time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				repo := fmt.Sprintf("bench%d", i)
				w.s.MustCreateRepo(b, "prod", repo)
				base := admins.PushImage(b, "prod/"+repo, "base")
				targets := map[string]string{}
				for j, m := range mgManifests(b, admins, "prod/"+repo, base, n, "t") {
					targets[fmt.Sprintf("t%03d", j)] = string(m.Raw)
				}
				gun := r.Addr + "/prod/" + repo
				built, err := testnotary.Fixture{GUN: gun, Targets: map[string]map[string]string{"targets": targets}}.Build()
				if err != nil {
					b.Fatal(err)
				}
				if err := w.s.App.Store.TUF().UpdateMany(data.GUN(gun), built.Updates()); err != nil {
					b.Fatal(err)
				}
				if p := mgGetPlan(b, w.s, admin, "prod/"+repo); p.Counts.Sign != n {
					b.Fatalf("plan: %+v", p.Counts)
				}
				b.StartTimer()
				start := time.Now()
				status, run, body := mgStartFormats(b, w.s, mgPassphrase, formats, "prod/"+repo)
				if status != http.StatusAccepted {
					b.Fatalf("start: %d %s", status, body)
				}
				if run = mgWait(b, w.s, run.ID, 10*time.Minute); run.State != migration.StateDone || run.Signed != n*len(formats) {
					b.Fatalf("run: %+v", run)
				}
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "tags/s")
			b.ReportMetric(float64(n*len(formats)*b.N)/elapsed.Seconds(), "signatures/s")
		})
	}
}

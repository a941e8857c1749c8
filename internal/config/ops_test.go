package config_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/config"
)

// TestOpsFlags: the rate limits, the metrics address and the Cache-Control
// max-ages parse from flags and the environment; bad values are refused
// with the flag's name.
func TestOpsFlags(t *testing.T) {
	c, err := config.ParseServe([]string{"--rate-login", "5/10s", "--rate-notary-read", "100/1s", "--rate-token", "off",
		"--metrics-addr", ":9090", "--notary-cache-current-max-age", "0"},
		envOf(map[string]string{"TRUSTDECK_RATE_NOTARY_WRITE": "7/1h", "TRUSTDECK_NOTARY_CACHE_CONSISTENT_MAX_AGE": "24h"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLogin != (config.Rate{N: 5, Per: 10 * time.Second}) || c.RateNotaryRead != (config.Rate{N: 100, Per: time.Second}) ||
		!c.RateToken.Off() || c.RateNotaryWrite != (config.Rate{N: 7, Per: time.Hour}) || c.MetricsAddr != ":9090" ||
		c.CurrentMaxAge != 0 || c.ConsistentMaxAge != 24*time.Hour {
		t.Errorf("parsed %+v", c)
	}
	for _, bad := range [][]string{
		{"--rate-login", "5"}, {"--rate-login", "x/1m"}, {"--rate-token", "5/0s"}, {"--rate-notary-write", "-1/1m"},
		{"--metrics-addr", "9090"}, {"--notary-cache-current-max-age", "-1s"},
		{"--notary-cache-consistent-max-age", "9000h"}, {"--notary-cache-current-max-age", "1.5s"},
	} {
		_, err := config.ParseServe(bad, envOf(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), bad[0]) && !strings.Contains(err.Error(), "invalid value") {
			t.Errorf("%v: err %v, want a refusal naming the flag", bad, err)
		}
	}
}

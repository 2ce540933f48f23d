package opt

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

var errBad = errors.New("pkg: invalid option")

const (
	forBroker Target = 1 << iota
	forClient
)

type extra struct{ credit int }

func credit(n int) Option[extra] {
	return New("WithCredit", forClient, func(c *Config[extra]) error {
		if n < 1 {
			return errors.New("below 1")
		}
		c.X.credit = n
		return nil
	})
}

func TestBuild(t *testing.T) {
	c, err := Build(Config[extra]{Interval: time.Second, Liveness: 3}, forClient, "NewClient", errBad,
		[]Option[extra]{credit(4), Heartbeat[extra](forBroker|forClient, time.Millisecond, 5)})
	if err != nil {
		t.Fatal(err)
	}
	if c.X.credit != 4 || c.Expiry() != 5*time.Millisecond || c.Log == nil {
		t.Fatalf("config %+v", c)
	}
	for name, tc := range map[string]struct {
		opt  Option[extra]
		want string
	}{
		"other constructor's": {credit(1), "WithCredit does not apply to NewBroker"},
		"zero":                {Option[extra]{}, "zero Option"},
		"out of range":        {Heartbeat[extra](forBroker, 0, 1), "WithHeartbeat"},
		"nil logger":          {Logger[extra](All, nil), "WithLogger"},
	} {
		_, err := Build(Config[extra]{}, forBroker, "NewBroker", errBad, []Option[extra]{tc.opt})
		if !errors.Is(err, errBad) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q wrapping the package's error", name, err, tc.want)
		}
	}
}

// A component given no logger logs nothing and pays nothing for the rate
// limit's counters: thousands of clients must not cost a megabyte each.
func TestBuildWithoutLoggerIsSmall(t *testing.T) {
	const n = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		if _, err := Build(Config[extra]{}, forClient, "NewClient", errBad, nil); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 16<<10 {
		t.Errorf("Build allocates %d bytes without a logger", per)
	}
	c, err := Build(Config[extra]{}, forClient, "NewClient", errBad, []Option[extra]{Logger[extra](All, zap.NewExample())})
	if err != nil || c.Log == nil {
		t.Fatalf("with a logger: %v", err)
	}
}

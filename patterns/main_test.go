package patterns_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/internal/oneframe"
)

func TestMain(m *testing.M) {
	if os.Getenv(collectorEnv) != "" {
		os.Exit(runCollector())
	}
	flag.Parse()
	if flag.Lookup("test.bench").Value.String() == "" {
		// Messages given back to the readers are overwritten, so that a
		// test sees one reused while something still reads it.
		oneframe.Poison = true
	}
	goleak.VerifyTestMain(m)
}

// wait bounds every wait in the tests: long enough for a loaded CI machine
// (ten times a stall of a second or more under -race), short enough that a
// hang fails the test instead of the run.
const wait = 20 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

var seq atomic.Uint64

// transports are the three the pipeline must run over unchanged.
var transports = []string{"inproc", "ipc", "tcp"}

// endpoint returns a fresh endpoint to bind on a transport.
func endpoint(t testing.TB, transport string) string {
	switch transport {
	case "inproc":
		return fmt.Sprintf("inproc://patterns-test-%d", seq.Add(1))
	case "ipc":
		return "ipc://" + filepath.Join(shortTempDir(t), fmt.Sprintf("s%d", seq.Add(1)))
	case "tcp":
		return "tcp://127.0.0.1:*"
	}
	t.Fatalf("unknown transport %q", transport)
	return ""
}

// shortTempDir is a temporary directory with a path short enough for a unix
// socket (108 bytes), which t.TempDir's long names can break.
func shortTempDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "zp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func sorted(s []string) []string {
	c := append([]string(nil), s...)
	slices.Sort(c)
	return c
}

package gridsearch

import (
	"context"
	"syscall"
	"time"
)

// terminatedGrace is how long a worker slot whose command died of SIGTERM,
// SIGINT or SIGHUP waits for its own end before it reports the point
// failed. A batch system (SLURM's scancel, a preemption or a time limit),
// systemd, or a terminal's hang-up signals every process of a job at once,
// the worker and its commands alike: the command often dies before the
// worker has seen its own signal, and the point, which the closing worker
// should give back for another to run, would fail instead. (A variable
// for the tests.)
var terminatedGrace = 2 * time.Second

// awaitTerminated waits, up to terminatedGrace, for ctx to end when o is
// a command killed by a signal that ends processes politely; the caller
// then sees ctx's end and gives the point back. It returns at once for
// any other outcome.
func awaitTerminated(ctx context.Context, o outcome) {
	if ctx.Err() != nil || o.Exit >= 0 || !politeSignal(o.Error) {
		return
	}
	t := time.NewTimer(terminatedGrace)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// politeSignal reports whether a command's error is os.ProcessState's
// "signal: ..." for SIGTERM, SIGINT or SIGHUP.
func politeSignal(err string) bool {
	for _, s := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		if err == "signal: "+s.String() {
			return true
		}
	}
	return false
}

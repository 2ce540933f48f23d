package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
	"github.com/zmqflow/zmqflow/telemetry/collect"
)

// Processes silent this long are dropped from /metrics and the live page's
// process list (the database keeps them).
const forgetAfter = 10 * time.Minute

// memoryLimit is the collector's soft memory limit (runtime/debug).
const memoryLimit = 192 << 20

// collector is a running zprof collect: its sockets, HTTP server and store.
type collector struct {
	c     *collect.Collector
	store *collect.Store
	pull  *socket.Socket
	pub   *socket.Socket // nil without -pub
	eps   [2]string      // the PULL's and PUB's bound endpoints
	srv   *http.Server   // nil without -http
	ln    net.Listener

	stderr io.Writer
	repMu  sync.Mutex          // one report on stderr at a time
	events <-chan socket.Event // the PULL's
	mon    chan struct{}       // closed when events is read to its end
}

// collectCmd runs the collector until ctx ends (Ctrl-C, SIGTERM), then
// flushes and closes the database.
func collectCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("collect", "-bind EP -db FILE [-http ADDR] [-pub EP]", stdout)
	bind := fs.String("bind", "", "the `EP` to bind PULL on, where programs send (tcp://*:5580)")
	dbPath := fs.String("db", "", "the SQLite database `FILE` to store into (created if missing, appended to if not)")
	httpAddr := fs.String("http", "", "the `ADDR` to serve the live page, /api/view and /metrics on (localhost:5581); none if empty")
	pubEP := fs.String("pub", "", "an `EP` to bind PUB on, re-publishing every batch for zprof top (tcp://*:5582)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the collector to `FILE` (go tool pprof)")
	if err := parse(fs, args, "bind", "db"); err != nil {
		return err
	}
	// The heap is small and mostly garbage of decoded batches: collecting
	// it less often costs a few MB and saves a good part of the CPU. Under
	// a flood the collector's limits keep what is live under 200 MB (see
	// the collect package's doc); the memory limit keeps the garbage from
	// growing to four times that, unless GOMEMLIMIT says otherwise.
	debug.SetGCPercent(400)
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	z, err := openCollector(*dbPath, *bind, *pubEP, *httpAddr, stderr)
	if err != nil {
		return err
	}
	if *profile != "" {
		// After the binds, as the database: a collector that cannot start
		// writes no file.
		stop, err := startProfile(*profile)
		if err != nil {
			z.close()
			return err
		}
		defer stop()
	}
	fmt.Fprintf(stdout, "zprof: collecting on %s", z.eps[0])
	if z.pub != nil {
		fmt.Fprintf(stdout, ", publishing on %s", z.eps[1])
	}
	if z.ln != nil {
		fmt.Fprintf(stdout, ", serving http://%s/", z.ln.Addr())
	}
	fmt.Fprintf(stdout, ", storing into %s\n", *dbPath)
	err = z.serve(ctx)
	if cerr := z.close(); err == nil {
		err = cerr
	}
	b, r, n := z.c.Stats()
	fmt.Fprintf(stdout, "zprof: %d batches (%d bytes) taken in, %d rejected\n", b, n, r)
	if d := z.c.Dropped(); d != (collect.Drops{}) {
		fmt.Fprintf(stdout, "zprof: dropped over the limits: %d points, %d processes, %d points of the live page, %d samples and tasks not stored\n",
			d.Points, d.Processes, d.Window, d.Store)
	}
	return err
}

// openCollector binds the sockets, listens for HTTP, and then opens the
// store and starts serving HTTP.
func openCollector(dbPath, bind, pubEP, httpAddr string, stderr io.Writer) (*collector, error) {
	z := &collector{stderr: stderr}
	if err := z.open(dbPath, bind, pubEP, httpAddr); err != nil {
		z.close()
		return nil, err
	}
	return z, nil
}

func (z *collector) open(dbPath, bind, pubEP, httpAddr string) error {
	var err error
	if z.pull, z.eps[0], err = bindSocket(socket.Pull, "-bind", bind, z.watch,
		socket.WithRecvBudget(receivedBytes), socket.WithMaxPeers(maxPrograms)); err != nil {
		return err
	}
	if pubEP != "" {
		if z.pub, z.eps[1], err = bindSocket(socket.Pub, "-pub", pubEP, nil, socket.WithMaxPeers(maxViewers)); err != nil {
			return err
		}
	}
	if httpAddr != "" {
		// A malformed address is a bad command line; one that cannot be
		// listened on (taken, not ours) is a failure, as a bind's.
		if _, _, err := net.SplitHostPort(httpAddr); err != nil {
			return fmt.Errorf("%w: collect: -http: %v", errUsage, err)
		}
		if z.ln, err = net.Listen("tcp", httpAddr); err != nil {
			return fmt.Errorf("-http: %w", err)
		}
	}
	// Last, so that a bind or listen that fails leaves no database behind.
	if z.store, err = collect.OpenStore(dbPath); err != nil {
		return err
	}
	z.c = collect.NewCollector(z.store)
	z.readEvents()
	if z.ln != nil {
		z.srv = &http.Server{Handler: z.c.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { // ends with close's Shutdown
			if err := z.srv.Serve(z.ln); !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(os.Stderr, "zprof: -http:", err)
			}
		}()
	}
	return nil
}

// The batches the PULL queues from each program, and the PUB for each
// zprof top: a program sends one an interval, and the PUB's queue empties
// into the kernel's as fast as it fills but for a stalled reader, so a few
// are plenty; at MaxBatchBytes each, the sockets' default (1000) would let
// one peer, too fast or never reading, queue 4 GB. Past it a program's
// PUSH waits and then drops and counts its batches (telemetry's
// batches.dropped); the PUB drops for that subscriber.
const (
	queuedBatches    = 4
	publishedBatches = 4
)

// The most zprof tops the PUB serves at once: each may hold its
// publishedBatches, so that a few stalled ones hold at most
// maxViewers x publishedBatches x MaxBatchBytes (256 MiB) between them,
// and in practice the few small batches of the last seconds. One more is
// refused as it connects, and its SUB tries again.
const maxViewers = 16

// What the PULL holds from all programs together. The high-water mark
// bounds each program's queue, not their number: many programs sending
// faster than the collector decodes would otherwise each queue theirs, 20
// MiB apiece. At the budget a program's connection is not read until the
// collector has decoded some of what waits, and its PUSH waits as at the
// mark. Each program connected costs its connection beside (about 18 KB
// idle, and a read buffer of 64 KiB while it sends fast), which the bound
// on programs bounds: 1,024 programs, 64 MiB of batches and one batch
// over it, about 160 MB at most together.
const receivedBytes = 64 << 20

var maxPrograms = 1024 // a variable for the tests

// bindSocket makes a socket that takes batches up to MaxBatchBytes, with
// opts besides, and binds it, after handing it to watch if not nil; a bad
// endpoint is a usage error.
func bindSocket(typ socket.Type, flag, ep string, watch func(*socket.Socket), opts ...socket.Option) (*socket.Socket, string, error) {
	opts = append([]socket.Option{socket.WithMaxMsgSize(telemetry.MaxBatchBytes), socket.WithLinger(0),
		socket.WithRecvHWM(queuedBatches), socket.WithSendHWM(publishedBatches)}, opts...)
	s, err := socket.New(typ, opts...)
	if err != nil {
		return nil, "", err
	}
	if watch != nil {
		watch(s)
	}
	bound, err := s.Bind(ep)
	if err != nil {
		s.Close()
		if errors.Is(err, socket.ErrBadEndpoint) {
			return nil, "", fmt.Errorf("%w: collect: %s: %v", errUsage, flag, err)
		}
		return nil, "", fmt.Errorf("%s: %w", flag, err)
	}
	return s, bound, nil
}

// watch reads the PULL's connection events until it closes: a batch over
// MaxBatchBytes never reaches Recv, the socket ends its sender's
// connection on its frame header, and this is where it is seen, counted
// and reported as rejected; and where a program refused beyond
// maxPrograms is reported.
func (z *collector) watch(s *socket.Socket) { z.events = s.Monitor() }

// readEvents starts reading the PULL's events, once there is a Collector
// to count into.
func (z *collector) readEvents() {
	z.mon = make(chan struct{})
	go func() { // ends when close closes the socket
		defer close(z.mon)
		var refused uint64
		for e := range z.events {
			switch {
			case errors.Is(e.Err, socket.ErrTooLarge):
				z.report(z.c.Reject(), fmt.Errorf("from %s: %w", e.Remote, e.Err))
			case errors.Is(e.Err, socket.ErrPeerLimit):
				// Said as rejections are: a program refused tries again
				// and again, each time a line.
				if refused++; refused <= 8 || bits.OnesCount64(refused) == 1 {
					z.say("zprof: program at %s refused (%d so far): %d programs connected already, the most taken in at once\n", e.Remote, refused, maxPrograms)
				}
			}
		}
	}()
}

// report says on stderr that a batch was rejected, the r-th: the first
// few and then at each power of two, so that a hostile or broken sender
// cannot flood the log.
func (z *collector) report(r uint64, err error) {
	if r <= 8 || bits.OnesCount64(r) == 1 {
		z.say("zprof: batch rejected (%d so far): %v\n", r, err)
	}
}

// say writes a line on stderr, one at a time: the events' goroutine and
// serve both report.
func (z *collector) say(format string, args ...any) {
	z.repMu.Lock()
	defer z.repMu.Unlock()
	fmt.Fprintf(z.stderr, format, args...)
}

// serve takes in batches until ctx ends, re-publishing each one taken in.
// Rejected batches are reported on stderr, the first few and then at each
// power of two, so that a hostile or broken sender cannot flood the log.
func (z *collector) serve(ctx context.Context) error {
	lastForget := time.Now()
	storeFailed := false
	for {
		// A minute at most, so that silent processes are forgotten and a
		// failing store reported when no batch comes at all.
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		m, err := z.pull.Recv(rctx)
		idle := rctx.Err() != nil
		cancel()
		if err != nil && !idle {
			return err
		}
		now := time.Now()
		if now.Sub(lastForget) > time.Minute {
			z.c.Forget(now.Add(-forgetAfter))
			lastForget = now
			if err := z.store.Err(); err != nil && !storeFailed {
				z.say("zprof: %v (still trying)\n", err)
				storeFailed = true
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if idle {
			continue
		}
		if r, err := z.c.Ingest(m, now); err != nil {
			z.report(r, err) // r is this batch's count: the events' goroutine rejects too
			continue
		}
		if z.pub != nil {
			z.pub.TrySend(m) // a PUB drops for a slow subscriber, never waits
		}
	}
}

// close stops serving, closes the sockets, and flushes and closes the
// store.
func (z *collector) close() error {
	if z.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		z.srv.Shutdown(ctx)
		cancel()
	} else if z.ln != nil { // listening, but the store failed to open
		z.ln.Close()
	}
	for _, s := range []*socket.Socket{z.pull, z.pub} {
		if s != nil {
			s.Close()
		}
	}
	if z.mon != nil {
		<-z.mon
	}
	if z.store == nil {
		return nil
	}
	return z.store.Close()
}

// startProfile starts a CPU profile into path; stop ends it.
func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

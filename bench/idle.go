package main

// The idle measurement: what an idle peer costs in memory. One process binds
// a ROUTER; another opens -size DEALERs that each connect and send one short
// message. Once the ROUTER has a message from every peer (so every handshake
// is done) and has been idle for a second, both processes report the growth
// of their resident memory since before the peers existed.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// idleRouter binds a ROUTER, waits for one message from each of a.size peers,
// idles a second and reports its resident memory before and after.
func idleRouter(a peerArgs) error {
	if err := raiseFDLimit(a.size); err != nil {
		return err
	}
	return withSocket(a, "router", true, func(s sock) error {
		// withSocket has printed READY: no peer can have connected before
		// this reading, as the command starts them only on READY.
		before, err := vmRSS()
		if err != nil {
			return err
		}
		start := time.Now()
		for n := 0; n < a.size; n++ {
			if _, err := s.RecvMsg(); err != nil {
				return fmt.Errorf("recv %d: %w", n, err)
			}
		}
		elapsed := time.Since(start)
		time.Sleep(time.Second)
		after, err := vmRSS()
		if err != nil {
			return err
		}
		return report(result{Msgs: uint64(a.size), Seconds: elapsed.Seconds(), RSSBeforeKB: before, RSSAfterKB: after})
	})
}

// idleDealers opens a.size DEALERs, each connected to a.ep with one message
// sent, and reports its resident memory before and once the command says
// (a line on stdin) that the ROUTER has heard from all of them and idled.
func idleDealers(a peerArgs) error {
	if err := raiseFDLimit(a.size); err != nil {
		return err
	}
	before, err := vmRSS()
	if err != nil {
		return err
	}
	if a.impl.reserve != nil {
		if err := a.impl.reserve(a.size); err != nil {
			return err
		}
	}
	var socks []sock
	defer func() {
		for _, s := range socks {
			s.Close()
		}
		closeWarn(a, a.impl.finish())
	}()
	body := []byte("hello")
	start := time.Now()
	for n := 0; n < a.size; n++ {
		s, err := a.impl.open("dealer", false)
		if err != nil {
			return fmt.Errorf("socket %d: %w", n, err)
		}
		socks = append(socks, s)
		if err := s.Connect(a.ep); err != nil {
			return fmt.Errorf("connect %d: %w", n, err)
		}
		// DEALER queues before the connection is up (ours and libzmq alike).
		if err := s.Send(body); err != nil {
			return fmt.Errorf("send %d: %w", n, err)
		}
	}
	elapsed := time.Since(start)
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for the command: %w", err)
	}
	after, err := vmRSS()
	if err != nil {
		return err
	}
	if err := report(result{Msgs: uint64(a.size), Seconds: elapsed.Seconds(), RSSBeforeKB: before, RSSAfterKB: after}); err != nil {
		return err
	}
	a.waitRelease()
	return nil
}

// vmRSS returns the process's resident memory in KB (VmRSS, /proc/self/status).
func vmRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(l, []byte("VmRSS:")); ok {
			return strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}

// raiseFDLimit makes sure the process may open n peers' descriptors: a tcp
// connection each, and with libzmq a mailbox descriptor per socket as well.
// Go raises the soft limit to the hard one at start-up; this says so plainly
// if even that is too low.
func raiseFDLimit(n int) error {
	need := uint64(2*n + 64)
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Cur >= need {
		return nil
	}
	if rl.Max < need {
		return fmt.Errorf("open file limit %d, need %d for %d peers (ulimit -Hn)", rl.Max, need, n)
	}
	rl.Cur = rl.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
}

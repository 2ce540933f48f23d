package socket_test

// Stress in the spirit of libzmq's test_many_sockets and
// test_shutdown_stress: many sockets made, connected and closed at once, and
// many connections made and dropped against one socket. Nothing may be lost
// or duplicated, and file descriptors and goroutines must come back to where
// they were.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/zmqflow/zmqflow/socket"
)

// 1,000 PUSH sockets, over inproc, ipc and tcp, each made, connected, sent
// from and closed at the same time as the others: the three PULLs get every
// message once, and nothing is left behind.
func TestStressManySockets(t *testing.T) {
	const n = 1000
	fds, goroutines := openFDs(t), runtime.NumGoroutine()
	var pulls []*tsock
	var eps []string
	for _, tr := range transports {
		pull := openSock(t, socket.Pull)
		eps = append(eps, pull.bind(tr.endpoint(t)))
		pulls = append(pulls, pull)
	}
	var g errgroup.Group
	for i := range n {
		g.Go(func() error {
			push, err := socket.New(socket.Push)
			if err != nil {
				return err
			}
			if err := push.Connect(eps[i%len(eps)]); err != nil {
				push.Close()
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			if err := push.Send(ctx, socket.NewMsgString(strconv.Itoa(i))); err != nil {
				push.Close()
				return fmt.Errorf("push %d: %w", i, err)
			}
			return push.Close() // lingers until the message is out
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, n)
	for k, pull := range pulls {
		for j := k; j < n; j += len(pulls) {
			m := pull.recv()
			i, err := strconv.Atoi(m[0])
			if err != nil || i < 0 || i >= n || i%len(pulls) != k || seen[i] {
				t.Fatalf("%s got %q: not one of its messages, or a second time", eps[k], m)
			}
			seen[i] = true
		}
	}
	for _, pull := range pulls {
		must(t, pull.Close())
	}
	waitBaseline(t, fds, goroutines)
}

// 50,000 connections made and dropped against one socket, from eight
// goroutines at once: some close before saying anything, some after the
// greeting, some after a full handshake. The socket goes on serving, and
// file descriptors and goroutines come back to where they were.
func TestStressConnectClose(t *testing.T) {
	cycles := 50000
	if testing.Short() {
		cycles = 5000
	}
	pull := openSock(t, socket.Pull)
	tcpEP := pull.bind("tcp://127.0.0.1:*")
	ipcEP := pull.bind("ipc://" + ipcPath(t))
	go func() { // the monitor is not the point here: keep it drained
		for range pull.mon {
		}
	}()
	fds, goroutines := openFDs(t), runtime.NumGoroutine()

	var g errgroup.Group
	const workers = 8
	for w := range workers {
		g.Go(func() error {
			for i := w; i < cycles; i += workers {
				// Mostly ipc: tcp leaves each closed port in TIME_WAIT.
				network, addr := "unix", strings.TrimPrefix(ipcEP, "ipc://")
				if i%10 == 0 {
					network, addr = "tcp", strings.TrimPrefix(tcpEP, "tcp://")
				}
				c, err := dialRetry(network, addr)
				if err != nil {
					return fmt.Errorf("cycle %d: %w", i, err)
				}
				switch i % 3 {
				case 1:
					c.Write(zmtpGreeting("NULL", false))
				case 2:
					c.Write(cat(zmtpGreeting("NULL", false), zmtpCommand("READY", zmtpProps("Socket-Type", "PUSH")),
						zmtpFrame(0, []byte("cycle "+strconv.Itoa(i)))))
				}
				c.Close()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	push := openSock(t, socket.Push)
	push.connect(tcpEP)
	push.send("still here")
	for {
		m := pull.recv()
		if m[0] == "still here" {
			break
		}
		if !strings.HasPrefix(m[0], "cycle ") {
			t.Fatalf("got %q", m)
		}
	}
	must(t, push.Close())
	waitBaseline(t, fds, goroutines)
}

// dialRetry dials, and dials again while a unix socket's backlog is full
// (EAGAIN: the accept loop is behind), for up to waitLimit.
func dialRetry(network, addr string) (net.Conn, error) {
	deadline := time.Now().Add(waitLimit)
	for {
		c, err := net.DialTimeout(network, addr, waitLimit)
		if err == nil || !errors.Is(err, syscall.EAGAIN) || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(time.Millisecond)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// waitBaseline waits until file descriptors and goroutines are back to at
// most what they were; connections end asynchronously, so it polls, within
// waitLimit.
func waitBaseline(t *testing.T, fds, goroutines int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		f, g := openFDs(t), runtime.NumGoroutine()
		if f <= fds && g <= goroutines {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("after %v: %d file descriptors (was %d), %d goroutines (was %d):\n%s",
				waitLimit, f, fds, g, goroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

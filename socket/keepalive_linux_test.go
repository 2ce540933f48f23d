package socket

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

// keepAliveOf reads the keep-alive settings of a tcp connection from the
// kernel: on or off, idle, interval (seconds) and count.
func keepAliveOf(t *testing.T, nc net.Conn) (on bool, idle, intvl, cnt int) {
	t.Helper()
	raw, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var errs [4]error
	var v [4]int
	err = raw.Control(func(fd uintptr) {
		v[0], errs[0] = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		v[1], errs[1] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		v[2], errs[2] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
		v[3], errs[3] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return v[0] != 0, v[1], v[2], v[3]
}

// testConn returns the one established connection of a socket's binds and
// connects. A message has crossed it, so both ends have it in their sets:
// each promotes a connection before it reads or writes.
func (s *Socket) testConn(t *testing.T) net.Conn {
	t.Helper()
	s.mu.RLock()
	sets := make([]*connSet, 0, len(s.binds)+len(s.dials))
	for k, b := range s.binds {
		if k == b.endpoint { // also filed under the endpoint as given
			sets = append(sets, &b.set)
		}
	}
	for _, d := range s.dials {
		sets = append(sets, &d.set)
	}
	s.mu.RUnlock()
	var ncs []net.Conn
	for _, cs := range sets {
		cs.mu.Lock()
		for c := range cs.conns {
			ncs = append(ncs, c.nc)
		}
		cs.mu.Unlock()
	}
	if len(ncs) != 1 {
		t.Fatalf("%v has %d connections, want 1", s.Type(), len(ncs))
	}
	return ncs[0]
}

// WithTCPKeepAlive sets the kernel's keep-alive on accepted and dialled
// connections, or turns it off.
func TestTCPKeepAlive(t *testing.T) {
	cfg := net.KeepAliveConfig{Enable: true, Idle: 7 * time.Second, Interval: 3 * time.Second, Count: 4}
	for _, c := range []struct {
		name string
		cfg  net.KeepAliveConfig
		on   bool
	}{
		{"on", cfg, true},
		{"off", net.KeepAliveConfig{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			pull, err := New(Pull, WithTCPKeepAlive(c.cfg))
			if err != nil {
				t.Fatal(err)
			}
			defer pull.Close()
			ep, err := pull.Bind("tcp://127.0.0.1:*")
			if err != nil {
				t.Fatal(err)
			}
			push, err := New(Push, WithTCPKeepAlive(c.cfg))
			if err != nil {
				t.Fatal(err)
			}
			defer push.Close()
			if err := push.Connect(ep); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := push.Send(ctx, Msg{[]byte("x")}); err != nil {
				t.Fatal(err)
			}
			if _, err := pull.Recv(ctx); err != nil { // both ends are up
				t.Fatal(err)
			}
			for _, s := range []*Socket{pull, push} {
				nc := s.testConn(t)
				on, idle, intvl, cnt := keepAliveOf(t, nc)
				if on != c.on {
					t.Errorf("%v: keep-alive %v, want %v", s.Type(), on, c.on)
				}
				if c.on && (idle != 7 || intvl != 3 || cnt != 4) {
					t.Errorf("%v: keep-alive idle %d s, interval %d s, count %d; want 7, 3, 4", s.Type(), idle, intvl, cnt)
				}
			}
		})
	}
}

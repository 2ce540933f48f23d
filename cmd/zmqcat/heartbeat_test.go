package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/internal/pyzmq"
)

// TestLibzmqHeartbeatTTL: zmqcat -heartbeat IVL,TIMEOUT,TTL announces TTL in
// its PINGs, and libzmq honours it: once zmqcat is frozen (SIGSTOP), the
// libzmq PULL, which has no heartbeats of its own, drops it after 1 s. The
// 10 s timeout is zmqcat's own and plays no part.
//
// libzmq arms the TTL at a PING and disarms it at whatever comes next, so
// zmqcat must be frozen after a PING and before another message. zmqcat sends
// its first PING an interval after the handshake: a spy between the two
// reads the frames zmqcat sends, to freeze it once a PING follows the message.
func TestLibzmqHeartbeatTTL(t *testing.T) {
	pull := pyzmq.Socket(t, "PULL", "--bind", "tcp://127.0.0.1:*")
	ctx := testContext(t)
	frames := spyZMTP(t, pull.Endpoint())
	push := start(t, ctx, nil, "-t", "push", "-connect", frames.endpoint, "-heartbeat", "100ms,10s,1s")
	t.Cleanup(func() { // before start's, which kills it and waits
		push.cmd.Process.Signal(syscall.SIGCONT)
		push.cmd.Process.Kill()
	})
	push.write("hello\n")

	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := pull.WaitEvent(wait, "HANDSHAKE_SUCCEEDED"); err != nil {
		t.Fatalf("%v; zmqcat stderr %q", err, push.stderr())
	}
	if m, err := pull.Recv(wait); err != nil || len(m) != 1 || string(m[0]) != "hello" {
		t.Fatalf("libzmq received %q, %v", m, err)
	}
	// The frames zmqcat sent, in order: the message, then a PING, which says
	// what -heartbeat said.
	for f := frames.next(t, wait); f.command != ""; f = frames.next(t, wait) {
	}
	f := frames.next(t, wait)
	if f.command != "PING" || f.ttl != 10 {
		t.Fatalf("after the message zmqcat sent %+v, want a PING with a TTL of 10 tenths of a second", f)
	}
	push.signal(syscall.SIGSTOP)
	if _, err := pull.WaitEvent(wait, "DISCONNECTED"); err != nil {
		t.Fatalf("libzmq did not drop the frozen zmqcat: %v", err)
	}
}

// zmtpFrame is a frame zmqcat sent: a command (with a PING's TTL, in tenths
// of a second), or a message frame (command "").
type zmtpFrame struct {
	command string
	ttl     uint16
}

// zmtpSpy forwards one TCP connection to a ZMTP endpoint and reports the
// frames the connecting side sends, in order. It never holds the traffic
// up: frames beyond what the channel holds are not reported.
type zmtpSpy struct {
	endpoint string // where to connect instead
	frames   chan zmtpFrame
	err      chan error
}

func spyZMTP(t *testing.T, target string) *zmtpSpy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	s := &zmtpSpy{endpoint: "tcp://" + ln.Addr().String(), frames: make(chan zmtpFrame, 1000), err: make(chan error, 1)}
	go func() {
		s.err <- s.run(ln, target[len("tcp://"):], done)
	}()
	t.Cleanup(func() {
		close(done)
		ln.Close()
	})
	return s
}

func (s *zmtpSpy) run(ln net.Listener, addr string, done <-chan struct{}) error {
	down, err := ln.Accept()
	if err != nil {
		return err
	}
	defer down.Close()
	up, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer up.Close()
	go func() {
		<-done
		down.Close()
		up.Close()
	}()
	go io.Copy(down, up)
	// What is read from zmqcat is forwarded as it is read; then parsed.
	r := bufio.NewReader(io.TeeReader(down, up))
	if _, err := io.ReadFull(r, make([]byte, 64)); err != nil { // the greeting
		return err
	}
	for {
		flags, err := r.ReadByte()
		if err != nil {
			return err
		}
		var size uint64
		if flags&0x02 != 0 { // long frame
			err = binary.Read(r, binary.BigEndian, &size)
		} else {
			var b byte
			b, err = r.ReadByte()
			size = uint64(b)
		}
		if err != nil {
			return err
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		var f zmtpFrame
		if flags&0x04 != 0 { // command: name size, name, data
			if len(body) < 1 || len(body) < 1+int(body[0]) {
				return fmt.Errorf("bad command frame %q", body)
			}
			f.command = string(body[1 : 1+body[0]])
			if f.command == "PING" && len(body) >= 7 {
				f.ttl = binary.BigEndian.Uint16(body[5:7])
			}
		}
		select {
		case s.frames <- f:
		default:
		}
	}
}

// next is the next frame zmqcat sent.
func (s *zmtpSpy) next(t *testing.T, ctx context.Context) zmtpFrame {
	t.Helper()
	select {
	case f := <-s.frames:
		return f
	case err := <-s.err:
		t.Fatalf("spy: %v", err)
	case <-ctx.Done():
		t.Fatal("spy: no frame from zmqcat in time")
	}
	return zmtpFrame{}
}

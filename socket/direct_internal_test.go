package socket

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// tryWrite never waits: on a tcp or ipc connection whose peer does not read,
// it takes what the kernel accepts, keeps the rest at the front of the
// buffer, and reports which case it met; the bytes then read at the peer are
// exactly those written, in order, once the rest is flushed.
func TestTryWriteKeepsWhatTheKernelRefused(t *testing.T) {
	for _, kind := range []string{"tcp", "ipc"} {
		t.Run(kind, func(t *testing.T) {
			c, peer := smallBufferPair(t, kind)
			size := func(i int) int { return 100 + i%300 }
			if kind == "ipc" {
				// A unix socket takes a write in pieces of up to half its
				// buffer, and refuses a small one whole: only a large
				// record can be taken in part.
				size = func(i int) int { return 100 + i%300 + i%5/4*10_000 }
			}
			tryWriteKeepsWhatTheKernelRefused(t, c, peer, size)
		})
	}
}

// smallBufferPair returns the two ends of a tcp connection, or of an ipc
// connection as the socket runs it (adoptConn), with small kernel buffers
// so that they fill soon.
func smallBufferPair(t *testing.T, kind string) (c, peer net.Conn) {
	addr := "127.0.0.1:0"
	if kind == "ipc" {
		kind, addr = "unix", shortTempPath(t)
	}
	ln, err := net.Listen(kind, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err = net.Dial(kind, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer = <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	c, peer = adoptConn(c), adoptConn(peer)
	t.Cleanup(func() { c.Close(); peer.Close() })
	for _, b := range []struct {
		c   net.Conn
		opt int
	}{{c, syscall.SO_SNDBUF}, {peer, syscall.SO_RCVBUF}} {
		rc, err := b.c.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, b.opt, 4096) })
	}
	return c, peer
}

// shortTempPath is a path for a unix socket, removed after the test: short,
// since a socket's path has at most 107 bytes.
func shortTempPath(t *testing.T) string {
	d, err := os.MkdirTemp("", "zf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Join(d, "s")
}

func tryWriteKeepsWhatTheKernelRefused(t *testing.T, c, peer net.Conn, size func(int) int) {
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}

	var b writeBuf
	b.init(c)
	var sent, got bytes.Buffer // what the kernel took, in order; what the peer read
	readSome := func() {       // frees room, as a peer reading slowly does
		buf := make([]byte, 1000)
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got.Write(buf[:n])
	}
	refused := 0
	for i := 0; len(b.buf) == 0; i++ { // until the kernel takes part of a record
		if i == 100_000 {
			t.Fatal("no write was ever partial")
		}
		r := bytes.Repeat([]byte{byte(i)}, size(i))
		b.buf = append(b.buf, r...)
		switch b.tryWrite(rc) {
		case writeNone:
			b.buf = b.buf[:0] // refused whole: the message would be queued instead
			refused++
			readSome()
		case writePart:
			sent.Write(r[:len(r)-len(b.buf)])
		case writeAll:
			sent.Write(r)
		}
	}
	sent.Write(b.buf)
	want := sent.Bytes()
	done := make(chan error, 1)
	go func() { done <- b.flush() }() // the writer's blocking send of the remainder
	rest := make([]byte, len(want)-got.Len())
	if _, err := io.ReadFull(peer, rest); err != nil {
		t.Fatal(err)
	}
	got.Write(rest)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("the peer read %d bytes that differ from the %d written", got.Len(), len(want))
	}
	t.Logf("%d bytes, %d writes refused whole", len(want), refused)
}

// A write-through that meets full kernel buffers falls back (the message is
// left for the queue) or leaves its remainder to the writer; either way the
// peer gets exactly the messages written through, whole and in order.
func TestWriteThroughFallsBackWhenFull(t *testing.T) {
	t.Run("tcp", func(t *testing.T) { writeThroughFallsBackWhenFull(t, "tcp://127.0.0.1:*") })
	t.Run("ipc", func(t *testing.T) { writeThroughFallsBackWhenFull(t, "ipc://"+shortTempPath(t)) })
	// inproc never writes through
}

func writeThroughFallsBackWhenFull(t *testing.T, endpoint string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := New(Dealer)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Dealer, WithRecvHWM(1))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ep, err := a.Bind(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(ctx, NewMsgString("hello")); err != nil { // a learns its peer
		t.Fatal(err)
	}
	if _, err := a.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	a.mu.RLock()
	p := a.pipes[0]
	a.mu.RUnlock()
	// The connection's reader can hand over "hello" before its writer has
	// started and offered the connection for writing through.
	c := p.direct.Load()
	for c == nil {
		if ctx.Err() != nil {
			t.Fatal("no connection serving the pipe")
		}
		time.Sleep(time.Millisecond) // no event tells of it
		c = p.direct.Load()
	}

	// b never reads until the kernel refuses a write-through.
	var through [][]byte
	refused := false
	for i := 0; !refused; i++ {
		if i == 1_000_000 {
			t.Fatal("the kernel's buffers never filled")
		}
		m := reply(i)
		p.heard.Store(true)
		if c.tryDirect(Msg{m}) {
			through = append(through, m)
		} else {
			refused = true
		}
	}
	for n, want := range through {
		m, err := b.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d of %d: %v", n, len(through), err)
		}
		if len(m) != 1 || !bytes.Equal(m[0], want) {
			t.Fatalf("message %d of %d differs", n, len(through))
		}
	}
	t.Logf("%d messages written through before a refusal", len(through))
}

// reply i is its number, then filler, small enough to write through.
func reply(i int) []byte {
	r := make([]byte, 8+i%300)
	binary.BigEndian.PutUint64(r, uint64(i))
	for j := 8; j < len(r); j++ {
		r[j] = byte(i + j)
	}
	return r
}

// A sender that took a connection to write through just before its peer
// left, and writes after the pipe's queue was discarded, must not take the
// message: a Send that found the pipe still listed tries the other peers,
// or waits, as when its queue refuses a put. Were it let by, the dead
// connection would refuse the write and the message would be discarded
// though the Send succeeded.
func TestWriteThroughRefusedOncePipeLeft(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := New(Push, WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Pull, WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	events := a.Monitor()
	ep, err := a.Bind("tcp://127.0.0.1:*")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(ep); err != nil {
		t.Fatal(err)
	}
	var p *pipe
	var c *conn
	for c == nil { // no event tells that the writer offers the connection
		if ctx.Err() != nil {
			t.Fatal("no connection serving the pipe")
		}
		a.mu.RLock()
		if len(a.pipes) > 0 {
			p = a.pipes[0]
			c = p.direct.Load()
		}
		a.mu.RUnlock()
		time.Sleep(time.Millisecond)
	}
	c.close() // the connection ends; the bound side's pipe leaves with it
	for left := false; !left; {
		select {
		case e := <-events:
			left = e.Kind == EventDisconnected
		case <-ctx.Done():
			t.Fatal("the pipe never left")
		}
	}
	p.heard.Store(true) // as if the peer had just spoken
	before := a.Stats()
	if c.tryDirect(NewMsgString("late")) {
		t.Error("a write-through was let by a pipe that had left")
	}
	p.heard.Store(true)
	if p.trySend(NewMsgString("late")) {
		t.Error("trySend took a message for a pipe that had left")
	}
	after := a.Stats()
	if after.Discarded != before.Discarded || after.Sent != before.Sent {
		t.Errorf("Discarded %d -> %d, Sent %d -> %d: a message refused must be neither", before.Discarded, after.Discarded, before.Sent, after.Sent)
	}
}

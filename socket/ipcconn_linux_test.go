package socket

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ipcPair returns both ends of an ipc connection as the socket runs them.
func ipcPair(t *testing.T) (a, b *ipcConn) {
	t.Helper()
	x, y := smallBufferPair(t, "ipc")
	a, ok := x.(*ipcConn)
	b, ok2 := y.(*ipcConn)
	if !ok || !ok2 {
		t.Fatalf("adoptConn gave %T and %T, not *ipcConn", x, y)
	}
	return a, b
}

// Streams larger than the kernel's buffers, both ways at once, with a slow
// reader on one side: every Write waits for room when it must, and each side
// reads exactly the bytes the other wrote, in order.
func TestIPCConnStreamsBothWays(t *testing.T) {
	a, b := ipcPair(t)
	const size = 4 << 20
	data := func(seed byte) []byte {
		p := make([]byte, size)
		for i := range p {
			p[i] = seed + byte(i*7) + byte(i>>12)
		}
		return p
	}
	ab, ba := data(1), data(2)
	errs := make(chan error, 4)
	write := func(c *ipcConn, p []byte) {
		for len(p) > 0 {
			n := min(len(p), 100_000)
			if k, err := c.Write(p[:n]); err != nil || k != n {
				errs <- errors.Join(err, errors.New("short write"))
				return
			}
			p = p[n:]
		}
		errs <- nil
	}
	read := func(c *ipcConn, want []byte, chunk int) {
		got := make([]byte, 0, len(want))
		buf := make([]byte, chunk)
		for len(got) < len(want) {
			n, err := c.Read(buf)
			if err != nil {
				errs <- err
				return
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, want) {
			errs <- errors.New("the bytes read differ from those written")
			return
		}
		errs <- nil
	}
	go write(a, ab)
	go write(b, ba)
	go read(b, ab, 97) // slow: small reads, so a's writes wait for room
	go read(a, ba, 64<<10)
	timeout := time.After(60 * time.Second)
	for range 4 {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("the streams did not finish in 60 s")
		}
	}
}

// Close ends a Read waiting for input and a Write waiting for room, with
// net.ErrClosed, and later calls fail the same way.
func TestIPCConnCloseEndsWaits(t *testing.T) {
	a, _ := ipcPair(t)    // nothing is sent to a
	b, peer := ipcPair(t) // peer never reads
	readErr := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 10))
		readErr <- err
	}()
	writeErr := make(chan error, 1)
	go func() {
		_, err := b.Write(make([]byte, 16<<20)) // far more than the buffers hold
		writeErr <- err
	}()
	waitQueued(t, peer) // b is writing, and soon waiting for room
	a.Close()
	b.Close()
	for name, ch := range map[string]chan error{"read": readErr, "write": writeErr} {
		select {
		case err := <-ch:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("the waiting %s ended with %v, want net.ErrClosed", name, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("Close did not end the waiting %s", name)
		}
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("a second Close: %v", err)
	}
}

// waitQueued waits, within a bound, until input is queued at c's socket.
func waitQueued(t *testing.T, c *ipcConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		n := 0
		c.sockRC.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		if n > 0 {
			return
		}
		time.Sleep(time.Millisecond) // a kernel counter: there is no event to await
	}
	t.Fatal("no input reached the connection")
}

// The deadlines end a Read waiting for input and a Write waiting for room
// with os.ErrDeadlineExceeded; the connection works again once they are
// cleared.
func TestIPCConnDeadlines(t *testing.T) {
	a, b := ipcPair(t)
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := a.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v", err)
	}
	b.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	n, err := b.Write(make([]byte, 16<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past its deadline: %v", err)
	}
	if n == 0 || n == 16<<20 {
		t.Fatalf("Write reported %d bytes written before its deadline", n)
	}
	a.SetDeadline(time.Time{})
	b.SetDeadline(time.Time{})
	// What was written before the deadline is all there, and more goes.
	go b.Write([]byte("end"))
	got := 0
	buf := make([]byte, 64<<10)
	for got < n+3 {
		k, err := a.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += k
	}
	if got != n+3 {
		t.Fatalf("read %d bytes, want %d", got, n+3)
	}
}

// A peer that closes is io.EOF to the reader, after what it sent.
func TestIPCConnEOF(t *testing.T) {
	a, b := ipcPair(t)
	if _, err := b.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	b.Close()
	got, err := io.ReadAll(a)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "last words" {
		t.Fatalf("read %q", got)
	}
}

// Each connection holds three descriptors (the socket and two epoll
// instances) and gives all of them back on Close.
func TestIPCConnDescriptorsBack(t *testing.T) {
	before := openFDs(t)
	for range 50 {
		a, b := ipcPair(t)
		a.Close()
		b.Close()
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d descriptors open before, %d after 50 connections closed", before, after)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

package socket_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// zmtpRelay is a tcp relay between a client and the server at target that
// parses the ZMTP stream (the greeting, then frames) both ways, records
// every byte, counts the frames, and may tamper with them. Direction 0 is
// client to server, 1 server to client.
type zmtpRelay struct {
	t      *testing.T
	ln     net.Listener
	target string
	// tamper, if set, returns the frames (header and body, as read) to
	// forward in place of frame n (0-based, after the greeting) of
	// connection conn in direction dir.
	tamper func(conn, dir, n int, frame []byte) [][]byte

	mu      sync.Mutex
	seen    [2]bytes.Buffer
	frames  [2]int // over all connections
	changed chan struct{}
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newRelay(t *testing.T, target string) *zmtpRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &zmtpRelay{t: t, ln: ln, target: strings.TrimPrefix(target, "tcp://"), changed: make(chan struct{}, 1)}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.close)
	return r
}

// endpoint is where clients connect.
func (r *zmtpRelay) endpoint() string { return "tcp://" + r.ln.Addr().String() }

func (r *zmtpRelay) close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *zmtpRelay) accept() {
	defer r.wg.Done()
	for n := 0; ; n++ {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, s)
		r.mu.Unlock()
		r.wg.Add(2)
		go r.pipe(n, 0, c, s)
		go r.pipe(n, 1, s, c)
	}
}

func (r *zmtpRelay) pipe(conn, dir int, from, to net.Conn) {
	defer r.wg.Done()
	defer from.Close()
	defer to.Close()
	greeting := make([]byte, 64)
	if _, err := io.ReadFull(from, greeting); err != nil {
		return
	}
	r.record(dir, greeting, false)
	if _, err := to.Write(greeting); err != nil {
		return
	}
	for n := 0; ; n++ {
		hdr := make([]byte, 2, 9)
		if _, err := io.ReadFull(from, hdr); err != nil {
			return
		}
		size := uint64(hdr[1])
		if hdr[0]&0x02 != 0 {
			hdr = hdr[:9]
			if _, err := io.ReadFull(from, hdr[2:]); err != nil {
				return
			}
			size = binary.BigEndian.Uint64(hdr[1:])
		}
		if size > 64<<20 {
			return
		}
		frame := make([]byte, len(hdr)+int(size))
		copy(frame, hdr)
		if _, err := io.ReadFull(from, frame[len(hdr):]); err != nil {
			return
		}
		out := [][]byte{frame}
		if r.tamper != nil {
			out = r.tamper(conn, dir, n, frame)
		}
		for _, f := range out {
			if _, err := to.Write(f); err != nil {
				return
			}
		}
		r.record(dir, frame, true)
	}
}

func (r *zmtpRelay) record(dir int, b []byte, frame bool) {
	r.mu.Lock()
	r.seen[dir].Write(b)
	if frame {
		r.frames[dir]++
	}
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// awaitFrames waits until n frames have passed in direction dir.
func (r *zmtpRelay) awaitFrames(dir, n int) {
	r.t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		r.mu.Lock()
		got := r.frames[dir]
		r.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-r.changed:
		case <-timer.C:
			r.t.Fatalf("relay: %d frames in direction %d, want %d", got, dir, n)
		}
	}
}

// bytesSeen returns everything that passed in direction dir.
func (r *zmtpRelay) bytesSeen(dir int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.seen[dir].Bytes())
}

package oneframe

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// Recycling. A socket's connection readers make their small one-frame
// messages with a Cache each, over the socket's List; a consumer that has
// decoded some of them and keeps nothing of them (package patterns' inbox,
// after a codec that copies out of the frame) gives them back to that List
// with Recycle, and the readers' next messages reuse them. A pipeline of
// small messages then allocates little on its receiving side, and its GC
// runs that much less often. A Cache takes from its List a batch at a
// time and Recycle gives back under one lock, so that neither side takes a
// lock per message; the List is the socket's, so that only its reader and
// its consumer share it.
//
// A message given back is kept as its slice header, holding its frame at
// the frame's full capacity: what is reused is only ever the memory that
// the message's own slices cover, so that nothing is written outside them
// whatever a message given back was.

// ReadersList, set by package socket, returns the List of sock (a
// *socket.Socket) if every message it receives was made by one of its
// connections' readers, and nil if it may receive an inproc peer's
// messages: those are the sender's own, which it may still read. Only the
// messages of a socket with a List may be given back to it.
var ReadersList func(sock any) *List

// hdr is the offset of a message struct's bytes: after its slice header.
const hdr = unsafe.Sizeof([1][]byte{})

const classes = 5 // msg8 to msg72

func classOf(n int) int {
	switch {
	case n <= 8:
		return 0
	case n <= 24:
		return 1
	case n <= 40:
		return 2
	case n <= 56:
		return 3
	}
	return 4
}

// listMax bounds what a List keeps of each class; refill is how many a
// Cache takes at a time.
const (
	listMax = 1024
	refill  = 64
)

// List is a socket's messages given back, by size class. The zero List is
// empty. Safe for concurrent use.
type List struct {
	used     atomic.Bool // Recycle has been called: Caches look here
	mu       sync.Mutex
	h        [classes][]*[1][]byte // headers, each holding its frame whole
	recycled uint64                // messages taken, under mu
}

// Recycled returns how many messages the List has kept, for tests.
func (l *List) Recycled() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recycled
}

// Cache is one reader's: the messages it took from its List, by class. It
// is for one goroutine at a time.
type Cache struct {
	List *List // where it takes from; nil: it makes every message new
	h    [classes][]*[1][]byte
}

// Make is Make(n), with a message given back to the List when there is
// one of n bytes or more in n's class: a stream of one size reuses them
// all.
func (c *Cache) Make(n int) [][]byte {
	if n > Max {
		return Make(n)
	}
	k := classOf(n)
	if len(c.h[k]) == 0 {
		if c.List == nil || !c.List.used.Load() {
			return Make(n)
		}
		c.h[k] = c.List.take(k, c.h[k])
		if len(c.h[k]) == 0 {
			return Make(n)
		}
	}
	last := len(c.h[k]) - 1
	h := c.h[k][last]
	c.h[k][last] = nil
	c.h[k] = c.h[k][:last]
	if cap(h[0]) < n { // smaller in the class: let it go
		return Make(n)
	}
	return frame(h, h[0], n)
}

func (l *List) take(k int, dst []*[1][]byte) []*[1][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.h[k]
	n := min(refill, len(h))
	dst = append(dst, h[len(h)-n:]...)
	clear(h[len(h)-n:])
	l.h[k] = h[:len(h)-n]
	return dst
}

// Recycle gives back the messages of ms that Make or a Cache made, for
// the Caches over l to reuse; it skips the others (and nil ones). The
// caller guarantees that nothing references them any more, their frames
// included: that they came from the socket's readers (ReadersList) and
// were decoded by copying. Poison, for tests, overwrites their bytes
// first, so that a message reused while still referenced shows.
func Recycle[M ~[][]byte](l *List, ms []M) {
	i := 0 // the first that Make made: none, no lock
	for i < len(ms) {
		if h, _ := made(ms[i]); h != nil {
			break
		}
		i++
	}
	if i == len(ms) {
		return
	}
	if !l.used.Load() {
		l.used.Store(true)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range ms[i:] {
		h, k := made(m)
		if h == nil {
			continue
		}
		whole := m[0][:cap(m[0])]
		if Poison {
			for i := range whole {
				whole[i] = 0xA5
			}
		}
		h[0] = whole
		if len(l.h[k]) < listMax {
			l.h[k] = append(l.h[k], h)
			l.recycled++
		}
	}
}

// Poison makes Recycle overwrite what it is given (see Recycle): for tests.
var Poison bool

// made returns m's header and its class if m has the shape of Make's
// messages: one frame of at most Max bytes, right after its slice header
// in memory.
func made[M ~[][]byte](m M) (*[1][]byte, int) {
	if len(m) != 1 || cap(m) != 1 {
		return nil, 0
	}
	f := m[0]
	if cap(f) > Max || f == nil {
		return nil, 0
	}
	h := (*[1][]byte)(unsafe.Pointer(unsafe.SliceData(m)))
	// Compared as numbers: pointer arithmetic past a message of its own
	// (a header alone) would leave its allocation.
	if uintptr(unsafe.Pointer(unsafe.SliceData(f[:cap(f)]))) != uintptr(unsafe.Pointer(h))+hdr {
		return nil, 0
	}
	return h, classOf(cap(f))
}

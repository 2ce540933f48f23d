package peering

// FuzzFed feeds arbitrary messages from a peer's state publisher to a
// Broker: parseAnnouncement, and the actor's announcement, which only
// records (it runs here without sockets). An announcement is taken when it
// is a name a broker may have (1 to 255 bytes, no leading zero byte) and a
// count in decimal, errors wrap ErrMalformed, what a broker announces
// (federation.announce) reads back as it was, and parsing allocates no
// more than a bound in the message's size. (Requests and
// replies between peers are PPP envelopes: package pirate's FuzzPPP covers
// their parsing.)
//
//	go test -run '^$' -fuzz FuzzFed -fuzztime 60s ./broker/peering
//
// The seed corpus is in testdata/fuzz/FuzzFed; a message is written as in
// fuzzMsg, "|a||b" being the frames a, "" and b.

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/internal/fuzzcheck"

	"go.uber.org/zap"
)

// decimal is what a count may be: strconv.Atoi's base 10, sign and all.
var decimal = regexp.MustCompile(`^[+-]?[0-9]+$`)

func FuzzFed(f *testing.F) {
	f.Add([]byte("|peer2|3"))
	f.Add([]byte("|peer2|-1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := fuzzcheck.Frames(data)
		name, n, err := parseAnnouncement(m)
		ok := len(m) == 2 && len(m[0]) > 0 && len(m[0]) <= 255 && m[0][0] != 0 && decimal.Match(m[1])
		if ok {
			v, _ := new(big.Int).SetString(string(m[1]), 10)
			ok = v.Sign() >= 0 && v.Cmp(big.NewInt(math.MaxInt)) <= 0
		}
		if ok != (err == nil) {
			t.Fatalf("parseAnnouncement(%q) = %q, %d, %v; want ok %v", m, name, n, err, ok)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("parseAnnouncement(%q): error %v does not wrap ErrMalformed", m, err)
		}
		if err == nil {
			// What was read reads the same made again as announce makes
			// it, the count in canonical decimal.
			again := [][]byte{[]byte(name), []byte(strconv.Itoa(n))}
			if name != string(m[0]) || n < 0 {
				t.Fatalf("parseAnnouncement(%q) = %q, %d", m, name, n)
			}
			if name2, n2, err := parseAnnouncement(again); err != nil || name2 != name || n2 != n {
				t.Fatalf("announcement %q made again as %q reads %q, %d, %v", m, again, name2, n2, err)
			}
		}
		fuzzcheck.CheckParserAlloc(t, "parseAnnouncement", fuzzcheck.WireSize(m), func() { parseAnnouncement(m) })
		checkFedAnnouncement(t, m, name, n, err)
	})
}

// checkFedAnnouncement gives m to an actor named "self" and checks what it
// recorded.
func checkFedAnnouncement(t *testing.T, m [][]byte, name string, n int, err error) {
	cfg := config{Interval: time.Second, Liveness: 3, Log: zap.NewNop()}
	l := newFederation(&shared{cfg: &cfg, name: "self", board: &board.Board[Stats]{}})
	l.announcement(m)
	switch {
	case err != nil:
		if l.st.Malformed != 1 || len(l.peers) != 0 {
			t.Fatalf("malformed %q: stats %+v, peers %d", m, l.st, len(l.peers))
		}
	case name == "self":
		if l.st.Announcements != 0 || len(l.peers) != 0 {
			t.Fatalf("own announcement %q taken: stats %+v", m, l.st)
		}
	default:
		p := l.peers[name]
		if l.st.Announcements != 1 || p == nil || p.capacity != n || !p.expiry.After(time.Now()) {
			t.Fatalf("announcement %q: stats %+v, peer %+v", m, l.st, p)
		}
		// A second announcement replaces the first.
		l.announcement([][]byte{[]byte(name), []byte(strconv.Itoa(n / 2))})
		if p := l.peers[name]; p == nil || p.capacity != n/2 || len(l.peers) != 1 {
			t.Fatalf("second announcement of %q: peer %+v", name, p)
		}
	}
}

package peering

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/patterns"

	"go.uber.org/zap"
)

func boundFederation() *federation {
	cfg := config{Interval: time.Second, Liveness: 3, Log: zap.NewNop()}
	return newFederation(&shared{cfg: &cfg, name: "self", board: &board.Board[Stats]{}, gate: patterns.NewGate(), peerGate: patterns.NewGate()})
}

// A state publisher that names a new peer in each announcement, within
// one liveness, must not grow the broker's table of peers past maxPeers:
// the rest are dropped and counted, and the peers it knows keep theirs.
func TestAnnouncementsOfManyPeersBounded(t *testing.T) {
	l := boundFederation()
	l.announcement([][]byte{[]byte("peer"), []byte("3")})
	const flood = 4 * maxPeers
	for i := range flood {
		l.announcement([][]byte{[]byte("fake-" + strconv.Itoa(i)), []byte("1")})
	}
	l.flow()
	if len(l.peers) > maxPeers {
		t.Fatalf("%d announcements of new peers: the broker knows %d peers, want at most %d", flood, len(l.peers), maxPeers)
	}
	if got, want := l.st.PeersRefused, uint64(flood+1-maxPeers); got != want {
		t.Fatalf("PeersRefused %d, want %d", got, want)
	}
	if l.st.Announcements != maxPeers || l.st.Peers != maxPeers {
		t.Fatalf("stats %+v: want %d announcements taken and peers", l.st, maxPeers)
	}
	// A peer already known is still heard past the bound.
	l.announcement([][]byte{[]byte("peer"), []byte("5")})
	if p := l.peers["peer"]; p == nil || p.capacity != 5 {
		t.Fatalf("known peer after the flood: %+v", p)
	}
}

// A name no broker may have (over 255 bytes, or a leading zero byte) is
// malformed, not a peer: nothing can route to it, and a name of megabytes
// would be kept as long as it announced.
func TestAnnouncementNameNoBrokerMayHave(t *testing.T) {
	for _, name := range []string{strings.Repeat("n", 256), strings.Repeat("n", 1<<20), "\x00abc"} {
		l := boundFederation()
		_, _, err := parseAnnouncement([][]byte{[]byte(name), []byte("1")})
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("name of %d bytes (first %q): error %v, want ErrMalformed", len(name), name[0], err)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("error of %d bytes for a name of %d bytes", len(err.Error()), len(name))
		}
		l.announcement([][]byte{[]byte(name), []byte("1")})
		if len(l.peers) != 0 || l.st.Malformed != 1 {
			t.Errorf("name of %d bytes: peers %d, stats %+v", len(name), len(l.peers), l.st)
		}
	}
	l := boundFederation()
	l.announcement([][]byte{[]byte(strings.Repeat("n", 255)), []byte("1")})
	if len(l.peers) != 1 {
		t.Fatalf("a name of 255 bytes not taken: peers %d, stats %+v", len(l.peers), l.st)
	}
}

// Two peers may each announce the largest int; the idle workers they
// announced together saturate rather than wrap to a negative count.
func TestCloudIdleSaturates(t *testing.T) {
	l := boundFederation()
	max := strconv.Itoa(math.MaxInt)
	l.announcement([][]byte{[]byte("a"), []byte(max)})
	l.announcement([][]byte{[]byte("b"), []byte(max)})
	l.flow()
	if l.st.CloudIdle != math.MaxInt {
		t.Fatalf("CloudIdle %d, want %d", l.st.CloudIdle, math.MaxInt)
	}
}

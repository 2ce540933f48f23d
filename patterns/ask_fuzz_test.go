package patterns

// FuzzAskWire feeds arbitrary messages from a peer to both ends of Ask over
// sockets (ask.go): what a Router mailbox receives (parseRequest, then the
// query's codec) and what a Dealer reference receives (parseReply, then
// decodeReply with the reply's codec). Nothing panics; a malformed message
// is an error wrapping ErrDecode; a well-formed one splits into frames that
// make the same message again; decodeReply's error says which kind of end it
// was (ErrDecode, ErrRemote, actor.ErrStopped, actor.ErrDropped or
// actor.ErrNoReply); and the decoding allocates within a bound in the
// message's size.
//
//	go test -run '^$' -fuzz FuzzAskWire -fuzztime 60s ./patterns
//
// The seed corpus is in testdata/fuzz/FuzzAskWire; a message is written as
// in fuzzcheck.Frames, "|a||b" being the frames a, "" and b.

import (
	"errors"
	"testing"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
	"github.com/zmqflow/zmqflow/socket"
)

func FuzzAskWire(f *testing.F) {
	f.Add([]byte("|peer|\x00\x00\x00\x00\x00\x00\x00\x01|\x07\x00\x00\x00\x00\x00\x00\x00")) // a request
	f.Add([]byte("|\x00\x00\x00\x00\x00\x00\x00\x01|\x00|\x31\x00\x00\x00\x00\x00\x00\x00")) // a reply
	f.Add([]byte("|\x00\x00\x00\x00\x00\x00\x00\x02|\x01|negative"))                         // an error reply
	f.Add([]byte("|\x00\x00\x00\x00\x00\x00\x00\x02|\x09"))                                  // an unknown status
	f.Fuzz(func(t *testing.T, data []byte) {
		m := socket.Msg(fuzzcheck.Frames(data))
		wire := uint64(len(data))

		var id, corr []byte
		var query [][]byte
		var err error
		checkAlloc(t, "parseRequest", wire, codecPerByte, codecFixed, func() { id, corr, query, err = parseRequest(m) })
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("parseRequest(%q): %v does not wrap ErrDecode", m, err)
			}
		} else {
			again := append(socket.Msg{id, corr}, query...)
			if !fuzzcheck.FramesEqual(again, m) || len(corr) != corrLen || len(query) == 0 {
				t.Fatalf("parseRequest(%q) = %q, %q, %q", m, id, corr, query)
			}
			if _, err := decode(Binary[int]{}, query); err != nil && !errors.Is(err, ErrDecode) {
				t.Fatalf("query %q: %v does not wrap ErrDecode", query, err)
			}
		}

		_, status, body, err := parseReply(m)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("parseReply(%q): %v does not wrap ErrDecode", m, err)
			}
			return
		}
		if len(m[0]) != corrLen || status != m[1][0] || !fuzzcheck.FramesEqual(body, m[2:]) {
			t.Fatalf("parseReply(%q) = %d, %q", m, status, body)
		}
		checkAlloc(t, "decodeReply", wire, jsonPerByte, codecFixed, func() {
			checkReply(t, status, body, Binary[int]{})
			checkReply(t, status, body, JSON[fuzzItem]{})
		})
	})
}

func checkReply[R any](t *testing.T, status byte, body [][]byte, rc Codec[R]) {
	_, err := decodeReply(rc, "fuzz", status, body)
	switch {
	case err == nil:
		if status != statusOK {
			t.Fatalf("status %d decoded as a value", status)
		}
	case isPanic(err):
		t.Fatalf("status %d, body %q: decoding panicked: %v", status, body, err)
	case !errors.Is(err, ErrDecode) && !errors.Is(err, ErrRemote) &&
		!errors.Is(err, actor.ErrStopped) && !errors.Is(err, actor.ErrDropped) && !errors.Is(err, actor.ErrNoReply):
		t.Fatalf("status %d, body %q: error %v of no known kind", status, body, err)
	}
}

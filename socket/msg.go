package socket

import (
	"strconv"
	"strings"
)

// Msg is one ZeroMQ message: one or more frames, delivered whole or not at all.
//
// A Msg handed to Send belongs to the socket from then on: the socket may
// still be writing its frames after Send returns (and PUB shares one Msg among
// all its subscribers), so the caller must not modify the frames. A Msg
// returned by Recv belongs to the caller.
type Msg [][]byte

// NewMsg makes a message of the given frames.
func NewMsg(frames ...[]byte) Msg { return Msg(frames) }

// NewMsgString makes a message of the given frames, one string a frame.
func NewMsgString(frames ...string) Msg {
	m := make(Msg, len(frames))
	for i, f := range frames {
		m[i] = []byte(f)
	}
	return m
}

// Size is the number of bytes in all frames together.
func (m Msg) Size() int {
	n := 0
	for _, f := range m {
		n += len(f)
	}
	return n
}

// Strings returns the frames as strings.
func (m Msg) Strings() []string {
	s := make([]string, len(m))
	for i, f := range m {
		s[i] = string(f)
	}
	return s
}

// String formats the message for logs and test failures, frame by frame.
// A message from a peer may be huge: frames longer than 64 bytes show their
// start and their length, and past 16 frames only their number is given, so
// that the text stays short whatever the message.
func (m Msg) String() string {
	const maxFrame, maxFrames = 64, 16
	var b strings.Builder
	b.WriteByte('[')
	for i, f := range m {
		if i > 0 {
			b.WriteString(" | ")
		}
		if i == maxFrames {
			b.WriteString("... " + strconv.Itoa(len(m)-i) + " more frames")
			break
		}
		if len(f) > maxFrame {
			b.WriteString(strconv.Quote(string(f[:maxFrame])) + "... (" + strconv.Itoa(len(f)) + " bytes)")
			continue
		}
		b.WriteString(strconv.Quote(string(f)))
	}
	b.WriteByte(']')
	return b.String()
}

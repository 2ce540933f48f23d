package main

// FuzzFrames feeds an arbitrary -d value and arbitrary stdin to zmqcat's
// framing: parseDelim, readLines, splitFrames, joinFrames and the printer.
// A bad -d is a one-line error, never a panic; a good one is not empty, has
// no newline, is taken literally but for its escapes, and written back with
// escapes reads the same. Stdin's lines are all of stdin; each line splits
// into one frame more than it has delimiters, none of which holds the
// delimiter, and the frames join (and print) as the line again; frames
// without a byte of the delimiter join and split as they were; and
// splitting costs a slice header a frame.
//
//	go test -run '^$' -fuzz FuzzFrames -fuzztime 60s ./cmd/zmqcat
//
// The seed corpus is in testdata/fuzz/FuzzFrames: the -d value, then stdin.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"

	"github.com/zmqflow/zmqflow/socket"
)

func FuzzFrames(f *testing.F) {
	f.Add(`\t`, []byte("id\t\thello\nworld\n"))
	f.Add(`\x1f`, []byte("a\x1fb"))
	f.Fuzz(func(t *testing.T, delim string, stdin []byte) {
		d := checkParseDelim(t, delim)
		if d == nil {
			d = []byte("\t") // the default
		}
		lines := readAll(t, stdin)
		for _, line := range lines {
			checkSplitJoin(t, line, d)
		}
		// Lines hold no newline: those without a byte of d, as frames,
		// join in a line that splits into them again. (A frame that holds
		// d, or ends in the start of a d of several bytes, does not.)
		var m socket.Msg
		for _, l := range lines {
			if !slices.ContainsFunc(d, func(c byte) bool { return bytes.IndexByte(l, c) >= 0 }) {
				m = append(m, l)
			}
		}
		if len(m) > 0 {
			back := splitFrames(bytes.TrimSuffix(joinFrames(nil, m, d), []byte{'\n'}), d)
			if !slices.EqualFunc(back, m, bytes.Equal) {
				t.Fatalf("frames %q joined on %q split as %q", m, d, back)
			}
		}
	})
}

// checkParseDelim parses a -d value and checks the outcome; it returns the
// delimiter, or nil for a bad value.
func checkParseDelim(t *testing.T, s string) []byte {
	d, err := parseDelim(s)
	// The delimiter, in one allocation of len(s) (rounded up to a size
	// class, or a page), or an error that shows at most maxShown bytes of
	// s, whatever its length.
	fuzzcheck.CheckAlloc(t, "parseDelim", 2*uint64(len(s))+4096, func() { parseDelim(s) })
	if err != nil {
		if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "bad -d") {
			t.Fatalf("parseDelim(%q): error %q", s, msg)
		}
		if !strings.Contains(s, `\`) && s != "" && !strings.Contains(s, "\n") {
			t.Fatalf("parseDelim(%q), without escapes: %v", s, err)
		}
		return nil
	}
	if len(d) == 0 || bytes.IndexByte(d, '\n') >= 0 {
		t.Fatalf("parseDelim(%q) = %q", s, d)
	}
	if !strings.Contains(s, `\`) && string(d) != s {
		t.Fatalf("parseDelim(%q) = %q, without escapes", s, d)
	}
	q := quoteDelim(d)
	if back, err := parseDelim(q); err != nil || !bytes.Equal(back, d) {
		t.Fatalf("parseDelim(%q) = %q, written as %q reads as %q, %v", s, d, q, back, err)
	}
	return d
}

// quoteDelim writes a delimiter as a -d value, escaping what is not
// printable ASCII, and the backslash.
func quoteDelim(d []byte) string {
	var b strings.Builder
	for _, c := range d {
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == 0:
			b.WriteString(`\0`)
		case c >= ' ' && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02X`, c)
		}
	}
	return b.String()
}

// readAll reads stdin as zmqcat does, and checks that the lines are all of
// it: each line and its newline, the last one's newline perhaps missing.
func readAll(t *testing.T, stdin []byte) [][]byte {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := readLines(ctx, bytes.NewReader(stdin))
	var lines [][]byte
	for {
		b, err := next(ctx, ch)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading %q: %v", stdin, err)
		}
		if bytes.IndexByte(b, '\n') >= 0 {
			t.Fatalf("reading %q: line %q", stdin, b)
		}
		lines = append(lines, b)
	}
	var again []byte
	for _, l := range lines {
		again = append(append(again, l...), '\n')
	}
	if !bytes.Equal(again, stdin) && !bytes.Equal(again, append(stdin[:len(stdin):len(stdin)], '\n')) {
		t.Fatalf("stdin %q read as lines %q", stdin, lines)
	}
	return lines
}

// checkSplitJoin splits a line on d, and joins and prints it again.
func checkSplitJoin(t *testing.T, line, d []byte) {
	m := splitFrames(line, d)
	if len(m) != bytes.Count(line, d)+1 {
		t.Fatalf("split %q on %q: %d frames", line, d, len(m))
	}
	for _, f := range m {
		if bytes.Contains(f, d) {
			t.Fatalf("split %q on %q: frame %q holds it", line, d, f)
		}
	}
	joined := joinFrames(nil, m, d)
	if !bytes.Equal(joined, append(line[:len(line):len(line)], '\n')) {
		t.Fatalf("split %q on %q: %q joins as %q", line, d, m, joined)
	}
	var out bytes.Buffer
	p := &printer{w: bufio.NewWriter(&out), delim: d, buf: []byte("stale")}
	if err := p.print(m); err != nil || !bytes.Equal(out.Bytes(), joined) {
		t.Fatalf("print %q: %q, %v", m, out.Bytes(), err)
	}
	// A frame is a slice header into the line: 24 bytes, in one slice
	// (rounded up to a size class).
	fuzzcheck.CheckAlloc(t, "splitFrames", 32*uint64(len(m))+64, func() { splitFrames(line, d) })
}

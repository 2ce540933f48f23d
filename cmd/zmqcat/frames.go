package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zmqflow/zmqflow/socket"
)

// parseDelim reads the -d value. It is taken literally except for backslash
// escapes, so that a tab can be given without the shell's help:
//
//	\t tab   \r carriage return   \0 NUL   \\ backslash   \xHH any byte
//	\ followed by punctuation (\| \, \; ...) is that character
//
// The delimiter must not be empty and must not contain a newline: a message
// is one line.
func parseDelim(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("bad -d: the delimiter is empty")
	}
	if strings.IndexByte(s, '\n') >= 0 { // before making d of it
		return nil, fmt.Errorf("bad -d %s: the delimiter cannot contain a newline (a message is one line)", show(s))
	}
	// Escapes only shorten s: one allocation.
	d := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			d = append(d, c)
			continue
		}
		i++
		if i == len(s) {
			return nil, fmt.Errorf("bad -d %s: it ends in a lone backslash (write \\\\ for one)", show(s))
		}
		switch e := s[i]; {
		case e == 't':
			d = append(d, '\t')
		case e == 'r':
			d = append(d, '\r')
		case e == '0':
			d = append(d, 0)
		case e == 'x':
			if len(s)-i-1 < 2 {
				return nil, fmt.Errorf("bad -d %s: \\x needs two hex digits", show(s))
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("bad -d %s: \\x needs two hex digits", show(s))
			}
			d = append(d, byte(v))
			i += 2
		case e == 'n':
			return nil, fmt.Errorf("bad -d %s: the delimiter cannot contain a newline (a message is one line)", show(s))
		case isPunct(e):
			d = append(d, e)
		default:
			return nil, fmt.Errorf("bad -d %s: unknown escape \\%c (want \\t, \\r, \\0, \\xHH, \\\\ or \\ before punctuation)", show(s), e)
		}
	}
	if bytes.IndexByte(d, '\n') >= 0 {
		return nil, fmt.Errorf("bad -d %s: the delimiter cannot contain a newline (a message is one line)", show(s))
	}
	return d, nil
}

// maxShown bounds what an error message shows of a flag value: quoting
// makes up to 4 bytes of each byte, and a value may be any length.
const maxShown = 64

// show quotes a flag value for an error message: as typed if it is plain
// text, Go-quoted if it has control characters (an error is one line); a
// value over maxShown bytes is cut there, with its length said.
func show(s string) string {
	more := ""
	if len(s) > maxShown {
		n := maxShown
		for n > maxShown-utf8.UTFMax && !utf8.RuneStart(s[n]) { // not inside a character
			n--
		}
		more = fmt.Sprintf("... (%d bytes)", len(s))
		s = s[:n]
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return strconv.Quote(s) + more
		}
	}
	return "'" + s + "'" + more
}

// isPunct is ASCII punctuation, which \ makes literal.
func isPunct(c byte) bool {
	return c > ' ' && c < 0x7f &&
		!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z')
}

// splitFrames makes a message of one input line, one frame per field. The
// frames share line's memory: line must not be reused.
func splitFrames(line, delim []byte) socket.Msg {
	return socket.Msg(bytes.Split(line, delim))
}

// joinFrames appends m to dst as one output line, frames separated by delim,
// with the newline.
func joinFrames(dst []byte, m socket.Msg, delim []byte) []byte {
	for i, f := range m {
		if i > 0 {
			dst = append(dst, delim...)
		}
		dst = append(dst, f...)
	}
	return append(dst, '\n')
}

package socket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-zeromq/zmq4"
)

// The ZMTP security mechanisms, as zmq4.Security so that zmq4.Open runs them.
// We carry our own NULL and PLAIN: zmq4's PLAIN server accepts any
// credentials and its client forgets them after one handshake (so it cannot
// reconnect), and zmq4's metadata parser panics on some malformed input.

var errMetadata = errors.New("socket: malformed ZMTP metadata")

// nullSecurity is RFC 23's NULL mechanism: each side sends READY with its
// metadata (Socket-Type, Identity).
type nullSecurity struct{}

func (nullSecurity) Type() zmq4.SecurityType { return zmq4.NullSecurity }

func (nullSecurity) Handshake(c *zmq4.Conn, server bool) error {
	if err := sendMetadata(c, zmq4.CmdReady); err != nil {
		return err
	}
	return recvMetadata(c, zmq4.CmdReady)
}

func (nullSecurity) Encrypt(w io.Writer, b []byte) (int, error) { return w.Write(b) }
func (nullSecurity) Decrypt(w io.Writer, b []byte) (int, error) { return w.Write(b) }

// plainSecurity is RFC 24's PLAIN mechanism. The client sends HELLO with its
// credentials; the server checks them with auth and answers WELCOME, or ERROR
// and hangs up; then INITIATE and READY carry the metadata.
type plainSecurity struct {
	user, password string
	auth           Authenticator   // set on the server side
	ctx            context.Context // for auth: ends with the handshake
	req            AuthRequest     // the server's view of the connection, for auth
}

func (plainSecurity) Type() zmq4.SecurityType { return zmq4.PlainSecurity }

func (p plainSecurity) Handshake(c *zmq4.Conn, server bool) error {
	if p.auth != nil {
		return p.serve(c)
	}
	hello := make([]byte, 0, 2+len(p.user)+len(p.password))
	hello = append(hello, byte(len(p.user)))
	hello = append(hello, p.user...)
	hello = append(hello, byte(len(p.password)))
	hello = append(hello, p.password...)
	if err := c.SendCmd(zmq4.CmdHello, hello); err != nil {
		return err
	}
	if _, err := expect(c, zmq4.CmdWelcome); err != nil {
		return err
	}
	if err := sendMetadata(c, zmq4.CmdInitiate); err != nil {
		return err
	}
	return recvMetadata(c, zmq4.CmdReady)
}

func (p plainSecurity) serve(c *zmq4.Conn) error {
	cmd, err := expect(c, zmq4.CmdHello)
	if err != nil {
		return err
	}
	user, rest, ok := cutShortString(cmd.Body)
	pass, rest, ok2 := cutShortString(rest)
	if !ok || !ok2 || len(rest) != 0 {
		return fmt.Errorf("%w: PLAIN: malformed HELLO", ErrHandshake)
	}
	req := p.req
	req.Username, req.Password = user, pass
	if err := p.auth(p.ctx, req); err != nil {
		// The refusal as libzmq writes it: its ERROR name is spelt "\x05ERROR"
		// in C, which the compiler reads as 0x5E 'R' 'R' 'O' 'R', and libzmq
		// clients accept only that, with a ZAP status code as the reason. An
		// RFC-spelt ERROR makes them report a protocol error, not a refusal.
		_, _ = c.Write(libzmqAuthError)
		return fmt.Errorf("%w: user %q: %v", ErrAuth, user, err)
	}
	if err := c.SendCmd(zmq4.CmdWelcome, nil); err != nil {
		return err
	}
	if err := recvMetadata(c, zmq4.CmdInitiate); err != nil {
		return err
	}
	return sendMetadata(c, zmq4.CmdReady)
}

func (plainSecurity) Encrypt(w io.Writer, b []byte) (int, error) { return w.Write(b) }
func (plainSecurity) Decrypt(w io.Writer, b []byte) (int, error) { return w.Write(b) }

// libzmqAuthError is libzmq 4.3's PLAIN refusal frame, byte for byte: a
// command frame of 9 bytes, "^RROR" (see serve), reason "400".
var libzmqAuthError = []byte{flagCommand, 9, '^', 'R', 'R', 'O', 'R', 3, '4', '0', '0'}

func cutShortString(b []byte) (string, []byte, bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", nil, false
	}
	n := int(b[0])
	return string(b[1 : 1+n]), b[1+n:], true
}

// expect receives a command and checks its name; an ERROR from the peer
// becomes ErrAuth naming its reason.
func expect(c *zmq4.Conn, name string) (zmq4.Cmd, error) {
	cmd, err := c.RecvCmd()
	if err != nil {
		return cmd, err
	}
	if cmd.Name == zmq4.CmdError {
		reason, _, _ := cutShortString(cmd.Body)
		return cmd, fmt.Errorf("%w: peer refused us: %q", ErrAuth, reason)
	}
	if cmd.Name != name {
		return cmd, fmt.Errorf("%w: want %s, got %q", ErrHandshake, name, cmd.Name)
	}
	return cmd, nil
}

func sendMetadata(c *zmq4.Conn, name string) error {
	return c.SendCmd(name, ownMetadata(c))
}

// ownMetadata is the metadata we announce: Socket-Type, and Identity if set.
func ownMetadata(c *zmq4.Conn) []byte {
	var b []byte
	b = appendProperty(b, "Socket-Type", c.Meta["Socket-Type"])
	if id := c.Meta["Identity"]; id != "" {
		b = appendProperty(b, "Identity", id)
	}
	return b
}

func recvMetadata(c *zmq4.Conn, name string) error {
	cmd, err := expect(c, name)
	if err != nil {
		return err
	}
	return peerMetadata(c, cmd.Body)
}

// peerMetadata reads the peer's metadata and checks its socket type.
func peerMetadata(c *zmq4.Conn, b []byte) error {
	if err := parseMetadata(b, c.Peer.Meta); err != nil {
		return err
	}
	// zmq4.Open panics on a socket type it does not know: check it here.
	if t, err := ParseType(c.Peer.Meta["Socket-Type"]); err != nil || t.String() != c.Peer.Meta["Socket-Type"] {
		return fmt.Errorf("%w: peer socket type %q", ErrHandshake, c.Peer.Meta["Socket-Type"])
	}
	return nil
}

func appendProperty(b []byte, k, v string) []byte {
	b = append(b, byte(len(k)))
	b = append(b, k...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// parseMetadata reads RFC 23 properties (name-size, name, value-size, value)
// into md, names in their canonical case ("Socket-Type", "Identity"). It
// checks every length against the bytes that are there.
func parseMetadata(b []byte, md zmq4.Metadata) error {
	for len(b) > 0 {
		k, rest, ok := cutShortString(b)
		if !ok || k == "" || len(rest) < 4 {
			return errMetadata
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return errMetadata
		}
		md[canonicalProperty(k)] = string(rest[:n])
		b = rest[n:]
	}
	return nil
}

// canonicalProperty spells property names as zmq4 and libzmq's docs do;
// names are case-insensitive on the wire.
func canonicalProperty(k string) string {
	switch strings.ToLower(k) {
	case "socket-type":
		return "Socket-Type"
	case "identity":
		return "Identity"
	}
	return k
}

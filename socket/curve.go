package socket

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/go-zeromq/zmq4"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/salsa20/salsa"
)

// CURVE, ZMTP 3.0's CurveZMQ mechanism (RFC 26), as libzmq 4.3 speaks it.
//
// The client knows the server's long-term public key S. Each side makes a
// transient key pair for the connection (C', S'), so that a key stolen
// later cannot open traffic recorded now. HELLO carries C' and a box of
// zeros from C' to S: only the holder of S's secret can open it. WELCOME
// carries S' and a cookie, boxed from S to C'; the cookie (C' and s',
// sealed with a key only the server knows) comes back in INITIATE, which
// also carries the client's long-term key C and a vouch: a box from C to S'
// of C' and S, showing that the holder of C's secret speaks through C'.
// READY answers with the server's metadata. From then on every frame, and
// every command, travels in a MESSAGE box from C' to S' (or back), under a
// short nonce that must grow with every MESSAGE: a frame replayed, dropped
// and reordered, or forged, ends the connection.

// curveConfig is a socket's CURVE options: set by WithCurveServer or
// WithCurveClient, checked by checkCurve when the socket is made.
type curveConfig struct {
	server, client bool
	keys           CurveKeyPair  // our long-term pair
	serverKey      CurveKey      // client: the server's public key
	auth           Authenticator // server: nil admits every client
	rand           io.Reader     // transient keys, cookies and nonces; nil: crypto/rand (fuzz tests replay handshakes with their own)
}

// WithCurveServer makes the socket the CURVE server of its tcp and ipc
// connections (libzmq's ZMQ_CURVE_SERVER with ZMQ_CURVE_SECRETKEY): every
// peer must be a CURVE client that knows our public key, and everything
// that passes is encrypted and authenticated. Which clients may connect is
// the authenticator's choice (WithCurveAuthenticator); without one, any
// client that completes the handshake is admitted, as in libzmq without
// ZAP. inproc connections are not secured, as in libzmq.
func WithCurveServer(secret CurveKey) Option {
	return optionFunc(func(o *options) error {
		pub, err := CurvePublicKey(secret)
		if err != nil {
			return fmt.Errorf("%w: CURVE server: %w", ErrBadOption, err)
		}
		o.curve.server, o.curve.keys = true, CurveKeyPair{Public: pub, Secret: secret}
		return nil
	})
}

// WithCurveAuthenticator has a CURVE server ask auth about each client
// once its handshake has shown it holds the secret of the long-term public
// key it presents (AuthRequest.PublicKey). AllowCurveKeys and
// AllowCurveKeysIn make allow-lists. It needs WithCurveServer.
func WithCurveAuthenticator(auth Authenticator) Option {
	return optionFunc(func(o *options) error {
		if auth == nil {
			return fmt.Errorf("%w: nil CURVE authenticator", ErrBadOption)
		}
		o.curve.auth = auth
		return nil
	})
}

// WithCurveClient makes the socket a CURVE client of its tcp and ipc
// connections (libzmq's ZMQ_CURVE_SERVERKEY, ZMQ_CURVE_PUBLICKEY and
// ZMQ_CURVE_SECRETKEY): it connects only to a server that holds the secret
// of serverKey, and presents client, its own long-term key pair, which the
// server may check. The pair must belong together (see ParseCurveKey to
// read Z85 keys, LoadCurveCert to read a certificate).
func WithCurveClient(serverKey CurveKey, client CurveKeyPair) Option {
	return optionFunc(func(o *options) error {
		if serverKey.IsZero() {
			return fmt.Errorf("%w: CURVE client: zero server key", ErrBadOption)
		}
		if err := client.check(); err != nil {
			return fmt.Errorf("%w: CURVE client: %w", ErrBadOption, err)
		}
		o.curve.client, o.curve.keys, o.curve.serverKey = true, client, serverKey
		return nil
	})
}

// checkCurve refuses combinations of mechanisms: a socket speaks one.
func (o *options) checkCurve() error {
	c := o.curve
	switch {
	case c.server && c.client:
		return fmt.Errorf("%w: a socket is either a CURVE client or a CURVE server", ErrBadOption)
	case (c.server || c.client) && (o.plainClient || o.plainAuth != nil):
		return fmt.Errorf("%w: a socket speaks CURVE or PLAIN, not both", ErrBadOption)
	case c.auth != nil && !c.server:
		return fmt.Errorf("%w: a CURVE authenticator needs WithCurveServer", ErrBadOption)
	}
	return nil
}

// curveSecurity runs the handshake of one connection (zmq4.Open calls
// Handshake), and leaves the session for the wire to carry MESSAGEs with.
// zmq4 passes the handshake's command bodies through Encrypt and Decrypt,
// which leave them as they are: the handshake boxes its own fields.
type curveSecurity struct {
	cfg  curveConfig
	ctx  context.Context // for auth: ends with the handshake
	req  AuthRequest     // the server's view of the connection, for auth
	sess *curveSession   // set once the handshake succeeds
}

func (*curveSecurity) Type() zmq4.SecurityType                    { return zmq4.CurveSecurity }
func (*curveSecurity) Encrypt(w io.Writer, b []byte) (int, error) { return w.Write(b) }
func (*curveSecurity) Decrypt(w io.Writer, b []byte) (int, error) { return w.Write(b) }

// Sizes of the handshake commands' bodies (after the name), as RFC 26 has
// them.
const (
	helloSize    = 2 + 72 + 32 + 8 + 80 // version, padding, C', nonce, signature box
	welcomeSize  = 16 + 144             // nonce, box of S' and cookie
	cookieSize   = 16 + 80              // nonce, secret box of C' and s'
	initiateMin  = cookieSize + 8 + box.Overhead + 32 + 16 + 80
	readyMin     = 8 + box.Overhead
	vouchBoxSize = 64 + box.Overhead
)

// curveError wraps a handshake failure in both sentinels.
func curveError(format string, a ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrHandshake, ErrCurve, fmt.Sprintf(format, a...))
}

// Handshake runs our side. The greeting's as-server flag is not checked:
// zmq4 sends it clear whatever the role, and libzmq does not read it. Two
// servers, or two clients, fail at the first command instead.
func (cs *curveSecurity) Handshake(c *zmq4.Conn, server bool) error {
	if cs.cfg.server {
		return cs.serve(c)
	}
	return cs.dial(c)
}

// dial is the client's side: HELLO, WELCOME, INITIATE, READY.
func (cs *curveSecurity) dial(c *zmq4.Conn) error {
	eph, err := cs.newKeyPair() // C', c'
	if err != nil {
		return err
	}
	var toServer [32]byte // C' and S
	if err := curveShared(&toServer, &cs.cfg.serverKey, &eph.Secret); err != nil {
		return err
	}
	hello := make([]byte, helloSize)
	hello[0] = 1 // CurveZMQ 1.0; 72 bytes of zeros follow, so HELLO is no smaller than WELCOME
	copy(hello[74:], eph.Public[:])
	binary.BigEndian.PutUint64(hello[106:], 1)
	nonce := curveNonce("CurveZMQHELLO---", hello[106:114])
	box.SealAfterPrecomputation(hello[114:114], make([]byte, 64), &nonce, &toServer)
	if err := c.SendCmd(zmq4.CmdHello, hello); err != nil {
		return err
	}

	cmd, err := expect(c, zmq4.CmdWelcome)
	if err != nil {
		return err
	}
	if len(cmd.Body) != welcomeSize {
		return curveError("WELCOME of %d bytes", len(cmd.Body))
	}
	nonce = curveNonce("WELCOME-", cmd.Body[:16])
	welcome, ok := box.OpenAfterPrecomputation(nil, cmd.Body[16:], &nonce, &toServer)
	if !ok {
		return curveError("WELCOME does not open: not the server whose key we hold")
	}
	var serverEph CurveKey // S'
	copy(serverEph[:], welcome[:32])
	sess := &curveSession{sendNonce: 3}
	if err := curveShared(&sess.key, &serverEph, &eph.Secret); err != nil {
		return err
	}

	// The vouch: C' and S, in a box from C to S'.
	var vouchKey [32]byte
	if err := curveShared(&vouchKey, &serverEph, &cs.cfg.keys.Secret); err != nil {
		return err
	}
	plain := make([]byte, 0, 32+16+vouchBoxSize+64)
	plain = append(plain, cs.cfg.keys.Public[:]...)
	vn := plain[32:48]
	plain = plain[:48]
	if err := cs.randomFill(vn); err != nil {
		return err
	}
	nonce = curveNonce("VOUCH---", vn)
	vouched := make([]byte, 0, 64)
	vouched = append(append(vouched, eph.Public[:]...), cs.cfg.serverKey[:]...)
	plain = box.SealAfterPrecomputation(plain, vouched, &nonce, &vouchKey)
	plain = append(plain, ownMetadata(c)...)

	initiate := make([]byte, cookieSize+8, cookieSize+8+box.Overhead+len(plain))
	copy(initiate, welcome[32:128])
	binary.BigEndian.PutUint64(initiate[cookieSize:], 2)
	nonce = curveNonce("CurveZMQINITIATE", initiate[cookieSize:])
	initiate = box.SealAfterPrecomputation(initiate, plain, &nonce, &sess.key)
	if err := c.SendCmd(zmq4.CmdInitiate, initiate); err != nil {
		return err
	}

	cmd, err = expect(c, zmq4.CmdReady)
	if err != nil {
		return err
	}
	if len(cmd.Body) < readyMin {
		return curveError("READY of %d bytes", len(cmd.Body))
	}
	nonce = curveNonce("CurveZMQREADY---", cmd.Body[:8])
	meta, ok := box.OpenAfterPrecomputation(nil, cmd.Body[8:], &nonce, &sess.key)
	if !ok {
		return curveError("READY does not open")
	}
	if err := peerMetadata(c, meta); err != nil {
		return err
	}
	sess.peerNonce = binary.BigEndian.Uint64(cmd.Body)
	sess.init("CurveZMQMESSAGEC", "CurveZMQMESSAGES")
	cs.sess = sess
	return nil
}

// serve is the server's side: HELLO, WELCOME, INITIATE, the authenticator,
// READY (or ERROR).
func (cs *curveSecurity) serve(c *zmq4.Conn) error {
	cmd, err := expect(c, zmq4.CmdHello)
	if err != nil {
		return err
	}
	hello := cmd.Body
	if len(hello) != helloSize || hello[0] != 1 || hello[1] != 0 {
		return curveError("malformed HELLO (%d bytes)", len(hello))
	}
	var clientEph CurveKey // C'
	copy(clientEph[:], hello[74:106])
	helloNonce := binary.BigEndian.Uint64(hello[106:])
	var fromClient [32]byte
	if err := curveShared(&fromClient, &clientEph, &cs.cfg.keys.Secret); err != nil {
		return err
	}
	nonce := curveNonce("CurveZMQHELLO---", hello[106:114])
	sig, ok := box.OpenAfterPrecomputation(nil, hello[114:], &nonce, &fromClient)
	if !ok || subtle.ConstantTimeCompare(sig, make([]byte, 64)) != 1 {
		return curveError("HELLO does not open: the client does not hold our public key")
	}

	eph, err := cs.newKeyPair() // S', s'
	if err != nil {
		return err
	}
	var cookieKey [32]byte
	welcome := make([]byte, 16, welcomeSize)
	plain := make([]byte, 48, 128)
	copy(plain, eph.Public[:])
	if err := cs.randomFill(cookieKey[:], welcome[:16], plain[32:48]); err != nil {
		return err
	}
	cookie := make([]byte, 0, 64)
	cookie = append(append(cookie, clientEph[:]...), eph.Secret[:]...)
	nonce = curveNonce("COOKIE--", plain[32:48])
	plain = secretbox.Seal(plain, cookie, &nonce, &cookieKey)
	nonce = curveNonce("WELCOME-", welcome[:16])
	welcome = box.SealAfterPrecomputation(welcome, plain, &nonce, &fromClient)
	if err := c.SendCmd(zmq4.CmdWelcome, welcome); err != nil {
		return err
	}

	cmd, err = expect(c, zmq4.CmdInitiate)
	if err != nil {
		return err
	}
	in := cmd.Body
	if len(in) < initiateMin {
		return curveError("INITIATE of %d bytes", len(in))
	}
	nonce = curveNonce("COOKIE--", in[:16])
	echoed, ok := secretbox.Open(nil, in[16:cookieSize], &nonce, &cookieKey)
	if !ok || subtle.ConstantTimeCompare(echoed, cookie) != 1 {
		return curveError("INITIATE carries a cookie that is not ours")
	}
	initNonce := binary.BigEndian.Uint64(in[cookieSize:])
	if initNonce <= helloNonce {
		return curveError("INITIATE nonce %d after HELLO's %d", initNonce, helloNonce)
	}
	sess := &curveSession{sendNonce: 2, peerNonce: initNonce}
	if err := curveShared(&sess.key, &clientEph, &eph.Secret); err != nil {
		return err
	}
	nonce = curveNonce("CurveZMQINITIATE", in[cookieSize:cookieSize+8])
	plain, ok = box.OpenAfterPrecomputation(nil, in[cookieSize+8:], &nonce, &sess.key)
	if !ok {
		return curveError("INITIATE does not open")
	}
	var client CurveKey // C
	copy(client[:], plain[:32])
	var vouchKey [32]byte
	if err := curveShared(&vouchKey, &client, &eph.Secret); err != nil {
		return err
	}
	nonce = curveNonce("VOUCH---", plain[32:48])
	vouched, ok := box.OpenAfterPrecomputation(nil, plain[48:48+vouchBoxSize], &nonce, &vouchKey)
	want := append(append(make([]byte, 0, 64), clientEph[:]...), cs.cfg.keys.Public[:]...)
	if !ok || subtle.ConstantTimeCompare(vouched, want) != 1 {
		return curveError("INITIATE's vouch does not hold: the client does not own key %s", client)
	}
	if cs.cfg.auth != nil {
		req := cs.req
		req.PublicKey = client
		if err := cs.cfg.auth(cs.ctx, req); err != nil {
			// RFC 23's ERROR, spelt right: libzmq's CURVE client reads it so
			// (unlike its PLAIN client, see libzmqAuthError).
			_ = c.SendCmd(zmq4.CmdError, []byte{3, '4', '0', '0'})
			return fmt.Errorf("%w: CURVE key %s: %v", ErrAuth, client, err)
		}
	}
	if err := peerMetadata(c, plain[48+vouchBoxSize:]); err != nil {
		return err
	}

	ready := make([]byte, 8, 8+box.Overhead+64)
	binary.BigEndian.PutUint64(ready, 1)
	nonce = curveNonce("CurveZMQREADY---", ready[:8])
	ready = box.SealAfterPrecomputation(ready, ownMetadata(c), &nonce, &sess.key)
	if err := c.SendCmd(zmq4.CmdReady, ready); err != nil {
		return err
	}
	sess.init("CurveZMQMESSAGES", "CurveZMQMESSAGEC")
	cs.sess = sess
	return nil
}

// curveNonce is a 24-byte nonce: a prefix naming the command, then the
// bytes that vary (a short nonce of 8 bytes, or a long one of 16).
func curveNonce(prefix string, tail []byte) (n [24]byte) {
	copy(n[copy(n[:], prefix):], tail)
	return n
}

// curveShared is NaCl's crypto_box_beforenm: the key two parties share,
// from one's secret and the other's public key. A public key of small
// order, which would make the shared key known to anyone, is refused.
func curveShared(out *[32]byte, peer, secret *CurveKey) error {
	s, err := curve25519.X25519(secret[:], peer[:])
	if err != nil {
		return curveError("peer key %s: %v", peer, err)
	}
	var k [32]byte
	copy(k[:], s)
	var zero [16]byte
	salsa.HSalsa20(out, &zero, &k, &salsa.Sigma)
	return nil
}

func (cs *curveSecurity) randomFill(bufs ...[]byte) error {
	r := cs.cfg.rand
	if r == nil {
		r = rand.Reader
	}
	for _, b := range bufs {
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("socket: CURVE randomness: %w", err)
		}
	}
	return nil
}

// newKeyPair makes a transient key pair.
func (cs *curveSecurity) newKeyPair() (CurveKeyPair, error) {
	var kp CurveKeyPair
	if err := cs.randomFill(kp.Secret[:]); err != nil {
		return kp, err
	}
	pub, err := CurvePublicKey(kp.Secret)
	kp.Public = pub
	return kp, err
}

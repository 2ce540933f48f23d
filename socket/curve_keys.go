package socket

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/crypto/curve25519"
)

// CURVE's keys and certificates. A key pair is long-term: a server's public
// key is given to its clients out of band, and a client's public key is
// what a server's authenticator knows it by. On disk they are CZMQ's
// certificates (zcert): a public file to hand out and a _secret file that
// holds both keys, in ZPL text (RFC 4) with Z85 keys, as libzmq's tools,
// CZMQ and pyzmq's zmq.auth write and read them.

var (
	// ErrBadKey is a CURVE key or certificate that does not parse or does
	// not fit: bad Z85, the wrong length, a secret key that does not match
	// its public key, a file that is not a certificate.
	ErrBadKey = errors.New("socket: invalid CURVE key or certificate")
	// ErrCurve is a CURVE peer that broke the protocol: a command or message
	// box that does not open, a nonce out of order, a malformed command. The
	// connection is dropped; it comes with ErrHandshake in
	// EventHandshakeFailed during the handshake, alone in
	// EventDisconnected after it.
	ErrCurve = errors.New("socket: CURVE protocol violation")
)

// CurveKey is a CURVE (Curve25519) public or secret key. Its String is the
// key's Z85 text: a secret key printed is a secret key disclosed. It is a
// value: copies are independent and safe to use from any goroutine.
type CurveKey [32]byte

// String returns the key in Z85, 40 characters.
func (k CurveKey) String() string {
	s, _ := Z85Encode(k[:])
	return s
}

// IsZero reports whether the key is all zeros: no key.
func (k CurveKey) IsZero() bool { return k == CurveKey{} }

// ParseCurveKey reads a key from its Z85 text (40 characters), as libzmq's
// zmq_curve_keypair and pyzmq write it.
func ParseCurveKey(z85 string) (CurveKey, error) {
	var k CurveKey
	if len(z85) != 40 {
		return k, fmt.Errorf("%w: a Z85 key is 40 characters, got %d", ErrBadKey, len(z85))
	}
	b, err := Z85Decode(z85)
	if err != nil {
		return k, err
	}
	copy(k[:], b)
	return k, nil
}

// CurveKeyPair is a long-term CURVE key pair, a value like CurveKey.
type CurveKeyPair struct {
	Public CurveKey
	Secret CurveKey
}

// String returns the public key only, so that a key pair in a log line
// discloses nothing.
func (kp CurveKeyPair) String() string { return "CURVE key " + kp.Public.String() }

// NewCurveKeyPair makes a key pair from crypto/rand.
func NewCurveKeyPair() (CurveKeyPair, error) {
	var kp CurveKeyPair
	if _, err := io.ReadFull(rand.Reader, kp.Secret[:]); err != nil {
		return kp, fmt.Errorf("socket: CURVE key generation: %w", err)
	}
	pub, err := CurvePublicKey(kp.Secret)
	if err != nil {
		return kp, err
	}
	kp.Public = pub
	return kp, nil
}

// CurvePublicKey derives the public key of a secret key (libzmq's
// zmq_curve_public).
func CurvePublicKey(secret CurveKey) (CurveKey, error) {
	var pub CurveKey
	if secret.IsZero() {
		return pub, fmt.Errorf("%w: zero secret key", ErrBadKey)
	}
	b, err := curve25519.X25519(secret[:], curve25519.Basepoint)
	if err != nil {
		return pub, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	copy(pub[:], b)
	return pub, nil
}

// check verifies that the pair is whole and that its keys belong together.
func (kp CurveKeyPair) check() error {
	pub, err := CurvePublicKey(kp.Secret)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(pub[:], kp.Public[:]) != 1 {
		return fmt.Errorf("%w: the secret key is not the public key's", ErrBadKey)
	}
	return nil
}

// CurveCert is a CURVE certificate: a public key, the secret key if the
// certificate holds it, and metadata (name-value pairs the owner chose).
// Its methods do not modify it; it is safe for concurrent reads.
type CurveCert struct {
	Public   CurveKey
	Secret   CurveKey // zero in a public certificate
	Metadata map[string]string
}

// KeyPair returns the certificate's key pair, or ErrBadKey if it holds no
// secret key.
func (c CurveCert) KeyPair() (CurveKeyPair, error) {
	kp := CurveKeyPair{Public: c.Public, Secret: c.Secret}
	if c.Secret.IsZero() {
		return kp, fmt.Errorf("%w: a public certificate has no secret key", ErrBadKey)
	}
	return kp, kp.check()
}

// maxCertSize bounds a certificate file. CZMQ's are a few hundred bytes;
// the bound is for what else a path might name.
const maxCertSize = 64 << 10

// maxCertMetadata bounds a certificate's metadata entries (CZMQ's carry a
// handful), so that what a file costs to read follows its size.
const maxCertMetadata = 256

// LoadCurveCert reads a certificate file (see ParseCurveCert). A file over
// 64 KiB is refused unread.
func LoadCurveCert(path string) (CurveCert, error) {
	f, err := os.Open(path)
	if err != nil {
		return CurveCert{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCertSize+1))
	if err != nil {
		return CurveCert{}, err
	}
	if len(data) > maxCertSize {
		return CurveCert{}, fmt.Errorf("%w: %s: over %d bytes", ErrBadKey, path, maxCertSize)
	}
	c, err := ParseCurveCert(data)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseCurveCert reads a certificate in CZMQ's format: ZPL text with a
// "curve" section holding public-key (and, in a secret certificate,
// secret-key) in Z85, and a "metadata" section of name = "value" lines.
// Other sections are ignored. A secret key must belong to the public key.
// The input may be hostile: it is bounded to 64 KiB and checked line by
// line, at most 256 metadata entries are kept, and every error names the
// line.
func ParseCurveCert(data []byte) (CurveCert, error) {
	var c CurveCert
	if len(data) > maxCertSize {
		return c, fmt.Errorf("%w: over %d bytes", ErrBadKey, maxCertSize)
	}
	var havePub, haveSec bool
	section, depth := "", 0 // depth: of the last line, to catch a line indented too far
	n := 0
	for line := range strings.Lines(string(data)) {
		n++
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrBadKey, n, fmt.Sprintf(format, a...))
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		body := strings.TrimLeft(line, " ")
		if body == "" || body[0] == '#' {
			continue
		}
		indent := len(line) - len(body)
		if indent%4 != 0 || body[0] == '\t' {
			return c, bad("indentation must be 4 spaces a level")
		}
		d := indent / 4
		if d > depth+1 {
			return c, bad("indented too far")
		}
		depth = d
		name, value, err := zplLine(body)
		if err != nil {
			return c, bad("%v", err)
		}
		switch {
		case d == 0:
			section = name
		case d == 1 && section == "curve" && (name == "public-key" || name == "secret-key"):
			k, err := ParseCurveKey(value)
			if err != nil {
				return c, bad("%s: %v", name, err)
			}
			if name == "public-key" {
				if havePub {
					return c, bad("a second public-key")
				}
				c.Public, havePub = k, true
			} else {
				if haveSec {
					return c, bad("a second secret-key")
				}
				c.Secret, haveSec = k, true
			}
		case d == 1 && section == "metadata":
			if c.Metadata == nil {
				c.Metadata = make(map[string]string)
			}
			if len(c.Metadata) == maxCertMetadata {
				return c, bad("more than %d metadata entries", maxCertMetadata)
			}
			c.Metadata[name] = value
		}
	}
	if !havePub {
		return c, fmt.Errorf("%w: no curve/public-key", ErrBadKey)
	}
	if haveSec {
		if err := (CurveKeyPair{Public: c.Public, Secret: c.Secret}).check(); err != nil {
			return c, err
		}
	}
	return c, nil
}

// zplLine splits a ZPL line, indentation removed, into its name and value:
// name, or name = value, the value bare or quoted, then perhaps a comment.
func zplLine(s string) (name, value string, err error) {
	i := 0
	for i < len(s) && zplNameChar(s[i]) {
		i++
	}
	if i == 0 {
		return "", "", fmt.Errorf("%q is not a ZPL name", s[:min(len(s), 16)])
	}
	name, s = s[:i], strings.TrimLeft(s[i:], " ")
	if s == "" || s[0] == '#' {
		return name, "", nil
	}
	if s[0] != '=' {
		return "", "", fmt.Errorf("%s: want = after the name", name)
	}
	s = strings.TrimLeft(s[1:], " ")
	switch {
	case s == "":
	case s[0] == '"' || s[0] == '\'':
		end := strings.IndexByte(s[1:], s[0])
		if end < 0 {
			return "", "", fmt.Errorf("%s: unterminated quote", name)
		}
		value, s = s[1:1+end], s[2+end:]
	default:
		end := strings.IndexAny(s, " #")
		if end < 0 {
			end = len(s)
		}
		value, s = s[:end], s[end:]
	}
	if s = strings.TrimLeft(s, " "); s != "" && s[0] != '#' {
		return "", "", fmt.Errorf("%s: %q after the value", name, s[:min(len(s), 16)])
	}
	return name, value, nil
}

func zplNameChar(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
		strings.IndexByte("$-_@.&+/", b) >= 0
}

// SaveCurveCert writes a certificate as CZMQ's zcert_save does: path holds
// the public key and the metadata, for handing out (mode 0644), and
// path+"_secret" holds both keys and the metadata (mode 0600), if the
// certificate has a secret key. Each file is written whole or not at all
// (a temporary file renamed). Metadata names must be ZPL names and values
// may not hold both kinds of quote or a line break.
func SaveCurveCert(path string, c CurveCert) error {
	if c.Public.IsZero() {
		return fmt.Errorf("%w: no public key", ErrBadKey)
	}
	if !c.Secret.IsZero() {
		if err := (CurveKeyPair{Public: c.Public, Secret: c.Secret}).check(); err != nil {
			return err
		}
	}
	var meta bytes.Buffer
	names := make([]string, 0, len(c.Metadata))
	for k := range c.Metadata {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := c.Metadata[k]
		if k == "" || strings.IndexFunc(k, func(r rune) bool { return r > 0x7f || !zplNameChar(byte(r)) }) >= 0 {
			return fmt.Errorf("%w: metadata name %q", ErrBadKey, k)
		}
		q := `"`
		if strings.Contains(v, `"`) {
			q = `'`
		}
		if strings.Contains(v, q) || strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("%w: metadata %s: value %q cannot be written in ZPL", ErrBadKey, k, v)
		}
		fmt.Fprintf(&meta, "    %s = %s%s%s\n", k, q, v, q)
	}
	public := "#   ZeroMQ CURVE public certificate, written by zmqflow.\n" +
		"#   Hand it to the peers that must know this key.\n\n" +
		"metadata\n" + meta.String() +
		"curve\n" +
		"    public-key = \"" + c.Public.String() + "\"\n"
	if err := writeFileAtomic(path, []byte(public), 0o644); err != nil {
		return err
	}
	if c.Secret.IsZero() {
		return nil
	}
	secret := "#   ZeroMQ CURVE secret certificate, written by zmqflow.\n" +
		"#   Keep it private: whoever reads it can pass for this key's owner.\n\n" +
		"metadata\n" + meta.String() +
		"curve\n" +
		"    public-key = \"" + c.Public.String() + "\"\n" +
		"    secret-key = \"" + c.Secret.String() + "\"\n"
	return writeFileAtomic(path+"_secret", []byte(secret), 0o600)
}

// writeFileAtomic writes data to a temporary file beside path, then renames
// it: a reader never sees half a file, and a secret is never readable by
// others, not even for a moment (the temporary file is made 0600).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// AllowCurveKeys returns an authenticator for a CURVE server that admits
// the clients whose long-term public key is one of keys, and refuses every
// other client, and every PLAIN client. It is safe for concurrent use.
func AllowCurveKeys(keys ...CurveKey) Authenticator {
	allowed := make(map[CurveKey]struct{}, len(keys))
	for _, k := range keys {
		allowed[k] = struct{}{}
	}
	return func(_ context.Context, r AuthRequest) error {
		if r.Mechanism != "CURVE" {
			return fmt.Errorf("mechanism %s: only CURVE keys are allowed", r.Mechanism)
		}
		if _, ok := allowed[r.PublicKey]; !ok {
			return fmt.Errorf("CURVE key %s is not allowed", r.PublicKey)
		}
		return nil
	}
}

// AllowCurveKeysIn returns an authenticator that admits the clients whose
// public key is in one of the certificates in dir (public or secret ones:
// the secret key is not kept), as CZMQ's zcertstore and pyzmq's
// configure_curve do. The directory is read once, now: a certificate
// added later is not seen; make a new authenticator (and socket) for it.
// Every regular file whose name does not start with a dot must be a
// certificate; one that is not is an error naming it.
func AllowCurveKeysIn(dir string) (Authenticator, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var keys []CurveKey
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		fi, err := os.Stat(path) // through a symbolic link
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		c, err := LoadCurveCert(path)
		if err != nil {
			return nil, err
		}
		keys = append(keys, c.Public)
	}
	return AllowCurveKeys(keys...), nil
}

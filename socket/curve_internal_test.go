package socket

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
)

// RFC 32's test vector, both ways.
func TestZ85Vector(t *testing.T) {
	raw := []byte{0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B}
	s, err := Z85Encode(raw)
	if err != nil || s != "HelloWorld" {
		t.Fatalf("Z85Encode = %q, %v; want HelloWorld", s, err)
	}
	b, err := Z85Decode("HelloWorld")
	if err != nil || !bytes.Equal(b, raw) {
		t.Fatalf("Z85Decode = %x, %v", b, err)
	}
}

// libzmq's test keys (zmq_curve(7)): the Z85 and the hex name the same
// bytes, and each public key is its secret key's.
func TestCurveTestKeys(t *testing.T) {
	for _, k := range []struct{ pubZ, pubHex, secZ, secHex string }{
		{"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID", "BB88471D65E2659B30C55A5321CEBB5AAB2B70A398645C26DCA2B2FCB43FC518",
			"D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs", "7BB864B489AFA3671FBE69101F94B38972F24816DFB01B51656B3FEC8DFD0888"},
		{"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", "54FCBA24E93249969316FB617C872BB0C1D1FF14800427C594CBFACF1BC2D652",
			"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6", "8E0BDD697628B91D8F245587EE95C5B04D48963F79259877B49CD9063AEAD3B7"},
	} {
		pub, err := ParseCurveKey(k.pubZ)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := ParseCurveKey(k.secZ)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(pub[:]) != lower(k.pubHex) || hex.EncodeToString(sec[:]) != lower(k.secHex) {
			t.Errorf("%s: hex %x / %x", k.pubZ, pub, sec)
		}
		if got, err := CurvePublicKey(sec); err != nil || got != pub {
			t.Errorf("CurvePublicKey(%s) = %s, %v; want %s", k.secZ, got, err, k.pubZ)
		}
		if pub.String() != k.pubZ {
			t.Errorf("String() = %s, want %s", pub, k.pubZ)
		}
	}
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

// The in-place box is NaCl's secretbox: what one seals the other opens,
// at every length around the block boundaries, in place and not.
func TestCurveBoxMatchesSecretbox(t *testing.T) {
	var key [32]byte
	var nonce [24]byte
	rand.Read(key[:])
	rand.Read(nonce[:])
	for _, n := range []int{0, 1, 15, 16, 31, 32, 33, 63, 64, 65, 127, 128, 129, 223, 224, 544, 545, 1000, 1025, 70000} {
		msg := make([]byte, n)
		rand.Read(msg)
		want := secretbox.Seal(nil, msg, &nonce, &key)

		b := make([]byte, 16+n)
		copy(b[16:], msg)
		sealInPlace(b, &nonce, &key)
		if !bytes.Equal(b, want) {
			t.Fatalf("n=%d: sealInPlace differs from secretbox.Seal", n)
		}
		out := make([]byte, n)
		if !openTo(out, want, &nonce, &key) || !bytes.Equal(out, msg) {
			t.Fatalf("n=%d: openTo did not open secretbox.Seal's box", n)
		}
		if !openTo(b[16:], b, &nonce, &key) || !bytes.Equal(b[16:], msg) {
			t.Fatalf("n=%d: openTo in place", n)
		}
		if n > 0 {
			want[16+n/2] ^= 1
			if openTo(out, want, &nonce, &key) {
				t.Fatalf("n=%d: a flipped bit opened", n)
			}
		}
	}
}

// curveShared is box.Precompute, and refuses a key of small order.
func TestCurveShared(t *testing.T) {
	a, _ := NewCurveKeyPair()
	b, _ := NewCurveKeyPair()
	var got, want [32]byte
	if err := curveShared(&got, &b.Public, &a.Secret); err != nil {
		t.Fatal(err)
	}
	box.Precompute(&want, (*[32]byte)(&b.Public), (*[32]byte)(&a.Secret))
	if got != want {
		t.Fatal("curveShared differs from box.Precompute")
	}
	var zero CurveKey
	if err := curveShared(&got, &zero, &a.Secret); err == nil {
		t.Fatal("a zero public key was accepted")
	}
}

package socket

// FuzzZ85 and FuzzCurveCert: Z85 text and certificate files are read from
// users and from disk. Whatever the bytes, decoding fails with ErrBadKey or
// gives back what encodes to the same text, and a certificate that parses
// is whole (its secret key, if any, is its public key's) and survives
// being written and read again.
//
//	go test -run '^$' -fuzz FuzzZ85 -fuzztime 30s ./socket
//	go test -run '^$' -fuzz FuzzCurveCert -fuzztime 30s ./socket

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

func FuzzZ85(f *testing.F) {
	f.Add("HelloWorld")
	f.Add("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")
	f.Add("%%%%%")
	f.Add("#####")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Z85Decode(s)
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("Z85Decode(%q): %v", s, err)
			}
			return
		}
		back, err := Z85Encode(b)
		if err != nil || back != s {
			t.Fatalf("Z85Decode(%q) = %x, encodes back to %q, %v", s, b, back, err)
		}
	})
}

func FuzzCurveCert(f *testing.F) {
	f.Add([]byte("metadata\n    name = \"x\"\ncurve\n    public-key = \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\"\n"))
	f.Add([]byte("#   comment\n\nmetadata\ncurve\n    public-key = \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\"\n" +
		"    secret-key = \"D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs\"\n"))
	f.Add([]byte("curve\n    public-key = 'Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID' # quoted\n\r\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		var c CurveCert
		var err error
		fuzzcheck.CheckAlloc(t, "ParseCurveCert", 8*uint64(len(data))+4096, func() { c, err = ParseCurveCert(data) })
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("ParseCurveCert: %v", err)
			}
			return
		}
		if !c.Secret.IsZero() {
			if _, err := c.KeyPair(); err != nil {
				t.Fatalf("a certificate with a mismatched secret key parsed: %v", err)
			}
		}
		// What parses is written and read back the same, unless its
		// metadata cannot be written (SaveCurveCert says so).
		path := filepath.Join(dir, "cert")
		if err := SaveCurveCert(path, c); err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("SaveCurveCert: %v", err)
			}
			return
		}
		back, err := LoadCurveCert(path)
		if err != nil || back.Public != c.Public || len(back.Metadata) != len(c.Metadata) {
			t.Fatalf("read back %+v, %v; wrote %+v", back, err, c)
		}
		for k, v := range c.Metadata {
			if back.Metadata[k] != v {
				t.Fatalf("metadata %s: read back %q, wrote %q", k, back.Metadata[k], v)
			}
		}
	})
}

package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/zmqflow/zmqflow/socket"
)

// CURVE for zmqcat: keygen writes a certificate pair; -curve-server,
// -curve-client and -curve-serverkey make the socket a CURVE server or
// client; -curve-allow restricts a server to the keys of a directory of
// certificates.

// curveFlags is what the command line said about CURVE.
type curveFlags struct {
	server, client, serverKey, allow string
}

// options turns the CURVE flags into socket options, reading the
// certificates they name. Every error is one line naming the flag.
func (f curveFlags) options() ([]socket.Option, error) {
	switch {
	case f.server != "" && f.client != "":
		return nil, errors.New("-curve-server and -curve-client exclude each other: a socket is one or the other")
	case f.client != "" && f.serverKey == "":
		return nil, errors.New("-curve-client needs -curve-serverkey, the server's public key")
	case f.serverKey != "" && f.client == "":
		return nil, errors.New("-curve-serverkey is for a CURVE client: give -curve-client FILE_secret too")
	case f.allow != "" && f.server == "":
		return nil, errors.New("-curve-allow is for a CURVE server: give -curve-server FILE_secret too")
	}
	switch {
	case f.server != "":
		kp, err := loadKeyPair("-curve-server", f.server)
		if err != nil {
			return nil, err
		}
		opts := []socket.Option{socket.WithCurveServer(kp.Secret)}
		if f.allow != "" {
			auth, err := socket.AllowCurveKeysIn(f.allow)
			if err != nil {
				return nil, fmt.Errorf("bad -curve-allow: %v", err)
			}
			opts = append(opts, socket.WithCurveAuthenticator(auth))
		}
		return opts, nil
	case f.client != "":
		kp, err := loadKeyPair("-curve-client", f.client)
		if err != nil {
			return nil, err
		}
		serverKey, err := parseServerKey(f.serverKey)
		if err != nil {
			return nil, err
		}
		return []socket.Option{socket.WithCurveClient(serverKey, kp)}, nil
	}
	return nil, nil
}

// loadKeyPair reads a secret certificate (zmqcat keygen's FILE_secret).
func loadKeyPair(flag, path string) (socket.CurveKeyPair, error) {
	c, err := socket.LoadCurveCert(path)
	if err != nil {
		return socket.CurveKeyPair{}, fmt.Errorf("bad %s: %v", flag, err)
	}
	kp, err := c.KeyPair()
	if err != nil {
		return kp, fmt.Errorf("bad %s %s: %v (give the _secret file)", flag, path, err)
	}
	return kp, nil
}

// parseServerKey reads -curve-serverkey: a Z85 key of 40 characters, or
// the path of the server's public certificate.
func parseServerKey(s string) (socket.CurveKey, error) {
	if len(s) == 40 {
		k, err := socket.ParseCurveKey(s)
		if err != nil {
			return k, fmt.Errorf("bad -curve-serverkey: %v", err)
		}
		return k, nil
	}
	c, err := socket.LoadCurveCert(s)
	if err != nil {
		return socket.CurveKey{}, fmt.Errorf("bad -curve-serverkey (neither a Z85 key nor a certificate): %v", err)
	}
	return c.Public, nil
}

const keygenUsage = "usage: zmqcat keygen FILE (writes FILE, the public certificate, and FILE_secret)"

// keygen is "zmqcat keygen FILE": it makes a key pair, writes FILE (public)
// and FILE_secret (both keys, mode 0600) as CZMQ's zcert_save does, and
// prints the public key. It never overwrites a certificate: peers that
// hold the old key would be refused, and its secret lost.
func keygen(args []string, stdout io.Writer, errOut *lockedWriter) int {
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' {
		errOut.line(keygenUsage)
		return exitUsage
	}
	for _, p := range []string{args[0], args[0] + "_secret"} {
		if _, err := os.Lstat(p); err == nil {
			errOut.line("keygen: " + p + " exists; not overwritten (peers holding that key would be locked out)")
			return exitFail
		}
	}
	kp, err := socket.NewCurveKeyPair()
	if err == nil {
		err = socket.SaveCurveCert(args[0], socket.CurveCert{Public: kp.Public, Secret: kp.Secret})
	}
	if err != nil {
		errOut.line(err)
		return exitFail
	}
	fmt.Fprintln(stdout, kp.Public)
	return exitOK
}

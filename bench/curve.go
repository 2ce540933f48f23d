package main

import (
	"fmt"

	czmq "github.com/pebbe/zmq4"

	"github.com/zmqflow/zmqflow/socket"
)

// The CURVE case: PUSH->PULL with every frame in a CURVE MESSAGE box, PULL
// the server and PUSH the client, with libzmq's test keys (zmq_curve(7)).
// The -curve flag turns it on for the peer process.

var curveOn bool

const (
	curveServerPublic = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
	curveServerSecret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
	curveClientPublic = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
	curveClientSecret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
)

// oursCurve is the option that makes our socket of kind the CURVE server
// (pull) or client (push).
func oursCurve(kind string) (socket.Option, error) {
	key := func(z string) socket.CurveKey {
		k, err := socket.ParseCurveKey(z)
		if err != nil {
			panic(err) // constants
		}
		return k
	}
	switch kind {
	case "pull":
		return socket.WithCurveServer(key(curveServerSecret)), nil
	case "push":
		return socket.WithCurveClient(key(curveServerPublic),
			socket.CurveKeyPair{Public: key(curveClientPublic), Secret: key(curveClientSecret)}), nil
	}
	return nil, fmt.Errorf("CURVE: no role for %s", kind)
}

// libzmqCurve does the same for a pebbe/zmq4 socket.
func libzmqCurve(s *czmq.Socket, kind string) error {
	switch kind {
	case "pull":
		if err := s.SetCurveServer(1); err != nil {
			return err
		}
		return s.SetCurveSecretkey(curveServerSecret)
	case "push":
		if err := s.SetCurveServerkey(curveServerPublic); err != nil {
			return err
		}
		if err := s.SetCurvePublickey(curveClientPublic); err != nil {
			return err
		}
		return s.SetCurveSecretkey(curveClientSecret)
	}
	return fmt.Errorf("CURVE: no role for %s", kind)
}

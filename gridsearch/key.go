package gridsearch

import (
	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/socket"
)

// KeyOptions returns the options that make a master and its workers prove
// to each other that they hold the secret of one shared CURVE key pair,
// the cluster's key, and encrypt everything between them (CurveZMQ, as
// socket.WithCurveServer): master goes in Config.BrokerOptions, worker in
// Config.WorkerOptions (the local slots connect over tcp too when Bind is
// set) and in ServeConfig.Options.
//
// The master's load balancer is the CURVE server with the key's secret:
// a worker that does not know the public key cannot start the handshake,
// and one that presents any other key is refused (socket.AllowCurveKeys),
// so no point goes to it. A worker is a CURVE client that presents the
// same pair and expects it of the server: it never runs a command from a
// master that cannot prove it holds the secret. Anyone who holds the
// secret may be master or worker; a master and workers that must not be
// interchangeable need a pair each (socket.WithCurveServer and
// socket.WithCurveAuthenticator through pirate.WithSocketOptions).
// Inproc connections are not secured, as in libzmq.
func KeyOptions(kp socket.CurveKeyPair) (master, worker pirate.Option) {
	master = pirate.WithSocketOptions(socket.WithCurveServer(kp.Secret),
		socket.WithCurveAuthenticator(socket.AllowCurveKeys(kp.Public)))
	worker = pirate.WithSocketOptions(socket.WithCurveClient(kp.Public, kp))
	return master, worker
}

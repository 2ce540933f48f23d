// Package majordomo is the guide's Majordomo pattern: a service-oriented
// broker that clients ask for a service by name and workers serve by name,
// with heartbeats both ways, a queue per service, and the broker's own
// services for discovery.
//
//	Guide ("ZeroMQ - The Guide", https://zguide.zeromq.org)  Here
//	Ch. 4 "Service-Oriented Reliable Queuing (Majordomo
//	      Pattern)", mdbroker; spec 7/MDP 0.1                Broker
//	Ch. 4, mdwrkapi; MDP/Worker                              Worker, Handler
//	Ch. 4, mdcliapi; MDP/Client                              Client
//	Ch. 4 "Service Discovery", mmiecho; spec 8/MMI           MMIService, Client.ServiceExists
//
// Each speaks MDP/0.1 on the wire, so that any of them works with the
// guide's peers and other MDP implementations: our workers and clients
// with the guide's mdbroker, the guide's workers and clients with our
// Broker.
//
// Goroutines: each Broker, Worker and Client is a group of actors (package
// actor) under a supervisor of its own, started by its constructor and
// stopped by Close, which returns after every goroutine has ended. The
// Broker is one actor whose mailbox is fed by its ROUTER socket and a
// heartbeat clock; the Worker is a session actor that speaks MDP (fed by
// its socket and a clock) and a handler actor that runs the Handler, so
// that heartbeats go on while a request is handled, and its supervisor's
// back-off is its reconnect back-off; the Client is one actor that makes
// one request-reply exchange at a time. They report to an actor.Observer
// (WithObserver); the broker's own counts are in Stats, and reach an
// observer that takes figures (actor.Figures). All exported
// methods are safe for concurrent use; each type says what blocks.
//
// Options are per constructor: each With function says which it applies
// to, and any other refuses it with ErrBadOption.
//
// For the other patterns of the guide and how the packages of zmqflow fit
// together, see the root package's doc, "Choosing a package".
package majordomo

// Package pirate is the guide's reliable request-reply through a load
// balancer: the load-balancing broker with the Paranoid Pirate's
// heartbeats (LoadBalancer), its worker (Worker, with a Go Handler), the
// Lazy Pirate client grown to many requests at once (Client), and chains
// of load balancers across processes (Stage).
//
//	Guide ("ZeroMQ - The Guide", https://zguide.zeromq.org)    Here
//	Ch. 3 "A Load Balancing Message Broker" (lbbroker)       LoadBalancer (REQ workers and clients)
//	Ch. 4 "Robust Reliable Queuing (Paranoid Pirate
//	      Pattern)" (ppqueue, ppworker); spec 6/PPP          LoadBalancer, Worker
//	Ch. 4 "Client-Side Reliability (Lazy Pirate Pattern)"    Client
//	Beyond the guide: brokers chained across hosts (a
//	      stage's workers are clients of the next
//	      stage's broker)                                    Stage
//
// A LoadBalancer binds a ROUTER for clients and a ROUTER for workers.
// Workers speak the Paranoid Pirate Protocol from a DEALER: READY, then
// request and reply one at a time, and HEARTBEAT both ways every interval
// (1 s, liveness 3, as in the guide). A REQ socket can be a worker too, as
// in the guide's lbbroker: it sends "READY", then replies to one request at
// a time, and is neither sent nor expected to send heartbeats. The least
// recently used idle worker gets the next request, and clients are read
// only while a worker is idle.
//
// Beyond the guide, a request held by a worker that dies, or that holds it
// longer than WithHoldLimit (a minute by default), goes to another worker,
// and requests carry ids so that resends and second replies are dropped: a
// Client's Request returns one reply, at least once done. Workers never see
// a client's address stack (its routing id and, from a Client, the request
// id): the load balancer keeps it and puts a one-frame ticket in its place,
// which the worker copies into its reply. So every worker gets [address,
// "", body...], for a one-frame body exactly the three frames that the
// guide's ppworker and lbbroker workers insist on. Hence the guide's
// ppworker and lbbroker workers serve our LoadBalancer, for our Client as
// for REQ clients (lbbroker's among them), and our Worker serves the
// guide's ppqueue. The guide's ppqueue passes a Client's address stack to
// its workers as it is, so there a Client needs workers that copy any
// stack, as our Worker does.
//
// # Actors and goroutines
//
// Each LoadBalancer, Worker and Client is a group of supervised actors
// (package actor) whose mailboxes are fed by their sockets (patterns.Feed)
// and, for those that heartbeat, a clock (actor.Ticker): an actor owns the
// state and does the sending, so there are no loops of their own. An
// actor reads its first socket from its own goroutine (actor.PolledFeed),
// so that a message costs no hand-over between goroutines: the
// LoadBalancer's frontend, the Worker's handler its socket (its session
// reads it too, at each tick, while the handler is at a request). A
// Client's Requests read its socket themselves while they wait, and its
// actor's feed only once none has waited for a while. They report to an
// actor.Observer (WithObserver): the actors' lifecycle and each message
// handled, and the Stats of a LoadBalancer, a Worker or a Client as
// figures (actor.Figures). Each type's doc says what a
// restart of its actor loses and how its peers recover, which of its
// methods block and which goroutines it runs; constructors start them and
// Close returns after they have ended.
//
// Options are this package's (Option); each says which constructors take
// it, and another constructor refuses it with ErrBadOption.
//
// For the other patterns, and when to use which package, see the root
// package's doc, "Choosing a package" (package zmqflow).
package pirate

// Package broker is the guide's brokers and proxies on package socket, each
// named after the section of "ZeroMQ - The Guide" (https://zguide.zeromq.org)
// it implements:
//
//	Guide                                                   Here
//	Ch. 3 "A Load Balancing Message Broker" (lbbroker);
//	ch. 4 "Robust Reliable Queuing (Paranoid Pirate
//	      Pattern)" (ppqueue, ppworker); spec 6/PPP         LoadBalancer, Worker, Client
//	Ch. 4 "Client-Side Reliability (Lazy Pirate Pattern)"   Client's retries
//	Ch. 2 "Intermediaries and Proxies", "ZeroMQ's
//	      Built-In Proxy Function"                          Proxy
//	Ch. 2 "Shared Queue (DEALER and ROUTER sockets)"        Queue
//	Ch. 2 "Transport Bridging" (wuproxy)                    Forwarder
//	Ch. 5 "Pub-Sub Tracing (Espresso Pattern)"              WithCapture
//	Ch. 1 "Divide and Conquer"; ch. 2 "Handling Errors
//	      and ETERM" (kill); ch. 7 "Transferring Files"
//	      (credit-based flow control)                       Distributor, DistWorker
//	Ch. 3 "Inter-Broker Routing" (peering2, peering3):
//	      a broker with no idle worker lends a request
//	      to a peer that has one                            FederatedBroker
//	Beyond the guide: brokers chained across hosts (a
//	      stage's workers are clients of the next
//	      stage's broker), on ch. 4's Paranoid Pirate       Stage
//	Ch. 4 "Service-Oriented Reliable Queuing (Majordomo
//	      Pattern)", "Service Discovery"; specs 7/MDP,
//	      8/MMI                                             MDPBroker, MDPWorker, MDPClient
//
// # Load balancing with heartbeats
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
// # Goroutines
//
// Package socket has no poller. A broker that reads two sockets runs one
// goroutine per socket, feeding channels to one goroutine that owns the
// state and does the sending. Every type here says in its doc which of its
// methods block and which goroutines it runs; constructors start them and
// Close returns after they have ended.
//
// Reach for this package for a broker that is ready to run; for typed actors
// on sockets of your own design, package patterns; for frames, package
// socket (the root package's doc, "Choosing a package", compares them).
package broker

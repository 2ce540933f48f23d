// Package broker is the map of zmqflow's brokers: the guide's intermediaries,
// one package per pattern, each named as "ZeroMQ - The Guide"
// (https://zguide.zeromq.org) names it. This package has no code of its own.
//
//	Guide                                                   Package
//	Ch. 2 "Intermediaries and Proxies", "ZeroMQ's Built-In
//	      Proxy Function"; "Shared Queue" (msgqueue);
//	      "Transport Bridging" (wuproxy); ch. 5 "Espresso"  broker/proxy: Proxy, Queue, Forwarder
//	Ch. 3 "A Load Balancing Message Broker" (lbbroker);
//	ch. 4 "Robust Reliable Queuing (Paranoid Pirate)"
//	      (ppqueue, ppworker); "Client-Side Reliability
//	      (Lazy Pirate)"; spec 6/PPP                        broker/pirate: LoadBalancer, Worker,
//	                                                        Client, Stage
//	Ch. 3 "Inter-Broker Routing" (peering1-3)               broker/peering: Broker
//	Ch. 4 "Service-Oriented Reliable Queuing (Majordomo)",
//	      "Service Discovery"; specs 7/MDP, 8/MMI           broker/majordomo: Broker, Worker, Client
//	Ch. 1 "Divide and Conquer"; ch. 2 "Handling Errors and
//	      ETERM" (kill); ch. 7 "Transferring Files"
//	      (credit-based flow control)                       broker/distributor: Distributor, Worker
//
// Every broker, worker and client there is a supervised group of actors
// (package actor) whose mailboxes are its sockets: one actor holds the
// broker's state and takes, one at a time, what arrives on each socket and
// the ticks of its heartbeat clock; it sends on the sockets itself. (The
// proxies are simpler: a Queue or Forwarder is one stateless actor per
// direction, with no clock and no Stats, and Proxy is a plain function.) A panic
// in it restarts it with its sockets, under its supervisor. Each reports to
// the actor.Observer given with its package's WithObserver: its actors'
// messages, timings and failures, and, to an observer that takes figures
// (actor.Figures), the broker's own counters and levels (requests, replies,
// requeues, dead workers, queue depths) as its Stats has them.
//
// Each package has its own Option type and errors. An option given to a
// constructor it does not apply to is refused with that package's
// ErrBadOption, never ignored.
//
// The programs under examples/ run them as the guide's programs do:
// lbbroker; ppqueue and ppworker (with lpclient, on package patterns);
// mdbroker, mdworker and mdclient; peering. The READMEs of lbbroker,
// ppqueue, mdbroker and peering say how to run them with the guide's own
// Python or C peers.
//
// Reach for these packages for a broker that is ready to run; for typed
// actors on sockets of your own design, package patterns; for frames,
// package socket (the root package's doc, "Choosing a package", compares
// them).
package broker

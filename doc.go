// Package zmqflow is concurrent and distributed pipelines in Go with the
// patterns of "ZeroMQ - The Guide" (https://zguide.zeromq.org), in pure Go.
//
// This file is the map from the guide to the code. Packages marked (planned)
// are not written yet.
//
//	Guide                                     Package, type or program
//	----------------------------------------  ----------------------------------------------
//	Ch. 1  Ask and Ye Shall Receive (REQ/REP)  socket: Req, Rep; Example_reqRep
//	Ch. 1  Getting the Message Out (PUB/SUB)   socket: Pub, Sub, Subscribe; Example_pubSub
//	Ch. 1  Divide and Conquer (PUSH/PULL)      socket: Push, Pull; Example_pushPull
//	                                          examples/taskvent, taskwork, tasksink (planned)
//	Ch. 2  Messaging Patterns, socket types    socket (package doc), Type.Compatible
//	Ch. 2  Multipart Messages                  socket.Msg
//	Ch. 2  High-Water Marks                    socket.WithSendHWM, WithRecvHWM, Stats.Dropped
//	Ch. 2  Handling Errors and ETERM           socket: ctx on every blocking call, ErrClosed,
//	                                          Close with linger
//	Ch. 2  Intermediaries and Proxies          socket: XPub, XSub; broker: Proxy, Queue, Forwarder
//	Ch. 2  Missing Message Problem Solver      socket.Monitor events, Stats
//	Ch. 2  Multithreading with ZeroMQ          actor: Spawn, Ref.Tell, Ask, Supervise;
//	                                          patterns: Pipeline, Map (fan-out, fan-in)
//	Ch. 2  Signaling Between Threads (PAIR)    socket.Pair; patterns.Pair
//	Any    typed stages over sockets            patterns: Push, Pull, Pub, Sub, Req, Rep,
//	                                          Dealer, Router, Pair, with a Codec
//	Ch. 3  The Request-Reply Mechanisms        socket: Router, Dealer, WithIdentity,
//	                                          WithRouterMandatory; Example_routerDealer
//	Ch. 3  A Load Balancing Message Broker     broker: LoadBalancer, Worker, Client
//	Ch. 4  Client-Side Reliability (Lazy       patterns: Req with LazyPirate
//	       Pirate)
//	Ch. 4  Paranoid Pirate (spec 6/PPP)        broker: LoadBalancer, Worker (heartbeats, reconnect)
//	Ch. 4  Majordomo (MDP, spec 7)             broker (planned)
//	Ch. 5  Espresso (capture)                  broker: WithCapture
//	Security: ZMTP PLAIN (RFC 24)              socket.WithPlainClient, WithPlainServer
//
// Command-line tools: cmd/zcat pokes at any socket from a shell.
package zmqflow

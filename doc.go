// Package zmqflow is concurrent and distributed pipelines in Go with the
// patterns of "ZeroMQ - The Guide" (https://zguide.zeromq.org), in pure Go.
//
// This file is the map from the guide to the code.
//
//	Guide                                     Package, type or program
//	----------------------------------------  ----------------------------------------------
//	Ch. 1  Ask and Ye Shall Receive (REQ/REP)  socket: Req, Rep; Example_reqRep
//	Ch. 1  Getting the Message Out (PUB/SUB)   socket: Pub, Sub, Subscribe; Example_pubSub
//	Ch. 1  Divide and Conquer (PUSH/PULL)      socket: Push, Pull; Example_pushPull
//	                                          examples/taskvent, taskwork, tasksink
//	Ch. 1-2 pipeline with batches and credit   broker/distributor: Distributor, Worker
//	Ch. 2  Messaging Patterns, socket types    socket (package doc), Type.Compatible
//	Ch. 2  Handling Multiple Sockets           socket: Poll, PollItem, Readable, TryRecv,
//	       (zmq_poll)                         TrySend; ExamplePoll; examples/mspoller
//	Ch. 2  Multipart Messages                  socket.Msg
//	Ch. 2  High-Water Marks                    socket.WithSendHWM, WithRecvHWM, Stats.Dropped
//	Ch. 2  Handling Errors and ETERM           socket: ctx on every blocking call, ErrClosed,
//	                                          Close with linger, Shutdown(ctx) and
//	                                          ErrDiscarded; the kill signal (PUB/SUB):
//	                                          examples/taskwork, tasksink
//	Ch. 2  Intermediaries and Proxies          socket: XPub, XSub; broker/proxy: Proxy, Queue,
//	                                          Forwarder
//	Ch. 2  Shared Queue (DEALER and ROUTER)    examples/rrbroker (socket.Poll, PollOut),
//	                                          rrclient, rrworker
//	Ch. 2  Missing Message Problem Solver      socket.Monitor events, Stats
//	Ch. 2  Multithreading with ZeroMQ          actor: Spawn, Ref.Tell, Ask, Asker,
//	                                          Supervise, NewSupervisor (trees); patterns:
//	                                          Pipeline, Stage, Workers (fan-out), Source
//	Ch. 2  Signaling Between Threads (PAIR)    socket.Pair; patterns.Pair and Inbox.Peer
//	Any    actors whose mailboxes are sockets  patterns: Pull, Sub, Pair, Router, Rep, given
//	                                          to an actor with actor.WithFeed
//	Any    typed references over sockets       patterns: Push, Pub, Dealer, Req (Outbox.Ref
//	                                          is an actor.Ref), with a Codec; examples/squares
//	Ch. 3  The Request-Reply Mechanisms        socket: Router, Dealer, WithIdentity,
//	                                          WithRouterMandatory; Example_routerDealer
//	Ch. 3  The Asynchronous Client/Server      patterns: Router mailbox, Dealer reference,
//	       Pattern                            actor.Ask across processes
//	Ch. 3  A Load Balancing Message Broker     broker/pirate: LoadBalancer, Worker, Client;
//	                                          examples/lbbroker; gridsearch and
//	                                          examples/gridsearch (workers ask for work)
//	Ch. 3  Inter-Broker Routing (federation)   broker/peering: Broker; examples/peering
//	Ch. 4  Client-Side Reliability (Lazy       patterns: Req with LazyPirate; examples/lpclient
//	       Pirate)
//	Ch. 4  Lazy Pirate on one socket           socket.WithReqRelaxed, WithReqCorrelate;
//	                                          ExampleWithReqRelaxed
//	Ch. 4  Heartbeating (ZMTP PING, RFC 37)    socket.WithHeartbeat, ErrHeartbeat
//	Ch. 4  Paranoid Pirate (spec 6/PPP)        broker/pirate: LoadBalancer, Worker (heartbeats,
//	                                          reconnect); examples/ppqueue, ppworker
//	Ch. 4  Majordomo (spec 7/MDP, 8/MMI)       broker/majordomo: Broker, Worker, Client;
//	                                          examples/mdbroker, mdworker, mdclient
//	Stages chained across hosts (map, reduce)  broker/pirate: Stage (a worker upstream, a client
//	                                          downstream)
//	Ch. 5  Espresso (capture)                  broker/proxy: WithCapture
//	Ch. 5  Last Value Caching                  examples/lvcache (socket.Poll, WithXPubVerbose);
//	                                          socket.WithXPubWelcome, WithXPubManual;
//	                                          ExampleWithXPubWelcome
//	Ch. 7  Transferring Files (credit flow)    broker/distributor: WithCredit
//	Security: ZMTP PLAIN (RFC 24)              socket.WithPlainClient, WithPlainServer,
//	                                          Authenticator; ExampleWithPlainServer
//	Security: CURVE (RFC 26, keys RFC 32)      socket.WithCurveServer, WithCurveClient,
//	                                          NewCurveKeyPair, LoadCurveCert,
//	                                          AllowCurveKeysIn; ExampleWithCurveServer;
//	                                          cmd/zmqcat keygen, -curve-server, -curve-client
//	Hostile peers                              socket.WithMaxMsgSize, WithMaxHandshakes,
//	                                          WithMaxPeers, WithRecvBudget, WithHeartbeat
//	Job farm over a grid ("Easy cluster        gridsearch: Run, Serve, KeyOptions (CURVE);
//	parallelization with ZeroMQ")             examples/gridsearch (-key, -slurm)
//	Profiling parallel processes (PUSH/PULL    telemetry: ZMQFLOW_PROFILE, Start, Flush, Task;
//	to a collector, PUB/SUB to viewers)       cmd/zprof collect, top, report
//
// Pitfalls the pipeline examples reproduce (each README says more):
//
//   - Slow joiner: start tasksink and taskvent, press Enter, then start three
//     taskwork within the sink's -timeout. The first worker to connect gets
//     the whole batch ("Results by worker: w1 100") and the batch takes its
//     full serial cost. Waiting for Enter, or taskvent -workers N, is the cure.
//   - Round-robin stalls with uneven tasks: run one of three workers with
//     taskwork -slowdown 4. PUSH still deals it a third of the batch, the
//     others finish early and sit idle, and the batch takes about four times
//     as long. pirate.LoadBalancer gives each task to a worker that is free.
//   - Lost messages on exit: run tasksink -linger 0 a few times: KILL is
//     thrown away at exit and workers keep running. With taskvent -linger 0
//     the start of the batch or tasks are lost and the sink waits or reports
//     them missing. Close's linger is what the guide's sleep(1) was for.
//   - No recovery: kill -9 a worker mid-batch. Its queued tasks are gone;
//     tasksink reports what is missing after -timeout and exits 1.
//
// # Choosing a package
//
// Four layers, each built on the one before; reach for the highest that does
// the job:
//
//   - socket: a ZeroMQ socket with libzmq's semantics, frames in and out.
//     For talking to any ZeroMQ peer byte for byte, writing a new broker or
//     proxy, or when every allocation counts.
//   - actor: typed actors in one process: a behaviour, a bounded mailbox,
//     Tell and Ask, supervisors. For concurrency inside a program, with no
//     sockets at all.
//   - patterns: actors whose mailboxes and references are sockets, so the same
//     behaviour runs with its peers in another process or on another machine,
//     and pipelines of them. For a pipeline or a service you want to spread
//     over processes and machines with typed values.
//   - broker/...: the guide's brokers ready to run, one package per pattern
//     (pirate: load balancer with Paranoid Pirate; majordomo; peering;
//     distributor; proxy), each a supervised group of actors whose mailboxes
//     are its sockets; package broker's doc is their map. For reliable
//     request-reply and job farming without writing the broker.
//
// Between them: an actor.Ref is the same type whether it reaches a local
// actor or a socket (patterns' Outbox.Ref); a patterns Inbox is a socket
// given to an actor (actor.WithFeed); Inbox.Socket and Outbox.Socket give the
// socket.Socket underneath, for its Stats and Monitor; a socket.Msg is the
// frames a patterns Codec makes and reads.
//
// Beside them: gridsearch farms a command or a Go function over a parameter
// grid on the load balancer (package pirate), and telemetry measures every
// socket and actor of a program and ships the figures to cmd/zprof when
// ZMQFLOW_PROFILE names it.
//
// Command-line tools: cmd/zmqcat pokes at any socket from a shell; cmd/zprof
// collects, stores and shows the figures telemetry ships.
package zmqflow

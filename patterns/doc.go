// Package patterns puts actors on ZeroMQ sockets: mailboxes that are
// sockets, references that send over sockets, ask across processes, and
// pipelines of actors that run unchanged over inproc:// (goroutines),
// ipc:// (processes) and tcp:// (machines).
//
// An actor (package actor) is a behaviour, a goroutine and a mailbox. Here
// the mailbox can be a socket that receives, and the reference a socket that
// sends; the behaviour's code and the code holding the reference do not
// change, only the construction does:
//
//	// worker process: an actor whose mailbox is a PULL socket
//	in, _ := patterns.Pull(patterns.Binary[Task]{}, patterns.Connect("tcp://vent:5557"))
//	w, _ := actor.Spawn(ctx, worker, actor.WithFeed(in))
//
//	// ventilator process: an actor.Ref[Task] that sends over PUSH
//	out, _ := patterns.Push(patterns.Binary[Task]{}, patterns.Bind("tcp://*:5557"))
//	out.Ref().Tell(ctx, Task{N: 3})
//
// The guide's socket patterns, as mailboxes (an *Inbox, given to an actor
// with actor.WithFeed) and references (an *Outbox, whose Ref is an
// actor.Ref):
//
//	Guide ("ZeroMQ - The Guide", https://zguide.zeromq.org)  Mailbox       Reference
//	Ch. 1 "Divide and Conquer" (ventilator, workers, sink)     Pull          Push
//	Ch. 1 "Getting the Message Out"; ch. 2 "Pub-Sub Message
//	      Envelopes" (topic frame, then the value)             Sub           Pub
//	Ch. 2 "Signaling Between Threads (PAIR Sockets)"           Pair          Inbox.Peer
//	Ch. 3 "The Asynchronous Client/Server Pattern": Ask with
//	      correlation ids, many in flight                      Router        Dealer
//	Ch. 1 "Ask and Ye Shall Receive": Ask of a REQ/REP peer,
//	      libzmq's included                                    Rep           Req
//	Ch. 4 "Client-Side Reliability (Lazy Pirate Pattern)"      -             Req with LazyPirate
//	Ch. 2 "Multithreading with ZeroMQ" (share nothing)         Pipeline, Stage, Workers, Source
//
// # Mailboxes
//
// A PULL, SUB or PAIR Inbox is read by the actor itself whenever its
// mailbox has nothing for it; a Router or Rep Inbox receives from its socket
// into the actor's mailbox, waiting while it is full. Either way, what the
// actor has not taken waits in the socket's queue, which fills to its
// high-water mark, and the senders block, so back-pressure crosses processes
// as it does in libzmq. A message that does not decode is a dead letter of
// the actor (ErrDecode), never a panic. A supervised actor keeps its inbox,
// its socket and what is queued in both across restarts. Stop handles what
// the socket of an inbox holds when it is called (a Rep inbox hands its
// requests over one after the other, each once the last is answered), and
// answers still go out; the actor closes its inbox when it has ended for
// good, and what the socket still holds then is reported as dead letters (a
// request's asker is told at once that it will not be answered). The inbox
// first stops its socket receiving, so that it accounts for all of it:
// what peers send after that is refused (inproc) or discarded and counted
// in the socket's Stats().Unreceived (tcp, ipc), as on the wire when a
// socket closes.
//
// An actor that reads several sockets of its own, a broker with a frontend
// and a backend, is given a [Feed] per socket: raw frames, tagged by a wrap
// function, and a [Gate] that holds a socket back (the load balancer reads
// its clients only while a worker is idle); actor.Ticker is its clock.
//
// # References
//
// An Outbox is an actor.Remote: its Ref is an ordinary actor.Ref, so code
// holding a Ref cannot tell where the actor lives. Tell blocks within ctx
// where the socket blocks (PUSH, DEALER, PAIR at the high-water mark, or
// binding with no peer yet; one that connects queues for its peer to come,
// as libzmq's does) and returns actor.ErrMailboxFull when ctx ends first;
// PUB never blocks and reports each message that subscribers missed as a
// dead letter (ErrMissed, saying how many), and a message the socket
// discards unsent (its peer left, or it closed with it queued) is a dead
// letter too. actor.Ask on a Dealer's Ref is request-reply over
// DEALER/ROUTER with correlation ids: many asks in flight, replies out of
// order, the deadline from ctx, a late reply dropped and counted. An Ask
// whose request no peer took before ctx ended returns an error wrapping
// actor.ErrMailboxFull ("request not delivered"), on a Req's Ref as on a
// Dealer's; one sent and not answered, actor.ErrAskTimeout. A goroutine
// that asks again and again can keep one actor.Asker of the Ref, which
// saves each request its reply slot (three allocations).
//
// # Codecs
//
// A [Codec] turns values into the frames of one message and back: [Binary]
// for fixed-size values (the fast one), [JSON] for any shape and any peer,
// [String], [Bytes], [Frames], or your own with [CodecFuncs] and
// [FrameCodec].
//
// # Pipelines
//
// A [Pipeline] is a supervised group of stages. Each stage is an actor
// ([Stage], [Workers], [Pipeline.Source]), joined to the next by its Ref,
// local or an Outbox's; the first failure ends the pipeline unless the
// stage was made with [RestartingStage]; a sink returns [ErrStop] when it
// has everything, or a source when it has told everything and the stages
// are to drain (give each stage the Outbox it sends through with
// actor.WithOutput, and nothing on the wire between them is lost); Run
// returns after every goroutine and socket of the pipeline is gone. The
// same definition runs over any transport, and split across processes.
//
// Reach for this package when the same actors must run with their peers in
// other processes or on other machines; for actors within one process only,
// package actor; for frames and libzmq-level control, package socket; for the
// guide's brokers ready to run, the packages under broker (the root package's doc,
// "Choosing a package", compares them).
package patterns

// Package patterns is typed pipeline stages on ZeroMQ sockets, and the
// plumbing to join them into a pipeline that runs unchanged over inproc://
// (goroutines), ipc:// (processes) and tcp:// (machines).
//
// A stage owns one socket from package socket and speaks values of a Go
// type, turned into frames and back by a [Codec] ([Bytes], [String], [JSON],
// [Frames], or your own through [CodecFuncs] and [FrameCodec]). Each stage is
// one of the guide's patterns:
//
//	Guide ("ZeroMQ - The Guide", https://zguide.zeromq.org)   Stage
//	Ch. 1 "Divide and Conquer" (ventilator, workers, sink)      Push, Pull
//	Ch. 1 "Getting the Message Out"; ch. 2 "Pub-Sub Message
//	      Envelopes"                                            Pub, Sub
//	Ch. 1 "Ask and Ye Shall Receive"                            Req, Rep
//	Ch. 2 "Signaling Between Threads (PAIR Sockets)"            Pair
//	Ch. 3 "The Request-Reply Mechanisms", "The DEALER to
//	      ROUTER Combination"                                   Dealer, Router, Envelope
//	Ch. 4 "Client-Side Reliability (Lazy Pirate Pattern)"       Req with LazyPirate
//	Ch. 2 "Multithreading with ZeroMQ" (share nothing)          Pipeline
//
// # Stages and goroutines
//
// A stage's constructor makes its socket and binds and connects it, so
// Endpoint is known at once and a tcp port can be "*". The stage then runs
// in the goroutine that calls its run method (Produce, Consume, Transform or
// Run), the only one that touches the socket (Pair, Dealer and Router use
// two: one sends, one receives). Everyone else talks to a stage through the
// channels given to that method, or, for Req, through Request, which hands
// the request to the running stage. When the run method returns the socket
// is closed: lingering for queued messages after a clean end, dropping them
// after a failure or a cancelled ctx, so that an abandoned pipeline ends
// promptly. A stage runs once.
//
// The hand-over through a channel is most of what a typed stage costs over
// a raw socket. Where that matters, Push.Generate and Pull.Each run the
// producer or the consumer in the stage's own goroutine instead.
//
// # Pipelines
//
// A [Pipeline] runs stages under one ctx with errgroup: the first error
// cancels every stage, and Run returns it after every goroutine and socket is
// gone. [From], [To], [Through], [Map] (fan-out to N workers, fan-in of the
// results), [Each] and [Merge] join stages with channels; sockets join them
// across goroutines, processes and machines. A sink that has what it waits
// for returns [ErrStop] to end the pipeline as a success.
//
// A message that does not decode is an error value (ErrDecode) handed to the
// stage's [OnDecodeError] handler, never a panic; a panic in a stage,
// handler or codec is recovered into a [*PanicError].
package patterns

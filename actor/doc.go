// Package actor is typed actors for Go: a behaviour that handles one message at
// a time, a goroutine that runs it, a bounded mailbox in front of it, and
// supervisors that restart it when it fails.
//
// It is the threading model of "ZeroMQ - The Guide", chapter 2, "Multithreading
// with ZeroMQ" (https://zguide.zeromq.org/docs/chapter2/#Multithreading-with-ZeroMQ):
// share no state between threads, give each its own data, and let them talk
// only by messages. An actor's state belongs to its goroutine; other goroutines
// hold a [Ref] and send it messages. The package knows nothing of sockets,
// but it has the two small interfaces through which an actor reaches outside
// the process: a [Feed] is another entrance to a mailbox (a socket that
// receives; an actor may have several, as a broker reads a frontend and a
// backend), and a [Remote] is what a [Ref] sends through when the actor
// lives elsewhere (a socket that sends). Package patterns makes both from
// ZeroMQ sockets, so the same behaviour and the same Ref-holding code run
// with their peers in this process, another process or another machine.
//
// The pieces, one file each:
//
//   - [Behavior] and [BehaviorFunc]: what an actor does with one message;
//     optional [Starter] and [Stopper] hooks.
//   - [Spawn] and [Actor]: start an actor (Spawn returns once it started),
//     Stop(ctx) drains it, Close stops it now.
//   - [Ref]: Tell (blocks within ctx when the mailbox is full) and TryTell;
//     [RefTo] makes one from a [Remote].
//   - [Feed] and [WithFeed]: a mailbox's entrances from outside, kept across
//     restarts; [Inlet] is how a feed puts messages in; a [PolledFeed] (a
//     socket) is read by the actor's own goroutine instead; [Ticker], a
//     clock for heartbeats and deadlines; [WithOutput], a socket reference
//     the actor sends through, released when it ends, before the actors
//     downstream of it drain.
//   - [Mailbox]: Bounded (the default), DropNewest, DropOldest, Unbounded,
//     always chosen by name; every drop is a [DeadLetter].
//   - [Ask] and [Request]: request-reply with the deadline of ctx;
//     [Asker], for one goroutine asking again and again, keeps its reply
//     slot between requests; [NewRequest] for a request whose reply goes
//     back over a socket.
//   - [Supervise] and [Supervisor]: OneForOne, AllForOne, RestForOne, with a
//     restart intensity and back-off; panics become [PanicError], the one
//     panic type of zmqflow. [NewSupervisor] makes a subtree: supervisors
//     supervised, failures escalating up the tree.
//   - [Observer]: lifecycle, dead letters, queueing and handling times.
//
// Lifecycle events never travel in an actor's message type: they go to the
// Observer, and an actor's end is its Done channel and Err.
//
// Package actortest has Probe, an actor that records what it receives, and
// Recorder, an Observer that tests can await events on.
//
// Reach for this package for concurrency within one process; when the same
// actors must talk across processes or machines, package patterns gives them
// socket mailboxes and references (the root package's doc, "Choosing a
// package", compares socket, actor, patterns and broker).
package actor

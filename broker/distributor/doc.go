// Package distributor is the guide's divide-and-conquer pipeline as a
// service: a Distributor that is ventilator and sink in one, so that it can
// tell a submitter when a batch of tasks is complete, and Workers that take
// tasks as they have credit, with a kill channel to end them and heartbeats
// to find the ones that died with tasks in hand.
//
//	Guide ("ZeroMQ - The Guide", https://zguide.zeromq.org)  Here
//	Ch. 1 "Divide and Conquer" (taskvent, tasksink)          Distributor, Batch, BatchHandle
//	Ch. 1 "Divide and Conquer" (taskwork)                    Worker, Handler
//	Ch. 2 "Handling Errors and ETERM" (taskwork2,
//	      tasksink2): the kill signal                        Distributor.Kill
//	Ch. 7 "Transferring Files" (fileio3): credit-based
//	      flow control                                       WithCredit, WithWindow
//	Ch. 4 "Robust Reliable Queuing (Paranoid Pirate
//	      Pattern)": heartbeats both ways                    WithHeartbeat, WithReconnect
//	Ch. 1 taskvent's PUSH, round-robin                       WithRoundRobin
//
// Beyond the guide, dispatch is demand-driven by default (a task goes to a
// worker with credit to spare, the guide's load balancing at task
// granularity), results must carry the ticket of their dispatch (so that a
// peer cannot make up results), a dead worker's tasks go to others, and a
// task that every worker it reaches dies of is given up. The frames are
// described in protocol.go.
//
// What a batch promises, while the Distributor runs: no task is lost (each
// gets its result, or, demand-driven, is given up as failed after
// WithMaxDeliveries), and each task's result is taken once (a second one
// is counted in Stats.Duplicates and dropped); but a handler may run more
// than once for a task that went out again.
// Demand-driven, a task goes out again when its worker is found dead
// (silent for the liveness intervals of WithHeartbeat, 3 s by default) or
// says BYE or READY again. Round-robin (WithRoundRobin), where workers say
// ACK for the tasks they get, a task no worker has said ACK for is in
// doubt when a connection to the task endpoint ends or a worker leaves,
// and goes out again after a grace of two heartbeat intervals (2 s by
// default); while every worker says ACK, one that none has said ACK for
// within the liveness intervals goes out again too. So a worker that is
// well but stalled past the grace (a long pause of its process, or its
// results channel at the high-water mark: WorkerStats.AcksDelayed) runs
// tasks that also went to another worker, and one stalled past the
// liveness is found dead, and the tasks it held go out again: duplicates,
// never losses. A handler whose effects must not happen twice should be
// idempotent.
//
// Goroutines: each Distributor and Worker is a group of actors (package
// actor) under a supervisor of its own, started by its constructor and
// stopped by Close, which returns after every goroutine has ended. The
// Distributor is one actor whose mailbox is fed by its sockets, a heartbeat
// clock, Submit and Kill, and one goroutine per batch in progress that
// pulls the batch's tasks, one at a time, as workers have credit. The
// Worker is a session actor that speaks the protocol (fed by its sockets
// and a clock) and a handler actor that runs the Handler, so that
// heartbeats go on while a task runs; its supervisor's back-off is the
// wait before it registers again with a distributor that fell silent. They
// report to an actor.Observer (WithObserver); the distributor's own counts
// are in Stats, and reach an observer that takes figures. All exported
// methods are safe for concurrent use; each type says what blocks.
//
// Options are per constructor: each With function says which it applies
// to, and any other refuses it with ErrBadOption.
//
// For the other patterns of the guide and how the packages of zmqflow fit
// together, see the root package's doc, "Choosing a package".
package distributor

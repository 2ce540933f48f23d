// Package gridsearch runs a command, or a Go function, for every point of a
// parameter grid on worker slots in this process and on other machines, and
// reports each point's result exactly once. It is the library under the
// gridsearch command, and the job of the seed article "Easy cluster
// parallelization with ZeroMQ".
//
// The pieces, in the order a run uses them:
//
//   - NewGrid parses parameter specs ("p=0:1:5", "q=1e-6:1:log:7", "n=1..8",
//     "s=a,b") into a Grid, the product of their values; Point is one
//     combination, and Expand fills a command's placeholders: {name}, {#}
//     (the point's index), {%} (the slot's number, filled in by the worker
//     that runs it; ExpandSlot) and the escapes {{ and }}. Unused names
//     the parameters no placeholder uses.
//   - ReadPoints reads a Grid of listed points (its Rows) from a CSV or
//     JSON Lines file instead, a hostile input read within bounds.
//   - Run is the master. It starts a pirate.LoadBalancer ("ZeroMQ - The
//     Guide" ch. 3, "A Load Balancing Message Broker", with the Paranoid
//     Pirate heartbeats of ch. 4) and local worker slots, and keeps a few more
//     points in flight than there are slots: workers ask for work, so uneven
//     durations do not stall the run as PUSH round-robin does (ch. 1's
//     pipeline); with a halt set (Halt, HaltPercent) no more points than
//     slots, so that none waits to run after the halt. A worker that dies has
//     its point run elsewhere. OnStart
//     runs once the endpoint is bound, before any point; OnResult streams
//     records as they arrive; Progress tells running points from queued
//     ones; Summary says how the run went.
//   - Serve is a worker process: slots that connect to a master's Bind
//     endpoint and run its points; ServeIdle also ends when no master has
//     been heard for a while, and ServeWith also reports a master lost and
//     found again.
//   - KeyOptions has a master and its workers authenticate each other with
//     a shared CURVE key pair, and encrypt what they send.
//
// A command runs without a shell, with stdin from /dev/null. On Linux it
// leads a process group of its own, which a timeout, or its worker closing,
// kills whole (but not a child that left the group with setsid); and the
// command itself, not its children, dies with its worker's process
// (PR_SET_PDEATHSIG). So a worker killed with SIGKILL, which kills no group,
// leaves the command's children running while the point runs elsewhere.
// A command that exits leaving a child that holds its stdout or stderr
// open is reported, as it exited, once its exit is seen and what it wrote
// is read (the child given half a second; WaitDelay on other
// systems), or at its timeout if sooner, and its group is killed then
// (Record.Stray).
// On other systems only the command is killed, and not when its worker dies.
package gridsearch

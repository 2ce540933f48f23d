package distributor

// The work distributor's protocol: the guide's ventilator, workers and sink
// (ch. 1 "Divide and Conquer": taskvent, taskwork, tasksink), with the kill
// signal of ch. 2 "Handling Errors and ETERM" (taskwork2, tasksink2) and
// the credit-based flow control of ch. 7 "Transferring Files" (fileio3).
//
// Wiring (three endpoints, all bound by the Distributor):
//
//	tasks    demand-driven: ROUTER; each worker's DEALER sends READY with
//	         its credit, and HEARTBEAT; each result returns one credit
//	         round-robin:   PUSH; each worker's PULL (the guide's taskvent)
//	results  PULL; each worker's PUSH sends HELLO, results, BYE (tasksink),
//	         and HEARTBEAT and ACK when round-robin
//	control  PUB; each worker's SUB hears KILL (tasksink2), and HEARTBEAT
//	         and ACK when round-robin
//
// Frames (every integer big-endian):
//
//	task       batch id (8), seq (8), ticket (8), payload
//	READY      "READY", credit (4)          worker -> tasks (demand)
//	HELLO      "HELLO", worker id           worker -> results
//	result     "RESULT", worker id, batch id (8), seq (8), ticket (8),
//	           status (1: 0 ok, 1 failed), payload (the handler's result,
//	           or its error text)
//	BYE        "BYE", worker id             worker -> results
//	KILL       "KILL"                       control -> workers
//	HEARTBEAT  "HEARTBEAT"                  tasks -> worker, worker -> tasks
//	                                        (demand); control -> workers
//	                                        (round-robin)
//	           "HEARTBEAT", worker id       worker -> results (round-robin)
//	ACK        "ACK"                        control -> workers (round-robin)
//	           "ACK", worker id, tickets    worker -> results (round-robin):
//	                                        8 bytes each, none at first
//
// A worker copies a task's three header frames into its result untouched:
// they are the distributor's, as the address stack is the broker's in PPP.
//
// Tickets: a result is taken only for a task that was dispatched, from the
// worker it went to, once. Each dispatch gets a ticket, 64 random bits no
// other dispatch in flight has; a result must carry the ticket, batch id
// and seq of a dispatch of ours and, demand-driven, name the worker it went
// to. Anything else is dropped and counted (Stats.Forged, Late,
// Duplicates; an unknown status byte is Malformed), so a peer that reaches
// the results endpoint cannot make up results for tasks it was not given.
//
// Credit: a READY's credit is capped at the distributor's window
// (WithWindow), and the distributor keeps a count per worker, not a token
// per credit, so four bytes from a peer cost it nothing more. Workers with
// credit to spare take turns, a task each.
//
// Heartbeats (the Paranoid Pirate's, ch. 4, with WithHeartbeat's interval
// and liveness on both sides): demand-driven, the distributor sends
// HEARTBEAT to each worker every interval over the task ROUTER (mandatory
// routing, so a worker whose connection is gone is found at once), and the
// worker sends HEARTBEAT on its DEALER. A worker reads the distributor's
// heartbeats as they come, also while its handler runs, so a worker that
// cannot take one within two intervals is stuck, and dead too. Round-robin
// has no way back to one worker: the distributor publishes HEARTBEAT on the
// control channel and each worker sends "HEARTBEAT", its id on the results
// channel. A worker that has sent HEARTBEAT and then nothing at all for
// liveness intervals is dead, as is one the distributor cannot send to.
// Its tasks go to other workers (demand-driven: those it held; round-robin:
// see ACK below), and a late
// result from it is still taken if it comes first; the second result of a
// task is dropped. A Worker that has heard the distributor's heartbeats and
// then nothing for liveness intervals says HELLO and READY again: the
// distributor forgot it (it was buried alive, or the distributor
// restarted). A READY from a worker the distributor knows starts it over:
// the tasks it held go to others.
//
// ACK (round-robin): the PUSH does not say which connection it dealt a task
// to, nor which connection ended, so the workers say it. The distributor
// publishes ACK on the control channel with each HEARTBEAT. A worker that
// hears it says ACK at once with the tickets of the tasks it holds (none,
// if it holds none), then ACK with the ticket of each task it gets, and
// reads its tasks as they come rather than leaving them in its socket.
// A Worker does not wait for room on its results channel to say ACK: the
// tickets of an ACK that found none go with its next (so one ACK may name
// several tasks), at the latest at its next heartbeat. A
// worker that said ACK for a task holds it: the task goes out again if
// that worker says BYE, dies or says HELLO again (it starts over), and not
// when another peer goes. A task that no worker has said ACK for is in
// doubt when a connection of the PUSH ends or a worker leaves, and so is
// one that goes out for a while after a worker left (the PUSH may still
// deal to its connection): it goes out again if no ACK comes for it within
// two heartbeat intervals. While every worker has said ACK, a task that
// none has said ACK for within the liveness intervals goes out again
// too, with no ended connection: it is at a peer that is not a worker
// (one that never said HELLO, or is frozen or gone unheard). So a task
// lost with a connection goes out again (one queued for a connection that
// ended and came back too), on inproc, which reports no ended connection,
// as well, and one that a worker holds does not. An ACK later than that
// costs a task run twice, not lost. An ACK names tickets, which only the
// peer a task was dealt to knows, so a peer cannot take another's tasks
// with it; tickets of no task in flight are ignored.
//
// Compatibility with peers older than heartbeats and tickets: a worker
// echoes the task header untouched, so the third frame, which was the
// batch size (the distributor knows it), carries the ticket to and from
// any worker. A worker that never sends HEARTBEAT (an older worker, the
// guide's taskwork) is never buried for its silence, only when it cannot
// be sent to; so that one that dies with tasks in hand is found, it is sent
// HEARTBEAT while it holds tasks (never waiting for room in its queue),
// which it counts as a malformed task and drops. A Worker sends one
// HEARTBEAT after READY (or, round-robin, HELLO), which an older
// distributor counts as malformed and drops, and no more unless it hears
// the distributor's heartbeats: with an older distributor it speaks the old
// protocol. Round-robin, a worker older than ACK does not subscribe to it
// and says none: its tasks are in doubt at each connection's end, and run
// twice, as they did before ACK; a worker says ACK only to a distributor
// that publishes it, so an older one never gets one.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"strconv"
)

// Errors returned by the package. Each is wrapped with detail and matched
// with errors.Is.
var (
	// ErrTaskFailed is a task whose handler returned an error or panicked
	// (Result.Err wraps it with the handler's error text), or that was
	// given up after WithMaxDeliveries workers died holding it or gave it
	// back.
	ErrTaskFailed = errors.New("distributor: task failed")
	// ErrBatchSize is a batch whose Tasks yielded fewer tasks than its Size
	// (BatchSummary.Err) or a Batch with a Size below 1 or Tasks nil (Submit).
	// Tasks beyond Size are not pulled.
	ErrBatchSize = errors.New("distributor: batch size does not match its tasks")
	// ErrBatchID is a Submit whose batch id is in use by an unfinished batch.
	ErrBatchID = errors.New("distributor: batch id in use")
	// ErrBatchLost is a batch that was in progress when the Distributor's
	// actor failed (see Distributor): BatchHandle.Wait returns it at once.
	// Its results so far are lost; submit it again.
	ErrBatchLost = errors.New("distributor: batch lost in a restart")
	// ErrClosed is a call on a Distributor after Close, or a batch that was
	// in progress at Close.
	ErrClosed = errors.New("distributor: closed")
	// ErrBadOption is an option given to a constructor that does not take
	// it, a value out of range, or a nil handler.
	ErrBadOption = errors.New("distributor: invalid option")
)

// Dispatch is how a Distributor hands tasks to workers.
type Dispatch int

const (
	// DemandDriven (the default): a task goes to the worker that has had
	// credit the longest (the guide's load balancing, at task granularity);
	// each worker announces its credit (WithCredit), and each result it
	// sends returns one, as each chunk does for the client of fileio3.
	DemandDriven Dispatch = iota
	// RoundRobin: tasks go out on a PUSH socket, one worker after the other
	// whatever they hold (the guide's taskvent). Slow tasks make queues
	// behind them; see WithRoundRobin.
	RoundRobin
)

func (d Dispatch) String() string {
	if d == RoundRobin {
		return "round-robin"
	}
	return "demand-driven"
}

// Endpoints are what a Worker connects to: a Distributor's three endpoints
// and its dispatch, which decides the worker's task socket type (DEALER
// for DemandDriven, PULL for RoundRobin).
type Endpoints struct {
	Tasks, Results, Control string
	Dispatch                Dispatch
}

// Batch is a set of tasks submitted together. Its id and each task's seq
// travel with the task and back with its result, so that the sink knows
// which batch and place the result is for.
type Batch struct {
	// ID names the batch on the wire; 0 lets the Distributor pick one. An id
	// may be reused once its batch is complete.
	ID uint64
	// Size is the number of tasks; Tasks must yield exactly that many.
	Size int
	// Tasks yields the task payloads. It is pulled lazily, one task each
	// time a worker has credit, from a goroutine of the Distributor's, so a
	// batch of a million tasks need not be in memory. It must not block
	// forever: Close (and a restart of the Distributor's actor) waits for it
	// to return.
	Tasks iter.Seq[[]byte]
	// OnResult, if set, is called with each result as it arrives, and the
	// summary carries no results. It is called from the Distributor's actor,
	// one call at a time, so it must be quick and must not call the
	// Distributor. The result's Data belongs to OnResult.
	OnResult func(Result)
}

// Result is the outcome of one task.
type Result struct {
	Batch uint64
	Seq   int    // the task's place in its batch, from 0
	Data  []byte // the handler's result
	// Err is nil, or ErrTaskFailed wrapping the handler's error text, or
	// saying that the task was given up: each of WithMaxDeliveries workers
	// it went to died or gave it back before answering.
	Err error
}

// BatchSummary is what a complete batch reports.
type BatchSummary struct {
	ID     uint64
	Size   int
	OK     int // tasks that succeeded
	Failed int // tasks whose handler failed, or given up (ErrTaskFailed)
	// Results, indexed by seq, unless the batch had OnResult.
	Results []Result
	// Err is ErrBatchSize when Tasks yielded fewer than Size tasks (the
	// batch completes with the results of those it did yield).
	Err error
}

// Wire words.
var (
	wordReady     = []byte("READY")
	wordHello     = []byte("HELLO")
	wordResult    = []byte("RESULT")
	wordBye       = []byte("BYE")
	wordKill      = []byte("KILL")
	wordHeartbeat = []byte("HEARTBEAT")
	wordAck       = []byte("ACK")
)

// header is the batch id, seq and ticket a task and its result carry.
type header struct {
	batch  uint64
	seq    uint64
	ticket uint64
}

func (h header) frames() [][]byte {
	return [][]byte{
		binary.BigEndian.AppendUint64(nil, h.batch),
		binary.BigEndian.AppendUint64(nil, h.seq),
		binary.BigEndian.AppendUint64(nil, h.ticket),
	}
}

func parseHeader(f [][]byte) (header, bool) {
	if len(f) < 3 || len(f[0]) != 8 || len(f[1]) != 8 || len(f[2]) != 8 {
		return header{}, false
	}
	return header{binary.BigEndian.Uint64(f[0]), binary.BigEndian.Uint64(f[1]), binary.BigEndian.Uint64(f[2])}, true
}

// parseTask reads a task as a worker receives it: the header, then the
// payload.
func parseTask(m [][]byte) (header, []byte, bool) {
	h, ok := parseHeader(m)
	if !ok || len(m) != 4 {
		return header{}, nil, false
	}
	return h, m[3], true
}

// maxQuoted bounds what a log line quotes of a peer's frame: enough to see
// what it was, while a frame of any size (256 MiB by default) makes a short
// line, not one four times its size.
const maxQuoted = 32

// parseAck reads the tickets frame of an ACK: tickets, 8 bytes each; none
// says that the worker says ACK.
func parseAck(f []byte) ([]byte, bool) {
	if len(f)%8 != 0 {
		return nil, false
	}
	return f, true
}

// ackTickets yields the tickets of an ACK's frame, as parseAck took it.
func ackTickets(f []byte) iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		for ; len(f) >= 8; f = f[8:] {
			if !yield(binary.BigEndian.Uint64(f)) {
				return
			}
		}
	}
}

// appendAck appends tickets to an ACK's frame.
func appendAck(f []byte, tickets ...uint64) []byte {
	for _, t := range tickets {
		f = binary.BigEndian.AppendUint64(f, t)
	}
	return f
}

// quoteFrame quotes a frame for a log line, cut at maxQuoted bytes.
func quoteFrame(f []byte) string {
	if len(f) <= maxQuoted {
		return strconv.Quote(string(f))
	}
	return fmt.Sprintf("%q... (%d bytes)", f[:maxQuoted], len(f))
}

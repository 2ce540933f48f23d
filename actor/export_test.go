package actor

import "io"

// Hooks into the profiler for package actor_test's tests of it.

// NewProfiler makes the profiler of actors named name, as Spawn does with
// profiling on.
func NewProfiler(name string) Observer { return newProfObserver(name) }

// LetGo and Settle are the two steps of a profiler's release.
func LetGo(o Observer) bool { return o.(*profObserver).letGo() }

func Settle(o Observer) { o.(*profObserver).settle() }

func Release(o Observer) { o.(*profObserver).release() }

func AddBlocked(o Observer, ns uint64) { o.(*profObserver).addBlocked(ns) }

// Released says whether o is a profiler that has let its series go.
func Released(o Observer) bool {
	po, ok := o.(*profObserver)
	return ok && po.released.Load()
}

// ChildObserver is the observer of a prepared child, and SubtreeObserver
// that of a prepared subtree.
func ChildObserver[M any](ch *Child[M]) Observer { return ch.cell.Load().obs }

func SubtreeObserver(sc *SupervisorChild) Observer { return sc.cfg.observer }

// WaitingSenders is how many senders are registered as waiting for room in
// the mailbox of r, an actor in this process.
func WaitingSenders[M any](r Ref[M]) int {
	q := r.local().q
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiters
}

// OutputRegistered says whether o is registered as held or being released.
func OutputRegistered(o io.Closer) bool {
	outputs.Lock()
	defer outputs.Unlock()
	_, ok := outputs.held[o]
	return ok
}

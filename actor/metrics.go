package actor

// Figures is what an Observer may also implement to receive an actor's own
// figures, beyond what the actor package measures itself: a broker's
// requests, replies, requeues and dead workers (counters, totals that only
// grow) and its queue depths and idle workers (levels, that go up and down).
// The brokers of zmqflow report them after every change, to the observer
// given with their WithObserver option; telemetry and metrics exporters hang
// on it.
//
// Values are totals, not increments, so a report lost or repeated does no
// harm. Names are short and stable ("Requests", "Pending"); actor is the
// reporting actor's name. The methods are called from the actor's goroutine
// and must be safe for concurrent use, as every Observer method.
type Figures interface {
	Counter(actor, name string, total uint64)
	Level(actor, name string, value int64)
}

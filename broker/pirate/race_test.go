//go:build race

package pirate_test

// raceEnabled: the race detector slows every channel hand-over and lock by
// several times, which the dispatch-efficiency test must allow for.
const raceEnabled = true

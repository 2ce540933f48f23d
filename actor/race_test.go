//go:build race

package actor_test

// raceEnabled: under the race detector a sync.Pool drops a quarter of what
// it is given, so pooled objects are made again now and then.
const raceEnabled = true

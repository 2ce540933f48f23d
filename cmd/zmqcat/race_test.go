//go:build race

package main

// raceEnabled builds the zmqcat binary under test with -race too, when the
// tests run with it.
const raceEnabled = true

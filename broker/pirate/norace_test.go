//go:build !race

package pirate_test

const raceEnabled = false

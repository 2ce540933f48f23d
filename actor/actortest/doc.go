// Package actortest helps test code built on package actor: Probe, an actor
// that records what it receives, and Recorder, an actor.Observer whose events
// a test can await. Every wait is bounded by a timeout given by the test.
package actortest

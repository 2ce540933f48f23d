package main

import (
	"strconv"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

// A publisher naming a new topic in each message fills the cache to its
// bound and no further; the topics it holds keep their last value, one
// that no longer fits is dropped rather than left stale, and what the
// cache counts is what it holds.
func TestCacheBounded(t *testing.T) {
	const max = 64 << 10
	c := newCache(max)
	value := make([]byte, 1000)
	for i := range 10 * max / len(value) {
		c.put("topic-"+strconv.Itoa(i), socket.Msg{[]byte("topic-" + strconv.Itoa(i)), value})
	}
	held := 0
	for topic, m := range c.msgs {
		held += cost(topic, m)
	}
	if c.bytes != held || held > max || len(c.msgs) == 0 || c.refused == 0 {
		t.Fatalf("cache of %d topics: counts %d bytes, holds %d, bound %d, refused %d", len(c.msgs), c.bytes, held, max, c.refused)
	}
	// An update of a cached topic that fits replaces its value.
	if !c.put("topic-0", socket.Msg{[]byte("topic-0"), []byte("new")}) || string(c.msgs["topic-0"][1]) != "new" {
		t.Fatalf("small update of a cached topic not taken: %q", c.msgs["topic-0"])
	}
	// One that does not fit drops the topic: its old value is not its last.
	refused := c.refused
	if c.put("topic-1", socket.Msg{[]byte("topic-1"), make([]byte, max)}) {
		t.Fatal("an update larger than the cache taken")
	}
	if _, ok := c.msgs["topic-1"]; ok || c.refused != refused+1 {
		t.Fatalf("topic-1 after an update that does not fit: cached %v, refused %d", ok, c.refused)
	}
	held = 0
	for topic, m := range c.msgs {
		held += cost(topic, m)
	}
	if c.bytes != held {
		t.Fatalf("counts %d bytes, holds %d", c.bytes, held)
	}
}

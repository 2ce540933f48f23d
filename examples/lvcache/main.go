// Lvcache is the last value cache of "ZeroMQ - The Guide", chapter 5, "Last
// Value Caching" (the guide's lvcache), in Go: a proxy between publishers
// and subscribers that remembers the last message of every topic and sends
// it to a subscriber as soon as it subscribes, so that a late joiner does
// not wait for the next update. Publishers reach its SUB, subscribers its
// XPUB, whose subscription messages tell it who wants what; one loop serves
// both with socket.Poll.
//
// Messages are the guide's two frames, topic and value; the cache is keyed
// by the first frame. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	frontEP   = flag.String("frontend", "tcp://*:5557", "where publishers connect (SUB, bound)")
	publisher = flag.String("publisher", "", "connect the SUB to this publisher instead of binding -frontend (the guide's pathopub binds)")
	backEP    = flag.String("backend", "tcp://*:5558", "where subscribers connect (XPUB, bound)")
	verbose   = flag.Bool("v", false, "say when a topic is cached for the first time")
	maxBytes  = flag.Int("cache-bytes", 64<<20, "the most the cache holds, in bytes of messages: a topic past it is not cached")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "lvcache: unexpected argument %q: lvcache takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "lvcache:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	frontend, err := socket.New(socket.Sub, socket.WithLinger(0))
	if err != nil {
		return err
	}
	defer frontend.Close()
	// Verbose: every subscription reaches the loop, a second subscriber's
	// to a topic someone already has too, so that it gets the cached value.
	backend, err := socket.New(socket.XPub, socket.WithLinger(0), socket.WithXPubVerbose())
	if err != nil {
		return err
	}
	defer backend.Close()
	// Every topic from the publishers: the cache must see them all.
	if err := frontend.Subscribe(nil); err != nil {
		return err
	}
	fe := *publisher
	if fe != "" {
		err = frontend.Connect(fe)
	} else {
		fe, err = frontend.Bind(*frontEP)
	}
	if err != nil {
		return err
	}
	be, err := backend.Bind(*backEP)
	if err != nil {
		return err
	}
	fmt.Printf("I: publishers on %s, subscribers on %s\n", fe, be)

	if *maxBytes < 1 {
		return fmt.Errorf("-cache-bytes %d: want a positive size", *maxBytes)
	}
	cache := newCache(*maxBytes)
	missed := 0 // messages a subscriber at its high-water mark did not get
	defer func() {
		fmt.Printf("I: %d topics cached; %d updates not cached (cache full); subscribers missed %d messages\n",
			len(cache.msgs), cache.refused, missed)
	}()
	items := []socket.PollItem{
		{Socket: frontend, Events: socket.PollIn},
		{Socket: backend, Events: socket.PollIn},
	}
	for {
		if _, err := socket.Poll(ctx, items); err != nil {
			if ctx.Err() != nil {
				return nil // Ctrl-C
			}
			return err
		}
		// New topic data: cache it, then pass it on.
		if items[0].Ready&socket.PollIn != 0 {
			m, err := frontend.TryRecv()
			if err != nil && !errors.Is(err, socket.ErrWouldBlock) {
				return err
			}
			if m != nil {
				topic := string(m[0])
				_, seen := cache.msgs[topic]
				switch {
				case !cache.put(topic, m):
					if cache.refused == 1 {
						fmt.Fprintf(os.Stderr, "lvcache: cache full (%d topics, %d bytes): %.40q not cached, nor will any update be past -cache-bytes %d (counted at exit)\n",
							len(cache.msgs), cache.bytes, topic, cache.max)
					}
				case !seen && *verbose:
					fmt.Printf("I: new topic %s\n", shown(topic))
				}
				n, err := backend.Publish(m)
				if err != nil {
					return err
				}
				missed += n
			}
		}
		// A subscription (0x01 then the topic; 0x00 is a cancel): send
		// what the cache has for it. The XPUB passes on only the first
		// subscription to a topic, so a second subscriber to it gets no
		// cached value, as with libzmq's XPUB by default.
		if items[1].Ready&socket.PollIn != 0 {
			m, err := backend.TryRecv()
			if err != nil && !errors.Is(err, socket.ErrWouldBlock) {
				return err
			}
			if len(m) == 1 && len(m[0]) > 0 && m[0][0] == 1 {
				topic := string(m[0][1:])
				if cached, ok := cache.msgs[topic]; ok {
					fmt.Printf("Sending cached topic %s\n", shown(topic))
					n, err := backend.Publish(cached)
					if err != nil {
						return err
					}
					missed += n
				}
			}
		}
	}
}

// shown is topic as printed: as is when it is plain printable text, as the
// guide prints it, quoted with Go's escapes otherwise. Publishers choose
// the topics, and a terminal would act on the escape sequences of one.
func shown(topic string) string {
	if topic != "" && strings.IndexFunc(topic, func(r rune) bool {
		return r == ' ' || r == utf8.RuneError || !unicode.IsPrint(r)
	}) < 0 {
		return topic
	}
	return strconv.Quote(topic)
}

// cache is the last message of each topic, at most max bytes of them as
// cost counts them: publishers choose the topics, and a publisher that
// names a new one in each message would otherwise grow it until the
// process runs out of memory.
type cache struct {
	msgs    map[string]socket.Msg
	bytes   int // the cost of msgs
	max     int
	refused int // updates not cached: the cache was full
}

func newCache(max int) *cache { return &cache{msgs: make(map[string]socket.Msg), max: max} }

// cost is what a topic's message costs the cache: its bytes, and the
// map's entry and slice headers that hold them.
func cost(topic string, m socket.Msg) int {
	n := 64 + len(topic)
	for _, f := range m {
		n += 24 + len(f)
	}
	return n
}

// put makes m the topic's last message. It reports false when that would
// take the cache past its bound: then the topic is not cached at all,
// since the value it had is no longer its last, and a subscriber to it
// waits for the next update, as without a cache.
func (c *cache) put(topic string, m socket.Msg) bool {
	n := c.bytes + cost(topic, m)
	old, had := c.msgs[topic]
	if had {
		n -= cost(topic, old)
	}
	if n > c.max {
		if had {
			delete(c.msgs, topic)
			c.bytes -= cost(topic, old)
		}
		c.refused++
		return false
	}
	c.msgs[topic], c.bytes = m, n
	return true
}

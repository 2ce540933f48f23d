// Package tell is the remote Tell measurement shared by the bench command
// (zmqflow's side) and the peer commands of the other actor frameworks,
// which are separate programs because protoactor-go and hollywood both
// register a protobuf file "actor.proto" and cannot be linked together.
//
// The receiving side binds and prints "READY <address>"; the sender tells for
// -duration, then an end marker (nanos -1, seconds = how many it sent); the
// receiver checks the count and prints "RESULT <json>" with the rate from
// its first message to the marker, as the bench command's other peers do.
package tell

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Args are a peer's command-line arguments, those of the bench command's
// hidden peer subcommand.
type Args struct {
	Role     string // "tell-recv" or "tell-send"
	Ep       string
	Duration time.Duration
	Count    uint64
	Hold     bool
}

// Parse reads the peer subcommand's flags, ignoring those of other cases.
func Parse(args []string) (Args, error) {
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	var a Args
	fs.StringVar(&a.Role, "role", "", "tell-recv or tell-send")
	fs.StringVar(&a.Ep, "ep", "", "where to bind or connect")
	fs.DurationVar(&a.Duration, "duration", 2*time.Second, "how long the sender tells")
	fs.Uint64Var(&a.Count, "count", 0, "tell this many instead of for -duration")
	fs.BoolVar(&a.Hold, "hold", false, "wait for stdin to end before closing")
	fs.String("impl", "", "ignored")
	fs.Int("size", 0, "ignored")
	fs.Bool("hb", false, "ignored")
	fs.String("cpuprofile", "", "ignored")
	return a, fs.Parse(args)
}

// WaitRelease returns once the bench command is done with this peer.
func (a Args) WaitRelease() {
	if a.Hold {
		io.Copy(io.Discard, os.Stdin)
	}
}

// Counter counts what a receiving actor got, from the actor's goroutine.
type Counter struct {
	n     uint64
	start time.Time
	Done  chan error // the report's outcome, once the end marker came
}

func NewCounter() *Counter { return &Counter{Done: make(chan error, 1)} }

// Got counts one message, or reports at the end marker.
func (c *Counter) Got(seconds int64, nanos int32) {
	if nanos != -1 {
		if c.n == 0 {
			c.start = time.Now()
		}
		c.n++
		return
	}
	elapsed := time.Since(c.start)
	if uint64(seconds) != c.n {
		c.Done <- fmt.Errorf("received %d messages, sender sent %d", c.n, seconds)
		return
	}
	j, err := json.Marshal(struct {
		Msgs    uint64  `json:"msgs"`
		Seconds float64 `json:"seconds"`
	}{c.n, elapsed.Seconds()})
	if err == nil {
		fmt.Printf("RESULT %s\n", j)
	}
	c.Done <- err
}

// For calls tell for a.Duration (or a.Count times), then with the end marker.
func For(a Args, tell func(seconds int64, nanos int32) error) error {
	deadline := time.Now().Add(a.Duration)
	var sent uint64
	for {
		for range 256 {
			if err := tell(int64(sent), int32(sent%1e9)); err != nil {
				return fmt.Errorf("tell %d: %w", sent, err)
			}
			if sent++; a.Count > 0 && sent == a.Count {
				break
			}
		}
		if a.Count > 0 && sent >= a.Count || a.Count == 0 && time.Now().After(deadline) {
			break
		}
	}
	return tell(int64(sent), -1)
}

// FreeAddr picks a free loopback port, for frameworks that want one named.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Main runs a peer program: recv or send as -role says.
func Main(recv, send func(Args) error) {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "__peer" {
		args = args[1:]
	}
	a, err := Parse(args)
	if err == nil {
		switch a.Role {
		case "tell-recv":
			err = recv(a)
		case "tell-send":
			err = send(a)
		default:
			err = fmt.Errorf("unknown role %q", a.Role)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

const usage = `usage: zmqcat -t TYPE (-bind EP | -connect EP)... [options]
       zmqcat keygen FILE

netcat for ZeroMQ: each stdin line is sent as one message, each message
received is printed as one line; frames are separated by a delimiter.

  -t TYPE          socket type, any case: PUSH PULL PUB SUB XPUB XSUB REQ REP
                   DEALER ROUTER PAIR
  -bind EP         bind tcp://HOST:PORT (PORT * = any) or ipc:///PATH; repeatable
  -connect EP      connect to tcp://HOST:PORT or ipc:///PATH; repeatable
  -d DELIM         frame delimiter (default \t); escapes \t \r \0 \xHH \\ \|
  -n N             stop after N messages: received, or sent for PUSH and PUB,
                   or N round trips for REQ (default 0: no limit)
  -sub PREFIX      SUB, XSUB: subscribe to PREFIX; repeatable (default: all)
  -id ID           routing identity announced to peers (ROUTER addresses us by it)
  -reply TEXT      REP: send TEXT (split on DELIM) as every reply instead of
                   echoing the request
  -wait-peers N    before sending, wait until N peers finished their handshake
  -wait DURATION   before sending, wait this long (after -wait-peers, if given)
  -timeout DURATION
                   give up, exit 3, when a message to receive (or a REQ's
                   reply) does not come within DURATION (default 0: no limit);
                   not for PUSH and PUB
  -heartbeat IVL[,TIMEOUT[,TTL]]
                   ZMTP heartbeats (durations): PING peers every IVL, drop one
                   silent for TIMEOUT after a PING (default IVL), and ask them
                   to drop us after TTL without traffic (default 0: never)
  -linger DURATION at exit, how long queued messages may take to go out
                   (default 30s; 0 drops them, -1s waits without bound)
  -v               report bound endpoints and every connection event on stderr

CURVE security (RFC 26; tcp and ipc):
  -curve-server FILE_secret
                   be the CURVE server, with the key pair in FILE_secret
  -curve-allow DIR CURVE server: admit only clients whose public key is in a
                   certificate in DIR (read at start; default: any client)
  -curve-client FILE_secret
                   be a CURVE client, with the key pair in FILE_secret
  -curve-serverkey KEY
                   CURVE client: the server's public key, in Z85 (40
                   characters) or as the path of its public certificate
zmqcat keygen FILE writes a new key pair: FILE, the public certificate to hand
out, and FILE_secret (mode 0600); it prints the public key.

PUSH and PUB only send; PULL and SUB only receive. PAIR, DEALER, ROUTER,
XPUB and XSUB do both at once: stdin lines go out while messages received are
printed, and stdin EOF ends only the sending. REQ sends each line and prints
its reply; REP prints each request and echoes it back (or sends -reply).
A connect that fails is retried; its cause is reported once, and again
whenever it changes.

Send-only types and REQ end at stdin EOF, once queued messages are sent
(within -linger). Ctrl-C or SIGTERM ends zmqcat at once, at any point, and
discards what is still queued.

Exit status: 0 when zmqcat ends (stdin EOF, -n, Ctrl-C, SIGTERM) with nothing
discarded; 1 when queued messages were discarded (-linger ran out, or a
signal came, before a peer took them: one line says how many) or anything
else failed; 2 for a bad command line; 3 when -timeout ran out.
`

// config is the parsed command line.
type config struct {
	typ       socket.Type
	endpoints []endpointArg // in command-line order
	n         int
	subs      []string
	id        string
	delim     []byte
	reply     socket.Msg // nil: echo (REP)
	waitPeers int
	wait      time.Duration
	linger    time.Duration
	timeout   time.Duration   // 0: none
	heartbeat heartbeat       // interval 0: none
	security  []socket.Option // CURVE, from the -curve flags
	verbose   bool
}

// heartbeat is -heartbeat: socket.WithHeartbeat's arguments.
type heartbeat struct{ interval, timeout, ttl time.Duration }

type endpointArg struct {
	bind bool
	ep   string
}

// endpointFlag collects -bind and -connect in the order given.
type endpointFlag struct {
	bind bool
	list *[]endpointArg
}

func (f endpointFlag) String() string { return "" }
func (f endpointFlag) Set(s string) error {
	*f.list = append(*f.list, endpointArg{bind: f.bind, ep: s})
	return nil
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (f *listFlag) String() string     { return strings.Join(*f, ",") }
func (f *listFlag) Set(s string) error { *f = append(*f, s); return nil }

// parseArgs reads the command line. Every error is one line, without the
// "zmqcat: " prefix; flag.ErrHelp asks for the usage text.
func parseArgs(args []string) (*config, error) {
	fs := flag.NewFlagSet("zmqcat", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var (
		cfg              config
		typ, delim, rep  string
		hb               string
		subs             listFlag
		waitPeers, limit int
		curve            curveFlags
	)
	fs.StringVar(&typ, "t", "", "")
	fs.Var(endpointFlag{bind: true, list: &cfg.endpoints}, "bind", "")
	fs.Var(endpointFlag{bind: false, list: &cfg.endpoints}, "connect", "")
	fs.IntVar(&limit, "n", 0, "")
	fs.Var(&subs, "sub", "")
	fs.StringVar(&cfg.id, "id", "", "")
	fs.StringVar(&delim, "d", `\t`, "")
	fs.StringVar(&rep, "reply", "", "")
	fs.IntVar(&waitPeers, "wait-peers", 0, "")
	fs.DurationVar(&cfg.wait, "wait", 0, "")
	fs.DurationVar(&cfg.linger, "linger", socket.DefaultLinger, "")
	fs.DurationVar(&cfg.timeout, "timeout", 0, "")
	fs.StringVar(&hb, "heartbeat", "", "")
	fs.BoolVar(&cfg.verbose, "v", false, "")
	fs.StringVar(&curve.server, "curve-server", "", "")
	fs.StringVar(&curve.client, "curve-client", "", "")
	fs.StringVar(&curve.serverKey, "curve-serverkey", "", "")
	fs.StringVar(&curve.allow, "curve-allow", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, oneLine(err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see zmqcat -h)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	if typ == "" {
		return nil, errors.New("-t TYPE is required (see zmqcat -h)")
	}
	t, err := socket.ParseType(typ)
	if err != nil {
		return nil, fmt.Errorf("unknown socket type %q (want PUSH, PULL, PUB, SUB, XPUB, XSUB, REQ, REP, DEALER, ROUTER or PAIR)", typ)
	}
	cfg.typ = t
	if len(cfg.endpoints) == 0 {
		return nil, errors.New("no endpoint: give -bind EP or -connect EP")
	}
	for _, e := range cfg.endpoints {
		if strings.HasPrefix(e.ep, "inproc://") {
			return nil, fmt.Errorf("%s: inproc endpoints only join sockets of one process; use tcp:// or ipc://", e.ep)
		}
	}
	if cfg.delim, err = parseDelim(delim); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, fmt.Errorf("bad -n %d: want 0 (no limit) or more", limit)
	}
	cfg.n = limit
	if len(subs) > 0 && t != socket.Sub && t != socket.XSub {
		return nil, fmt.Errorf("-sub is for SUB and XSUB sockets, not %v", t)
	}
	cfg.subs = subs
	if given["reply"] {
		if t != socket.Rep {
			return nil, fmt.Errorf("-reply is for REP sockets, not %v", t)
		}
		cfg.reply = splitFrames([]byte(rep), cfg.delim)
	}
	if waitPeers < 0 || cfg.wait < 0 {
		return nil, errors.New("-wait-peers and -wait must not be negative")
	}
	if (waitPeers > 0 || cfg.wait > 0) && !sendsLines(t) {
		return nil, fmt.Errorf("-wait-peers and -wait delay sending stdin, which %v does not do", t)
	}
	cfg.waitPeers = waitPeers
	if given["id"] && cfg.id == "" {
		return nil, errors.New("bad -id: the identity is empty")
	}
	if cfg.timeout < 0 {
		return nil, fmt.Errorf("bad -timeout %v: want 0 (no limit) or more", cfg.timeout)
	}
	if cfg.timeout > 0 && roleOf(t) == sendOnly {
		return nil, fmt.Errorf("-timeout bounds receiving, which %v does not do", t)
	}
	if given["heartbeat"] {
		if cfg.heartbeat, err = parseHeartbeat(hb); err != nil {
			return nil, err
		}
	}
	if cfg.security, err = curve.options(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// maxTTL is the longest TTL a ZMTP PING carries: 16 bits of tenths of a second.
const maxTTL = math.MaxUint16 * 100 * time.Millisecond

// parseHeartbeat reads -heartbeat IVL[,TIMEOUT[,TTL]]. The checks are
// socket.WithHeartbeat's, made here so the error names the flag.
func parseHeartbeat(s string) (heartbeat, error) {
	bad := func(why string, args ...any) (heartbeat, error) {
		return heartbeat{}, fmt.Errorf("bad -heartbeat %q: %s", s, fmt.Sprintf(why, args...))
	}
	fields := strings.Split(s, ",")
	if len(fields) > 3 {
		return bad("want IVL[,TIMEOUT[,TTL]]")
	}
	var d [3]time.Duration
	for i, f := range fields {
		v, err := time.ParseDuration(f)
		if err != nil {
			return bad("%q is not a duration (like 500ms or 2s)", f)
		}
		d[i] = v
	}
	hb := heartbeat{interval: d[0], timeout: d[1], ttl: d[2]}
	switch {
	case hb.interval <= 0:
		return bad("the interval must be more than 0")
	case hb.timeout < 0:
		return bad("the timeout must not be negative")
	case hb.ttl != 0 && (hb.ttl < 100*time.Millisecond || hb.ttl > maxTTL):
		return bad("the TTL must be 0 or from 100ms to %v", maxTTL)
	}
	return hb, nil
}

// oneLine keeps an error to its first line.
func oneLine(err error) error {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return errors.New(s)
}

// The roles a socket type plays for zmqcat.
type role int

const (
	sendOnly  role = iota // PUSH, PUB: stdin to the socket
	recvOnly              // PULL, SUB: the socket to stdout
	duplex                // PAIR, DEALER, ROUTER, XPUB, XSUB: both at once
	requester             // REQ: a line out, its reply in
	replier               // REP: a request in, a reply out
)

func roleOf(t socket.Type) role {
	switch t {
	case socket.Push, socket.Pub:
		return sendOnly
	case socket.Pull, socket.Sub:
		return recvOnly
	case socket.Req:
		return requester
	case socket.Rep:
		return replier
	}
	return duplex
}

// sendsLines says whether zmqcat sends stdin lines on a socket of type t.
func sendsLines(t socket.Type) bool {
	r := roleOf(t)
	return r == sendOnly || r == duplex || r == requester
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/zmqflow/zmqflow/gridsearch"
	"github.com/zmqflow/zmqflow/socket"
)

// Who may join a run. The trust model is one CURVE key pair per cluster,
// made by "gridsearch keygen -o NAME" (NAME the public certificate,
// NAME_secret both keys) and given with -key NAME_secret to the master and
// to every worker: the master proves it holds the secret to each worker
// (the CURVE server key check), each worker proves it to the master (the
// master admits that public key only), and the traffic is encrypted. A
// worker without the key, or with another, gets no point; a worker never
// runs a command from a master without it. The secret file is what to
// guard: whoever reads it may be master or worker.

const keygenUsage = "usage: gridsearch keygen -o NAME (writes NAME, the public certificate, and NAME_secret, the cluster key for -key)"

// keygenCmd is "gridsearch keygen -o NAME": a new key pair, written as
// CZMQ's certificates (socket.SaveCurveCert). Existing files are not
// overwritten: replacing a cluster's key locks out every worker that has
// the old one.
func keygenCmd(args []string) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("o", "", "the certificate to write: NAME (public) and NAME_secret (both keys, mode 0600)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Println(keygenUsage)
			return errHelp
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *out == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: %s", errUsage, keygenUsage)
	}
	for _, p := range []string{*out, *out + "_secret"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: keygen: %s exists; not overwritten (workers holding that key would be locked out)", errUsage, p)
		}
	}
	kp, err := socket.NewCurveKeyPair()
	if err != nil {
		return err
	}
	cert := socket.CurveCert{Public: kp.Public, Secret: kp.Secret, Metadata: map[string]string{"name": "gridsearch cluster key"}}
	if err := socket.SaveCurveCert(*out, cert); err != nil {
		// The error names the temporary file the certificate is written
		// through, which the user never named.
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("keygen -o %s: %w", *out, pe.Err)
		}
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Printf("wrote %s and %s (keep it private): give -key %s to the master and to each worker\n", *out, *out+"_secret", *out+"_secret")
	return nil
}

// loadKey reads -key FILE: a secret certificate, which both sides need.
func loadKey(path string) (socket.CurveKeyPair, error) {
	c, err := socket.LoadCurveCert(path)
	if err != nil {
		return socket.CurveKeyPair{}, fmt.Errorf("-key %s: %v", path, err)
	}
	kp, err := c.KeyPair()
	if err != nil {
		hint := "give the _secret file gridsearch keygen wrote"
		if _, serr := os.Stat(path + "_secret"); serr == nil {
			hint = "give " + path + "_secret"
		}
		return kp, fmt.Errorf("-key %s holds no secret key: %s", path, hint)
	}
	return kp, nil
}

// keyConfig adds -key's options to cfg, and returns the warning for a
// master bound on a non-loopback address without one ("" for none).
func keyConfig(o *options, cfg *gridsearch.Config) (string, error) {
	if o.key == "" {
		if o.bind != "" && !loopback(o.bind) {
			return fmt.Sprintf("gridsearch: warning: -bind %s without -key: anyone who reaches the port may join as a worker and send results (gridsearch keygen makes a key)", o.bind), nil
		}
		return "", nil
	}
	if o.bind == "" {
		return "", fmt.Errorf("%w: -key is for remote workers: give -bind too", errUsage)
	}
	kp, err := loadKey(o.key)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	master, worker := gridsearch.KeyOptions(kp)
	cfg.BrokerOptions = append(cfg.BrokerOptions, master)
	cfg.WorkerOptions = append(cfg.WorkerOptions, worker)
	return "", nil
}

// workerKey is the worker's -key: its socket options ("" for none), and
// the warning for a worker that connects, without one, beyond loopback.
func workerKey(path, connect string) ([]socket.Option, string, error) {
	if path == "" {
		if !loopback(connect) {
			return nil, fmt.Sprintf("gridsearch worker: warning: no -key: any master at %s may have this worker run any command", connect), nil
		}
		return nil, "", nil
	}
	kp, err := loadKey(path)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", errUsage, err)
	}
	return []socket.Option{socket.WithCurveClient(kp.Public, kp)}, "", nil
}

// loopback reports whether a tcp endpoint's host is a loopback address
// (or localhost): no other machine reaches it. A wildcard is not; nor is
// a host name, which may resolve anywhere; ipc and inproc endpoints are
// this machine's only.
func loopback(ep string) bool {
	rest, ok := strings.CutPrefix(ep, "tcp://")
	if !ok {
		return true
	}
	host := rest
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host = rest[:i]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// watchHandshake tells on stderr why this worker's connections to ep fail:
// a host name that does not resolve, or a handshake that fails (a master
// without our key, or one that refuses it) is otherwise only "no master
// heard". It connects one socket of its own with
// the workers' socket options, says each new reason once, and stops at the
// first handshake that succeeds, a refusal (which is final), or ctx's end.
// Its socket connects at once, and an endpoint that cannot be connected
// (no transport, no port) is returned as a usage error, before the worker
// says anything; the events wait for the returned start, which returns
// the func that stops the watch and waits for it.
func watchHandshake(ctx context.Context, ep string, opts []socket.Option, keyed bool) (start func() (stop func()), err error) {
	sock, err := socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(0)}, opts...)...)
	if err != nil {
		return nil, err
	}
	events := sock.Monitor()
	if err := sock.Connect(ep); err != nil {
		sock.Close()
		if errors.Is(err, socket.ErrBadEndpoint) {
			why := strings.TrimPrefix(err.Error(), socket.ErrBadEndpoint.Error()+": ")
			return nil, fmt.Errorf("%w: -connect %s: %s; give the master's address, e.g. tcp://master:5555", errUsage, ep,
				strings.TrimPrefix(why, fmt.Sprintf("%q: ", ep)))
		}
		return nil, err
	}
	return func() func() { return watchEvents(ctx, sock, events, ep, keyed) }, nil
}

// watchEvents is watchHandshake's reader of sock's events.
func watchEvents(ctx context.Context, sock *socket.Socket, events <-chan socket.Event, ep string, keyed bool) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sock.Close()
		last := ""
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok || ev.Kind == socket.EventHandshakeOK {
					return
				}
				// A master's host name that does not resolve (a typo in
				// -connect) is otherwise only "no master heard".
				var dns *net.DNSError
				if ev.Kind == socket.EventConnectRetried && errors.As(ev.Err, &dns) && ev.Err.Error() != last {
					last = ev.Err.Error()
					fmt.Fprintf(os.Stderr, "gridsearch worker: cannot find the master's host %s (%v); still trying\n", dns.Name, dns.Err)
					continue
				}
				if ev.Kind != socket.EventHandshakeFailed || ev.Err == nil || ev.Err.Error() == last {
					continue
				}
				last = ev.Err.Error()
				fmt.Fprintln(os.Stderr, handshakeLine(ep, ev.Err, keyed))
				if errors.Is(ev.Err, socket.ErrAuth) {
					return
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// handshakeLine is the reason a worker's handshake with the master at ep
// failed, in the user's terms.
func handshakeLine(ep string, err error, keyed bool) string {
	why := "the master has another -key, or is no gridsearch master"
	switch {
	case errors.Is(err, socket.ErrAuth):
		why = "the master refused this worker's key"
	case !keyed:
		why = "the master may need -key (this worker has none)"
	}
	return fmt.Sprintf("gridsearch worker: handshake with %s failed: %s (%v); no point is taken from it", ep, why, err)
}

// maxRefusedHosts bounds the hosts and reasons refusedWorkers remembers
// having told of: whoever reaches -bind chooses the address its
// connections come from (an IPv6 host has millions), and each would
// otherwise cost a line on stderr and an entry kept until the run ends.
const maxRefusedHosts = 256

// refusedWorkers is the master's Config.OnRefused: it says on stderr that
// a connection to -bind failed its handshake, and why in the user's terms,
// once per host and reason, since a refused worker keeps trying. Without
// it, a worker with the wrong key shows on the master only as no slots.
// Past maxRefusedHosts hosts and reasons it says so once and no more.
func refusedWorkers(keyed bool, println func(string)) func(string, error) {
	told := map[string]bool{}
	return func(remote string, err error) {
		if len(told) > maxRefusedHosts {
			return
		}
		host := remote
		if h, _, splitErr := net.SplitHostPort(remote); splitErr == nil {
			host = h
		}
		why := "it has a -key and this run has none, or it is no gridsearch worker"
		switch {
		case errors.Is(err, socket.ErrAuth):
			why = "its key is not this run's -key"
		case keyed:
			why = "it has another -key or none, or it is no gridsearch worker"
		}
		if told[host+"\x00"+why] {
			return
		}
		told[host+"\x00"+why] = true
		if len(told) > maxRefusedHosts {
			println(fmt.Sprintf("gridsearch: refused workers from more than %d hosts: no more are told of", maxRefusedHosts))
			return
		}
		println(fmt.Sprintf("gridsearch: refused a worker from %s: %s (%v); it gets no point", remote, why, err))
	}
}

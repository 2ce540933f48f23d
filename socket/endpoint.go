package socket

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// endpoint is a parsed "transport://address".
type endpoint struct {
	transport string // "tcp", "ipc" or "inproc"
	addr      string // host:port for tcp, a path for ipc, a name for inproc
}

func (e endpoint) String() string { return e.transport + "://" + e.addr }

// parseEndpoint reads an endpoint as libzmq does. For binds, "tcp://*:5555"
// means every interface and port "*" (or 0) a port the system picks.
func parseEndpoint(s string, bind bool) (endpoint, error) {
	transport, addr, ok := strings.Cut(s, "://")
	if !ok || addr == "" {
		return endpoint{}, fmt.Errorf("%w: %q: want transport://address", ErrBadEndpoint, s)
	}
	switch transport {
	case "inproc", "ipc":
		return endpoint{transport, addr}, nil
	case "tcp":
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return endpoint{}, fmt.Errorf("%w: %q: %v", ErrBadEndpoint, s, err)
		}
		if port == "*" {
			if !bind {
				return endpoint{}, fmt.Errorf("%w: %q: a wildcard port is only for Bind", ErrBadEndpoint, s)
			}
			port = "0"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || (n == 0 && !bind) {
			return endpoint{}, fmt.Errorf("%w: %q: bad port %q", ErrBadEndpoint, s, port)
		}
		if host == "*" {
			if !bind {
				return endpoint{}, fmt.Errorf("%w: %q: a wildcard host is only for Bind", ErrBadEndpoint, s)
			}
			host = ""
		}
		if host == "" && !bind {
			return endpoint{}, fmt.Errorf("%w: %q: Connect needs a host", ErrBadEndpoint, s)
		}
		return endpoint{"tcp", net.JoinHostPort(host, port)}, nil
	}
	return endpoint{}, fmt.Errorf("%w: %q: unknown transport %q (tcp, ipc or inproc)", ErrBadEndpoint, s, transport)
}

// boundEndpoint is what a bind actually got, as libzmq's ZMQ_LAST_ENDPOINT:
// the port the system picked, and 0.0.0.0 for "*".
func boundEndpoint(e endpoint, l net.Listener) string {
	if e.transport != "tcp" {
		return e.String()
	}
	a := l.Addr().(*net.TCPAddr)
	host := a.IP.String()
	if a.IP.IsUnspecified() && !strings.HasPrefix(e.addr, "[") {
		host = "0.0.0.0" // "*" listens on every interface, v4 and v6
	}
	return "tcp://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/zmqflow/zmqflow/gridsearch"
)

// workerHint is the line that tells how workers join a master bound at
// ep. A wildcard address (tcp://*:5555 binds 0.0.0.0) is no address to
// connect to: the hint names the host instead, and lists its other
// addresses, for a host name the workers cannot resolve.
func workerHint(points int, ep string) string {
	connect, addrs := ep, []string(nil)
	if host, port, ok := wildcard(ep); ok {
		connect = fmt.Sprintf("tcp://%s", net.JoinHostPort(host, port))
		for _, a := range hostAddrs() {
			addrs = append(addrs, fmt.Sprintf("tcp://%s", net.JoinHostPort(a, port)))
		}
	}
	s := fmt.Sprintf("gridsearch: %s; workers join with: gridsearch worker -connect %s", pointCount(points), connect)
	if len(addrs) > 0 {
		s += fmt.Sprintf(" (or by address: %s)", strings.Join(addrs, ", "))
	}
	return s
}

// wildcard reports whether ep is a tcp endpoint bound on every address,
// and returns this host's name and the port.
func wildcard(ep string) (host, port string, ok bool) {
	u, err := url.Parse(ep)
	if err != nil || u.Scheme != "tcp" {
		return "", "", false
	}
	h := u.Hostname()
	if ip := net.ParseIP(h); h != "*" && (ip == nil || !ip.IsUnspecified()) {
		return "", "", false
	}
	return gridsearch.Hostname(), u.Port(), true
}

// hostAddrs is this host's addresses but loopback and link-local ones,
// IPv4 first.
func hostAddrs() []string {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var v4, v6 []string
	for _, a := range ifaddrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() || n.IP.IsLinkLocalMulticast() {
			continue
		}
		if n.IP.To4() != nil {
			v4 = append(v4, n.IP.String())
		} else {
			v6 = append(v6, n.IP.String())
		}
	}
	return append(v4, v6...)
}

//go:build !linux

package socket

import "net"

// adoptConn returns nc: only Linux moves ipc connections off Go's poller
// (ipcconn_linux.go).
func adoptConn(nc net.Conn) net.Conn { return nc }

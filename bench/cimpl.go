package main

// #cgo pkg-config: libzmq
// #include <stdlib.h>
// #include <zmq.h>
// #include "libzmqc.h"
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// runLibzmqC runs a peer's whole loop in C (libzmqc.c): libzmq with no
// binding between it and the loop, the ceiling any binding can reach.
func runLibzmqC(a peerArgs) error {
	ctx := C.zb_ctx_new()
	if ctx == nil {
		return errors.New("zmq_ctx_new failed")
	}
	defer C.zb_ctx_term(ctx)
	size, dur, count := C.int(a.size), C.int64_t(a.duration.Nanoseconds()), C.uint64_t(a.count)

	open := func(typ C.int) (unsafe.Pointer, error) {
		s, err := C.zb_socket(ctx, typ)
		if s == nil {
			return nil, fmt.Errorf("zmq_socket: %w", err)
		}
		if a.heartbeat {
			ms := func(d time.Duration) C.int { return C.int(d.Milliseconds()) }
			if rc, err := C.zb_heartbeat(s, ms(hbInterval), ms(hbTimeout)); rc != 0 {
				C.zb_close(s)
				return nil, fmt.Errorf("heartbeat options: %w", err)
			}
		}
		if curveOn {
			if err := cCurve(s, typ == C.ZMQ_PULL); err != nil {
				C.zb_close(s)
				return nil, err
			}
		}
		return s, nil
	}
	bind := func(s unsafe.Pointer, announce bool) (string, error) {
		cep := C.CString(a.ep)
		defer C.free(unsafe.Pointer(cep))
		var out [256]C.char
		if rc, err := C.zb_bind(s, cep, &out[0], C.size_t(len(out))); rc != 0 {
			return "", fmt.Errorf("bind %s: %w", a.ep, err)
		}
		ep := C.GoString(&out[0])
		if announce {
			fmt.Printf("READY %s\n", ep)
		}
		return ep, nil
	}
	connect := func(s unsafe.Pointer, ep string) error {
		cep := C.CString(ep)
		defer C.free(unsafe.Pointer(cep))
		if rc, err := C.zb_connect(s, cep); rc != 0 {
			return fmt.Errorf("connect %s: %w", ep, err)
		}
		return nil
	}
	recv := func(s unsafe.Pointer) error {
		var n C.uint64_t
		var secs C.double
		switch rc, err := C.zb_recv_until_end(s, size, &n, &secs); rc {
		case 0:
			return report(result{Msgs: uint64(n), Seconds: float64(secs)})
		case -2:
			return errors.New("unexpected message size")
		case -3:
			return fmt.Errorf("received %d messages, the sender sent another count", n)
		default:
			return fmt.Errorf("recv: %w", err)
		}
	}
	send := func(s unsafe.Pointer) error {
		if rc, err := C.zb_send_for(s, size, dur, count); rc != 0 {
			return fmt.Errorf("send: %w", err)
		}
		return nil
	}
	echo := func(s unsafe.Pointer) error {
		if rc, err := C.zb_echo(s); rc != 0 {
			return fmt.Errorf("echo: %w", err)
		}
		return nil
	}
	rts := func(s unsafe.Pointer) error {
		var n C.uint64_t
		var secs C.double
		if rc, err := C.zb_round_trips(s, size, dur, count, &n, &secs); rc != 0 {
			return fmt.Errorf("round trips (%d): %w", rc, err)
		}
		return report(result{Msgs: uint64(n), Seconds: float64(secs)})
	}

	one := func(typ C.int, doBind bool, f func(unsafe.Pointer) error) error {
		s, err := open(typ)
		if err != nil {
			return err
		}
		defer C.zb_close(s)
		if doBind {
			_, err = bind(s, true)
		} else {
			err = connect(s, a.ep)
		}
		if err != nil {
			return err
		}
		if err := f(s); err != nil {
			return err
		}
		a.waitRelease()
		return nil
	}
	both := func(btyp, ctyp C.int, bf, cf func(unsafe.Pointer) error) error {
		b, err := open(btyp)
		if err != nil {
			return err
		}
		defer C.zb_close(b)
		ep, err := bind(b, false)
		if err != nil {
			return err
		}
		c, err := open(ctyp)
		if err != nil {
			return err
		}
		defer C.zb_close(c)
		if err := connect(c, ep); err != nil {
			return err
		}
		var wg sync.WaitGroup
		var cerr error
		wg.Go(func() { cerr = cf(c) })
		berr := bf(b)
		wg.Wait()
		return errors.Join(berr, cerr)
	}

	switch a.role {
	case "pull":
		return one(C.ZMQ_PULL, true, recv)
	case "push":
		return one(C.ZMQ_PUSH, false, send)
	case "rep":
		return one(C.ZMQ_REP, true, echo)
	case "req":
		return one(C.ZMQ_REQ, false, rts)
	case "pushpull":
		return both(C.ZMQ_PULL, C.ZMQ_PUSH, recv, send)
	case "reqrep":
		return both(C.ZMQ_REP, C.ZMQ_REQ, echo, rts)
	}
	return fmt.Errorf("unknown role %q", a.role)
}

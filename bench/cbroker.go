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

// The "libzmq-c" implementation of the lb case: the guide's lbbroker,
// lbworker and REQ clients as C loops (libzmqc.c), one cgo call per socket.

// cSockets opens n sockets of a type in a new context, each bound (and
// their endpoints returned) or connected to ep.
func cSockets(typ C.int, n int, bind bool, ep string) (ctx unsafe.Pointer, socks []unsafe.Pointer, eps []string, err error) {
	if ctx = C.zb_ctx_new(); ctx == nil {
		return nil, nil, nil, errors.New("zmq_ctx_new failed")
	}
	cep := C.CString(ep)
	defer C.free(unsafe.Pointer(cep))
	for range n {
		s, err := C.zb_socket(ctx, typ)
		if s == nil {
			cClose(ctx, socks)
			return nil, nil, nil, fmt.Errorf("zmq_socket: %w", err)
		}
		socks = append(socks, s)
		if bind {
			var out [256]C.char
			if rc, err := C.zb_bind(s, cep, &out[0], C.size_t(len(out))); rc != 0 {
				cClose(ctx, socks)
				return nil, nil, nil, fmt.Errorf("bind %s: %w", ep, err)
			}
			eps = append(eps, C.GoString(&out[0]))
		} else if rc, err := C.zb_connect(s, cep); rc != 0 {
			cClose(ctx, socks)
			return nil, nil, nil, fmt.Errorf("connect %s: %w", ep, err)
		}
	}
	return ctx, socks, eps, nil
}

func cClose(ctx unsafe.Pointer, socks []unsafe.Pointer) {
	for _, s := range socks {
		C.zb_close(s)
	}
	C.zb_ctx_term(ctx)
}

// cEach runs f on every socket at once, each in its own goroutine (and so
// its own thread while in C).
func cEach(socks []unsafe.Pointer, f func(s unsafe.Pointer) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(socks))
	for i, s := range socks {
		wg.Go(func() { errs[i] = f(s) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func cLBBroker(a peerArgs) error {
	ctx, socks, eps, err := cSockets(C.ZMQ_ROUTER, 2, true, a.ep)
	if err != nil {
		return err
	}
	defer cClose(ctx, socks)
	fmt.Printf("READY %s %s\n", eps[0], eps[1])
	if rc, err := C.zb_lbbroker(socks[0], socks[1], C.int(a.workers)); rc != 0 {
		return fmt.Errorf("lbbroker: %w", err)
	}
	return nil
}

func cLBWorkers(a peerArgs) error {
	ctx, socks, _, err := cSockets(C.ZMQ_REQ, a.workers, false, a.ep)
	if err != nil {
		return err
	}
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		werr = cEach(socks, func(s unsafe.Pointer) error {
			if rc, err := C.zb_lb_worker(s); rc != 0 {
				return fmt.Errorf("worker (%d): %w", rc, err)
			}
			return nil
		})
	}()
	a.waitRelease()
	C.zb_ctx_shutdown(ctx) // the workers' blocking calls return ETERM
	<-done
	cClose(ctx, socks)
	return werr
}

func cLBClients(a peerArgs) error {
	ctx, socks, _, err := cSockets(C.ZMQ_REQ, a.clients, false, a.ep)
	if err != nil {
		return err
	}
	defer cClose(ctx, socks)
	size := C.int(a.size)
	run := func(s unsafe.Pointer, total uint64, next *uint64, lat []int64) error {
		switch rc, err := C.zb_lb_client(s, size, C.uint64_t(total), (*C.uint64_t)(unsafe.Pointer(next)), (*C.int64_t)(unsafe.Pointer(&lat[0]))); rc {
		case 0:
			return nil
		case -2:
			return errors.New("a reply that is not its request")
		default:
			return fmt.Errorf("round trip: %w", err)
		}
	}
	// One round trip each first, not counted: it waits for the connections.
	if err := cEach(socks, func(s unsafe.Pointer) error { return run(s, 1, new(uint64), make([]int64, 1)) }); err != nil {
		return fmt.Errorf("first requests: %w", err)
	}
	next := new(uint64)
	lat := make([]int64, a.requests)
	start := time.Now()
	if err := cEach(socks, func(s unsafe.Pointer) error { return run(s, uint64(a.requests), next, lat) }); err != nil {
		return err
	}
	return reportLatencies(lat, time.Since(start))
}

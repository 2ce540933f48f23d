package main

// #cgo pkg-config: libzmq
// #include <stdlib.h>
// #include "libzmqc.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// cCurve makes a libzmq-c socket the CURVE server or client of the case.
func cCurve(s unsafe.Pointer, server bool) error {
	cs := func(v string) *C.char { return C.CString(v) }
	sk, pk, ck, cc := cs(curveServerPublic), cs(curveServerSecret), cs(curveClientPublic), cs(curveClientSecret)
	defer func() {
		for _, p := range []*C.char{sk, pk, ck, cc} {
			C.free(unsafe.Pointer(p))
		}
	}()
	var rc C.int
	var err error
	if server {
		rc, err = C.zb_curve(s, 1, nil, nil, pk)
	} else {
		rc, err = C.zb_curve(s, 0, sk, ck, cc)
	}
	if rc != 0 {
		return fmt.Errorf("CURVE options: %w", err)
	}
	return nil
}

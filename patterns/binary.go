package patterns

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"
	"unsafe"
)

// A plan is how Binary lays out a fixed-size type without reflecting over
// each value: the type's leaves (numbers and bools, in field order, arrays
// and structs flattened), each with its offset in memory. It gives the bytes
// encoding/binary gives, in little-endian order: no padding, a blank field
// written as zeros and skipped when read.
type plan struct {
	size   int // encoded bytes
	leaves []leaf
}

type leaf struct {
	off   uintptr      // in memory, from the value's start
	kind  reflect.Kind // Bool, Int8..Uint64, Float32, Float64; Int and Uint at the top only
	size  int          // encoded bytes
	blank bool         // a "_" field: zeros out, skipped in
}

// binaryInfo is what Binary knows of a type, worked out on first use.
type binaryInfo struct {
	marshal   bool  // T implements encoding.BinaryMarshaler
	unmarshal bool  // *T implements encoding.BinaryUnmarshaler
	plan      *plan // nil where there is none: encoding/binary's error then
	// unsized: a slice, pointer or interface, which encoding/binary
	// encodes (what it holds) but cannot decode into a zero T: Encode
	// refuses it, so that it never sends what no peer can read.
	unsized bool
}

var binaryInfos sync.Map // reflect.Type -> *binaryInfo

var (
	marshalerType   = reflect.TypeFor[encoding.BinaryMarshaler]()
	unmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

func binaryInfoFor(t reflect.Type) *binaryInfo {
	if i, ok := binaryInfos.Load(t); ok {
		return i.(*binaryInfo)
	}
	info := &binaryInfo{
		marshal:   t.Implements(marshalerType),
		unmarshal: reflect.PointerTo(t).Implements(unmarshalerType),
		plan:      &plan{},
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Pointer, reflect.Interface:
		info.unsized = true
	}
	switch t.Kind() {
	case reflect.Int, reflect.Uint: // Binary's own: 8 bytes
		info.plan.leaves = []leaf{{0, t.Kind(), 8, false}}
		info.plan.size = 8
	default:
		// No fixed size (strings, slices, pointers, int and uint inside a
		// struct): encoding/binary refuses them, and Binary reports why.
		if !info.plan.add(t, 0, false) {
			info.plan = nil
		}
	}
	binaryInfos.Store(t, info)
	return info
}

func (p *plan) add(t reflect.Type, off uintptr, blank bool) bool {
	switch k := t.Kind(); k {
	case reflect.Bool, reflect.Int8, reflect.Uint8:
		p.leaves = append(p.leaves, leaf{off, k, 1, blank})
		p.size++
	case reflect.Int16, reflect.Uint16:
		p.leaves = append(p.leaves, leaf{off, k, 2, blank})
		p.size += 2
	case reflect.Int32, reflect.Uint32, reflect.Float32:
		p.leaves = append(p.leaves, leaf{off, k, 4, blank})
		p.size += 4
	case reflect.Int64, reflect.Uint64, reflect.Float64:
		p.leaves = append(p.leaves, leaf{off, k, 8, blank})
		p.size += 8
	case reflect.Array:
		for i := range t.Len() {
			if !p.add(t.Elem(), off+uintptr(i)*t.Elem().Size(), blank) {
				return false
			}
		}
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && f.Name != "_" {
				return false // encoding/binary cannot set it either
			}
			if !p.add(f.Type, off+f.Offset, blank || f.Name == "_") {
				return false
			}
		}
	default:
		return false // complex numbers too: rare, left to encoding/binary
	}
	return len(p.leaves) <= 1<<16 // a huge array is encoding/binary's job
}

// encode appends v's bytes, v pointing to a value of the plan's type.
func (p *plan) encode(dst []byte, v unsafe.Pointer) []byte {
	le := binary.LittleEndian
	for _, l := range p.leaves {
		a := unsafe.Add(v, l.off)
		if l.blank {
			dst = append(dst, make([]byte, l.size)...)
			continue
		}
		switch l.size { // floats move as their bits
		case 8:
			switch l.kind {
			case reflect.Int:
				dst = le.AppendUint64(dst, uint64(*(*int)(a)))
			case reflect.Uint:
				dst = le.AppendUint64(dst, uint64(*(*uint)(a)))
			default:
				dst = le.AppendUint64(dst, *(*uint64)(a))
			}
		case 1:
			b := *(*uint8)(a)
			if l.kind == reflect.Bool && b != 0 {
				b = 1
			}
			dst = append(dst, b)
		case 2:
			dst = le.AppendUint16(dst, *(*uint16)(a))
		case 4:
			dst = le.AppendUint32(dst, *(*uint32)(a))
		}
	}
	return dst
}

// decode reads b, exactly the plan's size, into the value v points to.
func (p *plan) decode(b []byte, v unsafe.Pointer) error {
	if len(b) != p.size {
		return fmt.Errorf("%d bytes, want %d", len(b), p.size)
	}
	le := binary.LittleEndian
	for _, l := range p.leaves {
		a := unsafe.Add(v, l.off)
		if !l.blank {
			switch l.size {
			case 1:
				x := b[0]
				if l.kind == reflect.Bool && x != 0 {
					x = 1 // encoding/binary reads any non-zero byte as true
				}
				*(*uint8)(a) = x
			case 2:
				*(*uint16)(a) = le.Uint16(b)
			case 4:
				*(*uint32)(a) = le.Uint32(b)
			case 8:
				switch l.kind {
				case reflect.Int:
					*(*int)(a) = int(int64(le.Uint64(b)))
				case reflect.Uint:
					*(*uint)(a) = uint(le.Uint64(b))
				default:
					*(*uint64)(a) = le.Uint64(b)
				}
			}
		}
		b = b[l.size:]
	}
	return nil
}

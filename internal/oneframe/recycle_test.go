package oneframe

import (
	"testing"
	"unsafe"
)

func (l *List) count() (n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.h {
		n += len(l.h[k])
	}
	return n
}

// A Cache reuses the messages given back to its List, in their size
// class, with the length and capacity asked for; before anything was
// given back, and without a List, it makes new ones as Make does.
func TestCacheReusesRecycled(t *testing.T) {
	var l List
	c := Cache{List: &l}
	a, b := c.Make(8), c.Make(8)
	if &a[0] == &b[0] {
		t.Fatal("two messages share a struct")
	}
	Recycle(&l, [][][]byte{a, b, Make(20), Make(Max)})
	if n := l.count(); n != 4 || l.Recycled() != 4 {
		t.Fatalf("%d messages in the list, %d recycled; want 4", n, l.Recycled())
	}
	seen := map[*[]byte]bool{&a[0]: true, &b[0]: true}
	for _, n := range []int{3, 0} { // same class, other lengths
		m := c.Make(n)
		if !seen[&m[0]] {
			t.Errorf("Make(%d) made a new message with two of its class free", n)
		}
		if len(m) != 1 || len(m[0]) != n || cap(m[0]) != n {
			t.Errorf("Make(%d): %d frames, len %d cap %d", n, len(m), len(m[0]), cap(m[0]))
		}
		delete(seen, &m[0])
	}
	if m := c.Make(24); len(m[0]) != 24 || cap(m[0]) != 24 { // the class of 20, too small
		t.Errorf("Make(24): len %d cap %d", len(m[0]), cap(m[0]))
	}
	if m := c.Make(Max + 1); len(m[0]) != Max+1 {
		t.Errorf("Make(%d): len %d", Max+1, len(m[0]))
	}
	var none Cache
	Recycle(&l, [][][]byte{none.Make(8)})
	if m := none.Make(8); len(m[0]) != 8 || l.count() != 2 {
		t.Errorf("a Cache without a List took from one")
	}
}

// Recycle takes only what has the shape of Make's messages: not a message
// of several frames, nor one whose frame is elsewhere, re-sliced or grown,
// nor a nil one; and no more than listMax a class.
func TestRecycleTakesOnlyMade(t *testing.T) {
	var l List
	shifted := Make(8)
	shifted[0] = shifted[0][1:]
	grown := Make(8)
	grown[0] = append(grown[0], 1) // copied elsewhere
	two := make([][]byte, 1, 2)
	two[0] = Make(8)[0]
	Recycle(&l, [][][]byte{
		nil,
		{make([]byte, 8)},    // a frame of its own
		{Make(8)[0], nil},    // two frames
		append(Make(8), nil), // grown past the struct
		shifted, grown, two,
		Make(Max + 1),
	})
	if n := l.count(); n != 0 {
		t.Fatalf("%d messages taken that Make did not make, or not whole", n)
	}
	for range listMax + 10 {
		Recycle(&l, [][][]byte{Make(8)})
	}
	if n := len(l.h[0]); n != listMax {
		t.Errorf("%d messages in a class, want at most %d", n, listMax)
	}
}

// Poison overwrites what Recycle is given, so that a test sees a message
// reused while something still reads it.
func TestPoison(t *testing.T) {
	var l List
	Poison = true
	t.Cleanup(func() { Poison = false })
	m := Make(5)
	copy(m[0], "hello")
	f := m[0]
	Recycle(&l, [][][]byte{m})
	b := unsafe.Slice(unsafe.SliceData(f), 5)
	for _, x := range b {
		if x != 0xA5 {
			t.Fatalf("recycled bytes %q, want poison", b)
		}
	}
}

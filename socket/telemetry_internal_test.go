package socket

import (
	"sync"
	"testing"
)

// The packed counts stay exact across folds by the writers and the
// reader, with concurrent writers, and for messages too big to pack.
func TestPackedCountsExact(t *testing.T) {
	var p packed
	const writers, each = 4, 20000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p.add(i%100 + w)
				if i%5000 == 0 {
					_ = p.messages() // the exporter reads meanwhile
				}
			}
		})
	}
	wg.Wait()
	var wantBytes uint64
	for w := range writers {
		for i := range each {
			wantBytes += uint64(i%100 + w)
		}
	}
	p.add(int(bigMsg)) // straight to the totals
	wantBytes += bigMsg
	// Near the thresholds: the writer folds before a field overflows.
	p.fold() // what the writers left in the word, before it is set by hand
	p.word.Store(foldAt - packMsg)
	p.add(1)
	if p.word.Load() != 0 {
		t.Errorf("word %#x not folded at the messages' threshold", p.word.Load())
	}
	p.add(int(bigMsg - 1))
	p.add(int(bigMsg - 1))
	if p.word.Load()&packBytes >= bigMsg {
		t.Errorf("word %#x not folded at the bytes' threshold", p.word.Load())
	}
	msgs, nbytes := p.messages(), p.bytes()
	wantMsgs := uint64(writers*each+1) + (foldAt-packMsg)/packMsg + 1 + 2
	wantBytes += 1 + 2*(bigMsg-1)
	if msgs != wantMsgs || nbytes != wantBytes {
		t.Errorf("%d messages, %d bytes; want %d, %d", msgs, nbytes, wantMsgs, wantBytes)
	}
}

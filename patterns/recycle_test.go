package patterns_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/oneframe"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// A PULL inbox over tcp gives the messages it decoded back to the
// readers, which reuse them: with every message given back poisoned (see
// TestMain), each of two senders' numbers arrives exactly once and in
// order, and the readers do reuse them.
func TestInboxRecyclesReadersMessages(t *testing.T) {
	ctx := testCtx(t)
	in := must[*patterns.Inbox[uint64]](t)(patterns.Pull(patterns.Binary[uint64]{}, patterns.Bind("tcp://127.0.0.1:*")))
	const senders, n = 2, 20000
	got := make(chan uint64, 1024)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[uint64](func(_ context.Context, v uint64) error {
		got <- v
		return nil
	}), actor.WithFeed(in))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	list := oneframe.ReadersList(in.Socket())
	if list == nil {
		t.Fatal("a tcp PULL socket has no readers' list")
	}
	before := list.Recycled()
	for s := range senders {
		out := must[*patterns.Outbox[uint64]](t)(patterns.Push(patterns.Binary[uint64]{}, patterns.Connect(in.Endpoint())))
		defer out.Close()
		ref := out.Ref()
		go func() {
			for i := range uint64(n) {
				if ref.Tell(ctx, uint64(s)<<32|i) != nil {
					return
				}
			}
		}()
	}
	next := make([]uint64, senders)
	for range senders * n {
		select {
		case v := <-got:
			s, i := v>>32, v&(1<<32-1)
			if s >= senders || i != next[s] {
				t.Fatalf("sender %d: got %d, want %d (a message reused while read?)", s, i, next[s])
			}
			next[s]++
		case <-ctx.Done():
			t.Fatalf("got %v of %d a sender", next, n)
		}
	}
	if r := list.Recycled() - before; r == 0 {
		t.Error("no message given back to the readers")
	}
}

// Messages that come from an inproc peer are the sender's own, which it
// may still read after Send: an inbox never gives them back, also when its
// socket took an inproc endpoint after it was made (through Socket).
func TestInboxKeepsInprocMessages(t *testing.T) {
	for _, late := range []bool{false, true} {
		name := map[bool]string{false: "bound", true: "late"}[late]
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			ep := endpoint(t, "inproc")
			var in *patterns.Inbox[uint64]
			if late {
				in = must[*patterns.Inbox[uint64]](t)(patterns.Pull(patterns.Binary[uint64]{}, patterns.Bind("tcp://127.0.0.1:*")))
				if _, err := in.Socket().Bind(ep); err != nil {
					t.Fatal(err)
				}
			} else {
				in = must[*patterns.Inbox[uint64]](t)(patterns.Pull(patterns.Binary[uint64]{}, patterns.Bind(ep)))
			}
			const n = 1000
			_, done := collect(t, ctx, in, n)
			raw := rawPush(t, ep)
			sent := make([][]byte, n) // what the sender keeps, and reads after
			for i := range n {
				m := oneframe.Make(8) // the shape of a reader's message
				binary.LittleEndian.PutUint64(m[0], uint64(i))
				sent[i] = m[0]
				if err := raw.Send(ctx, socket.Msg(m)); err != nil {
					t.Fatal(err)
				}
			}
			awaitClosed(t, ctx, done, "the messages")
			for i, f := range sent {
				if !bytes.Equal(f, binary.LittleEndian.AppendUint64(nil, uint64(i))) {
					t.Fatalf("message %d changed under its sender: %x", i, f)
				}
			}
			if oneframe.ReadersList(in.Socket()) != nil {
				t.Error("a socket with an inproc endpoint gives its messages back")
			}
		})
	}
}

// What an inbox does not give back: the messages of a codec that keeps
// its frames (Bytes: the values are the frames), and dead letters, which
// the observer may keep.
func TestInboxKeepsKeptMessages(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		ctx := testCtx(t)
		in := must[*patterns.Inbox[[]byte]](t)(patterns.Pull(patterns.Bytes{}, patterns.Bind("tcp://127.0.0.1:*")))
		const n = 2000
		kept, done := collect(t, ctx, in, n)
		sendRaw(t, ctx, in.Endpoint(), n, 8)
		awaitClosed(t, ctx, done, "the messages")
		for i, b := range *kept {
			if !bytes.Equal(b, binary.LittleEndian.AppendUint64(nil, uint64(i))) {
				t.Fatalf("value %d changed after it was received: %x", i, b)
			}
		}
	})
	t.Run("embedding codec", func(t *testing.T) {
		keptValues(t, patterns.Codec[string](keepingString{}), func(i int) []byte { return fmt.Appendf(nil, "%08d", i) },
			func(i int, v string) bool { return v == fmt.Sprintf("%08d", i) })
	})
	t.Run("embedding Binary", func(t *testing.T) { // its Decode is its own, not Binary's
		keptValues(t, patterns.Codec[uint64](answering{}), func(i int) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(i)) },
			func(_ int, v uint64) bool { return v == 42 })
	})
	t.Run("UnmarshalJSON keeping", func(t *testing.T) {
		keptValues(t, patterns.Codec[keptJSON](patterns.JSON[keptJSON]{}), func(i int) []byte { return fmt.Appendf(nil, "%q", fmt.Sprint(i)) },
			func(i int, v keptJSON) bool { return string(v.raw) == fmt.Sprintf("%q", fmt.Sprint(i)) })
	})
	t.Run("dead letters", func(t *testing.T) {
		ctx := testCtx(t)
		in := must[*patterns.Inbox[uint64]](t)(patterns.Pull(patterns.Binary[uint64]{}, patterns.Bind("tcp://127.0.0.1:*")))
		const n = 2000
		var letters [][]byte
		done := make(chan struct{})
		obs := deadLetters(func(d actor.DeadLetter) {
			if letters = append(letters, d.Message.(socket.Msg)[0]); len(letters) == n {
				close(done)
			}
		})
		a, err := actor.Spawn(ctx, actor.BehaviorFunc[uint64](func(context.Context, uint64) error { return nil }),
			actor.WithFeed(in), actor.WithObserver(obs))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		sendRaw(t, ctx, in.Endpoint(), n, 7) // 7 bytes: not a uint64
		awaitClosed(t, ctx, done, "the dead letters")
		for i, b := range letters {
			if !bytes.Equal(b, binary.LittleEndian.AppendUint64(nil, uint64(i))[:7]) {
				t.Fatalf("dead letter %d changed after it was reported: %x", i, b)
			}
		}
	})
}

// collect spawns an actor fed by in that keeps the first n values it
// handles: done is closed when it has them, and they are then in *kept.
func collect[M any](t *testing.T, ctx context.Context, in *patterns.Inbox[M], n int) (kept *[]M, done <-chan struct{}) {
	t.Helper()
	var vs []M
	all := make(chan struct{})
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[M](func(_ context.Context, v M) error {
		if vs = append(vs, v); len(vs) == n {
			close(all)
		}
		return nil
	}), actor.WithFeed(in))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &vs, all
}

// rawPush is a PUSH socket connected to ep, closed at the test's end.
func rawPush(t *testing.T, ep string) *socket.Socket {
	t.Helper()
	raw, err := socket.New(socket.Push)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	if err := raw.Connect(ep); err != nil {
		t.Fatal(err)
	}
	return raw
}

// sendRaw sends n messages of size bytes (the start of i in little
// endian) to ep from a raw PUSH socket.
func sendRaw(t *testing.T, ctx context.Context, ep string, n, size int) {
	t.Helper()
	raw := rawPush(t, ep)
	for i := range n {
		if err := raw.Send(ctx, socket.NewMsg(binary.LittleEndian.AppendUint64(nil, uint64(i))[:size])); err != nil {
			t.Fatal(err)
		}
	}
}

func awaitClosed(t *testing.T, ctx context.Context, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("%s did not all come", what)
	}
}

// deadLetters is an observer that hands each dead letter to f, from the
// actor's goroutine.
type deadLetters func(actor.DeadLetter)

func (deadLetters) ActorStarted(string)                                        {}
func (deadLetters) ActorFailed(string, error)                                  {}
func (deadLetters) ActorRestarted(string, int, error)                          {}
func (deadLetters) ActorStopped(string, error)                                 {}
func (f deadLetters) DeadLetter(d actor.DeadLetter)                            { f(d) }
func (deadLetters) MessageHandled(string, time.Duration, time.Duration, error) {}

// keptValues sends n messages that make(i) makes to an inbox with codec c
// over tcp, and checks every value the actor kept, after all came: what c
// keeps of a frame must not have been given back to the readers.
func keptValues[M any](t *testing.T, c patterns.Codec[M], make func(int) []byte, ok func(int, M) bool) {
	ctx := testCtx(t)
	in := must[*patterns.Inbox[M]](t)(patterns.Pull(c, patterns.Bind("tcp://127.0.0.1:*")))
	const n = 2000
	kept, done := collect(t, ctx, in, n)
	raw := rawPush(t, in.Endpoint())
	for i := range n {
		if err := raw.Send(ctx, socket.NewMsg(make(i))); err != nil {
			t.Fatal(err)
		}
	}
	awaitClosed(t, ctx, done, "the values")
	for i, v := range *kept {
		if !ok(i, v) {
			t.Fatalf("value %d changed after it was received: %v", i, v)
		}
	}
}

// keepingString embeds String, with a Decode of its own that keeps the
// frame: not a codec that copies.
type keepingString struct{ patterns.String }

func (keepingString) Decode(f [][]byte) (string, error) {
	if len(f) != 1 || len(f[0]) == 0 {
		return "", fmt.Errorf("%d frames", len(f))
	}
	return unsafe.String(&f[0][0], len(f[0])), nil
}

// keptJSON keeps the bytes UnmarshalJSON is given, against its contract.
type keptJSON struct{ raw []byte }

func (k *keptJSON) UnmarshalJSON(b []byte) error {
	k.raw = b
	return nil
}

// answering embeds Binary with a Decode of its own.
type answering struct{ patterns.Binary[uint64] }

func (answering) Decode([][]byte) (uint64, error) { return 42, nil }

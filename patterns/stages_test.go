package patterns_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// collect adds a sink to p that keeps the first n values in *got, then
// ends the pipeline with ErrStop. *got may be read once Run returned.
func collect[T any](p *patterns.Pipeline, in <-chan T, n int, got *[]T) {
	patterns.Each(p, in, func(_ context.Context, v T) error {
		*got = append(*got, v)
		if len(*got) == n {
			return patterns.ErrStop
		}
		return nil
	})
}

func seqInts(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestPushPull(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			push := must[*patterns.Push[int]](t)(patterns.NewPush(patterns.JSON[int]{}, patterns.Bind(endpoint(t, tr))))
			pull := must[*patterns.Pull[int]](t)(patterns.NewPull(patterns.JSON[int]{}, patterns.Connect(push.Endpoint())))

			var p patterns.Pipeline
			patterns.To(&p, patterns.From(&p, patterns.Values(seqInts(100)...)), push)
			var got []int
			collect(&p, patterns.From(&p, pull), 100, &got)
			if err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, seqInts(100)) {
				t.Fatalf("got %v", got)
			}
		})
	}
}

type reading struct {
	City string
	Seq  int
}

// A Sub hears only its topics. PUB drops what is sent before a subscription
// arrives (the slow joiner), so the publisher goes on until the subscriber
// has heard enough.
func TestPubSub(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			pub := must[*patterns.Pub[reading]](t)(patterns.NewPub(patterns.JSON[reading]{},
				func(r reading) string { return "city." + r.City }, patterns.Bind(endpoint(t, tr))))
			sub := must[*patterns.Sub[reading]](t)(patterns.NewSub(patterns.JSON[reading]{},
				[]string{"city.Oslo"}, patterns.Connect(pub.Endpoint())))

			var p patterns.Pipeline
			readings := patterns.From(&p, patterns.ProducerFunc[reading](func(ctx context.Context, out chan<- reading) error {
				tick := time.NewTicker(time.Millisecond) // a publishing rate, not a wait
				defer tick.Stop()
				for i := 0; ; i++ {
					for _, c := range []string{"Oslo", "Lima", "Osaka"} {
						select {
						case out <- reading{c, i}:
						case <-ctx.Done():
							return ctx.Err()
						}
					}
					select {
					case <-tick.C:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}))
			patterns.To(&p, readings, pub)
			var got []reading
			collect(&p, patterns.From(&p, sub), 5, &got)
			if err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			for i, r := range got {
				if r.City != "Oslo" || (i > 0 && r.Seq <= got[i-1].Seq) {
					t.Fatalf("got %v", got)
				}
			}
		})
	}
}

func TestReqRep(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			rep := must[*patterns.Rep[string, string]](t)(patterns.NewRep(patterns.String{}, patterns.String{},
				func(_ context.Context, q string) (string, error) { return strings.ToUpper(q), nil },
				patterns.Bind(endpoint(t, tr))))
			req := must[*patterns.Req[string, string]](t)(patterns.NewReq(patterns.String{}, patterns.String{},
				patterns.Connect(rep.Endpoint())))

			var p patterns.Pipeline
			p.Go(rep.Run)
			p.Go(req.Run)
			// Four workers share one Req: Request serialises them.
			up := patterns.Map(&p, patterns.From(&p, patterns.Values("a", "b", "c", "d", "e")), 4, req.Request)
			var got []string
			collect(&p, up, 5, &got)
			if err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(sorted(got), ""); s != "ABCDE" {
				t.Fatalf("got %v", got)
			}
			// Run has ended: Request says so instead of waiting.
			if _, err := req.Request(ctx, "x"); !errors.Is(err, patterns.ErrClosed) {
				t.Fatalf("Request after Run: %v, want ErrClosed", err)
			}
		})
	}
}

func TestDealerRouter(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			router := must[*patterns.Router[string]](t)(patterns.NewRouter(patterns.String{}, patterns.Bind(endpoint(t, tr))))
			dealer := must[*patterns.Dealer[string]](t)(patterns.NewDealer(patterns.String{},
				patterns.Connect(router.Endpoint()), patterns.WithSocketOptions(socket.WithIdentity([]byte("d1")))))

			var p patterns.Pipeline
			// The router answers each message to whoever sent it, by its route.
			replies := make(chan patterns.Envelope[string])
			requests := patterns.Through(&p, replies, router)
			p.Go(func(ctx context.Context) error {
				for e := range requests {
					e.Body = fmt.Sprintf("%s from %s", e.Body, e.Route[0])
					select {
					case replies <- e:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return nil
			})
			out := patterns.From(&p, patterns.Values(
				patterns.Envelope[string]{Body: "one"}, patterns.Envelope[string]{Body: "two"}))
			var got []patterns.Envelope[string]
			collect(&p, patterns.Through(&p, out, dealer), 2, &got)
			if err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			want := []patterns.Envelope[string]{{Body: "one from d1"}, {Body: "two from d1"}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

// A REQ peer's envelope reaches a Router with its delimiter; sending the
// route back answers it. A Dealer talks to a Rep by adding the delimiter.
func TestEnvelopesWithDelimiter(t *testing.T) {
	ctx := testCtx(t)
	router := must[*patterns.Router[string]](t)(patterns.NewRouter(patterns.String{}, patterns.Bind(endpoint(t, "inproc"))))
	req := must[*patterns.Req[string, string]](t)(patterns.NewReq(patterns.String{}, patterns.String{}, patterns.Connect(router.Endpoint())))
	rep := must[*patterns.Rep[string, string]](t)(patterns.NewRep(patterns.String{}, patterns.String{},
		func(_ context.Context, q string) (string, error) { return q + "!", nil }, patterns.Bind(endpoint(t, "tcp"))))
	dealer := must[*patterns.Dealer[string]](t)(patterns.NewDealer(patterns.String{}, patterns.Connect(rep.Endpoint())))

	var p patterns.Pipeline
	p.Go(req.Run)
	p.Go(rep.Run)
	replies := make(chan patterns.Envelope[string], 1)
	seen := make(chan [][]byte, 1)
	patterns.Each(&p, patterns.Through(&p, replies, router), func(ctx context.Context, e patterns.Envelope[string]) error {
		seen <- e.Route
		e.Body = "re: " + e.Body
		replies <- e
		return nil
	})
	dealerGot := make(chan patterns.Envelope[string], 1)
	patterns.Each(&p, patterns.Through(&p, patterns.From(&p, patterns.Values(
		patterns.Envelope[string]{Route: [][]byte{{}}, Body: "hi"})), dealer),
		func(_ context.Context, e patterns.Envelope[string]) error { dealerGot <- e; return nil })
	var reply string
	var got patterns.Envelope[string]
	p.Go(func(ctx context.Context) error {
		r, err := req.Request(ctx, "hello")
		if err != nil {
			return err
		}
		reply = r
		select {
		case got = <-dealerGot:
			return patterns.ErrStop // both conversations are done
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if route := <-seen; len(route) != 2 || len(route[0]) == 0 || len(route[1]) != 0 {
		t.Errorf("router saw route %q, want [identity, delimiter]", route)
	}
	if reply != "re: hello" {
		t.Errorf("REQ got %q", reply)
	}
	want := patterns.Envelope[string]{Route: [][]byte{{}}, Body: "hi!"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dealer got %+v, want %+v", got, want)
	}
}

func TestPair(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			a := must[*patterns.Pair[string]](t)(patterns.NewPair(patterns.String{}, patterns.Bind(endpoint(t, tr))))
			b := must[*patterns.Pair[string]](t)(patterns.NewPair(patterns.String{}, patterns.Connect(a.Endpoint())))

			var p patterns.Pipeline
			// b echoes what it hears; a sends three and hears them back.
			echo := make(chan string, 3)
			patterns.Each(&p, patterns.Through(&p, echo, b), func(ctx context.Context, s string) error {
				echo <- "echo " + s
				return nil
			})
			var got []string
			collect(&p, patterns.Through(&p, patterns.From(&p, patterns.Values("x", "y", "z")), a), 3, &got)
			if err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if want := []string{"echo x", "echo y", "echo z"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("got %v", got)
			}
		})
	}
}

// rawPush is a plain socket sending what a typed stage must cope with.
func rawPush(t *testing.T, ep string, frames ...[]string) {
	t.Helper()
	s := must[*socket.Socket](t)(socket.New(socket.Push))
	defer s.Close()
	if err := s.Connect(ep); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := s.Send(testCtx(t), socket.NewMsgString(f...)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDecodeErrorEndsStage(t *testing.T) {
	ctx := testCtx(t)
	pull := must[*patterns.Pull[point]](t)(patterns.NewPull(patterns.JSON[point]{}, patterns.Bind(endpoint(t, "tcp"))))
	rawPush(t, pull.Endpoint(), []string{"not json"})
	err := pull.Produce(ctx, make(chan point, 1))
	if !errors.Is(err, patterns.ErrDecode) {
		t.Fatalf("Produce: %v, want ErrDecode", err)
	}
}

func TestDecodeErrorSkipped(t *testing.T) {
	ctx := testCtx(t)
	var bad []error
	pull := must[*patterns.Pull[point]](t)(patterns.NewPull(patterns.JSON[point]{}, patterns.Bind(endpoint(t, "inproc")),
		patterns.OnDecodeError(func(err error) error { bad = append(bad, err); return nil })))
	rawPush(t, pull.Endpoint(), []string{"not json"}, []string{"two", "frames"}, []string{`{"X":1,"Y":2}`})

	var p patterns.Pipeline
	var got []point
	collect(&p, patterns.From(&p, pull), 1, &got)
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != (point{1, 2}) {
		t.Fatalf("got %v", got)
	}
	if len(bad) != 2 || !errors.Is(bad[0], patterns.ErrDecode) || !errors.Is(bad[1], patterns.ErrDecode) {
		t.Fatalf("decode errors %v", bad)
	}
}

// A codec that panics is the stage's error, not the process's end.
func TestCodecPanicIsAnError(t *testing.T) {
	ctx := testCtx(t)
	pull := must[*patterns.Pull[int]](t)(patterns.NewPull[int](panicky, patterns.Bind(endpoint(t, "inproc"))))
	rawPush(t, pull.Endpoint(), []string{"x"})
	err := pull.Produce(ctx, make(chan int, 1))
	var pe *patterns.PanicError
	if !errors.Is(err, patterns.ErrDecode) || !errors.As(err, &pe) {
		t.Fatalf("Produce: %v, want ErrDecode and a PanicError", err)
	}

	push := must[*patterns.Push[int]](t)(patterns.NewPush[int](panicky, patterns.Connect(endpoint(t, "inproc"))))
	in := make(chan int, 1)
	in <- -1
	if err := push.Consume(ctx, in); !errors.Is(err, patterns.ErrEncode) || !errors.Is(err, patterns.ErrPanic) {
		t.Fatalf("Consume: %v, want ErrEncode and ErrPanic", err)
	}
}

// REP must reply before it may receive again: a bad request that the
// handler absorbs gets an empty frame, and the next request is served.
func TestRepAnswersBadRequest(t *testing.T) {
	ctx := testCtx(t)
	var bad int
	rep := must[*patterns.Rep[point, point]](t)(patterns.NewRep(patterns.JSON[point]{}, patterns.JSON[point]{},
		func(_ context.Context, q point) (point, error) { return point{q.Y, q.X}, nil },
		patterns.Bind(endpoint(t, "inproc")),
		patterns.OnDecodeError(func(error) error { bad++; return nil })))
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	go func() { done <- rep.Run(ctx) }()

	req := must[*socket.Socket](t)(socket.New(socket.Req))
	defer req.Close()
	if err := req.Connect(rep.Endpoint()); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"garbage", `{"X":1,"Y":2}`} {
		if err := req.Send(ctx, socket.NewMsgString(q)); err != nil {
			t.Fatal(err)
		}
		m, err := req.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s -> %q", q, m.Strings())
		if q == "garbage" && (len(m) != 1 || len(m[0]) != 0) {
			t.Fatalf("reply to garbage %q, want one empty frame", m.Strings())
		}
		if q != "garbage" && string(m[0]) != `{"X":2,"Y":1}` {
			t.Fatalf("reply %q", m.Strings())
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if bad != 1 {
		t.Fatalf("%d bad requests reported, want 1", bad)
	}
}

func TestHandlerErrorEndsRep(t *testing.T) {
	ctx := testCtx(t)
	rep := must[*patterns.Rep[string, string]](t)(patterns.NewRep(patterns.String{}, patterns.String{},
		func(_ context.Context, q string) (string, error) { panic(errBoom) }, patterns.Bind(endpoint(t, "inproc"))))
	req := must[*patterns.Req[string, string]](t)(patterns.NewReq(patterns.String{}, patterns.String{},
		patterns.Connect(rep.Endpoint())))
	var p patterns.Pipeline
	p.Go(rep.Run)
	p.Go(req.Run)
	p.Go(func(ctx context.Context) error {
		_, err := req.Request(ctx, "q")
		return err
	})
	err := p.Run(ctx)
	var pe *patterns.PanicError
	if !errors.As(err, &pe) || !errors.Is(err, errBoom) {
		t.Fatalf("Run: %v, want the handler's panic", err)
	}
}

func TestStageLifecycle(t *testing.T) {
	ctx := testCtx(t)
	if _, err := patterns.NewPush[int](patterns.JSON[int]{}); !errors.Is(err, patterns.ErrBadOption) {
		t.Errorf("no endpoint: %v", err)
	}
	if _, err := patterns.NewSub[int](patterns.JSON[int]{}, nil, patterns.Connect("inproc://x")); !errors.Is(err, patterns.ErrBadOption) {
		t.Errorf("no topics: %v", err)
	}
	if _, err := patterns.NewReq[int, int](patterns.JSON[int]{}, patterns.JSON[int]{}, patterns.Connect("inproc://x"),
		patterns.LazyPirate(0, 1)); !errors.Is(err, patterns.ErrBadOption) {
		t.Errorf("LazyPirate(0, 1): %v", err)
	}
	if _, err := patterns.NewPull[int](patterns.JSON[int]{}, patterns.Bind("bogus://x")); !errors.Is(err, socket.ErrBadEndpoint) {
		t.Errorf("bad endpoint: %v", err)
	}

	push := must[*patterns.Push[int]](t)(patterns.NewPush(patterns.JSON[int]{}, patterns.Bind(endpoint(t, "inproc"))))
	in := make(chan int)
	close(in)
	if err := push.Consume(ctx, in); err != nil {
		t.Fatalf("Consume of nothing: %v", err)
	}
	if err := push.Consume(ctx, in); !errors.Is(err, patterns.ErrClosed) {
		t.Fatalf("second Consume: %v, want ErrClosed", err)
	}
	if err := push.Close(); err != nil {
		t.Fatalf("Close after run: %v", err)
	}

	pull := must[*patterns.Pull[int]](t)(patterns.NewPull(patterns.JSON[int]{}, patterns.Bind(endpoint(t, "tcp"))))
	if err := pull.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pull.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := pull.Produce(ctx, make(chan int)); !errors.Is(err, patterns.ErrClosed) {
		t.Fatalf("Produce after Close: %v, want ErrClosed", err)
	}
}

// Close ends a stage that is running, from another goroutine.
func TestCloseEndsRunningStage(t *testing.T) {
	ctx := testCtx(t)
	pull := must[*patterns.Pull[int]](t)(patterns.NewPull(patterns.JSON[int]{}, patterns.Bind(endpoint(t, "inproc"))))
	req := must[*patterns.Req[int, int]](t)(patterns.NewReq(patterns.JSON[int]{}, patterns.JSON[int]{}, patterns.Connect(endpoint(t, "inproc"))))
	errs := make(chan error, 2)
	go func() { errs <- pull.Produce(ctx, make(chan int)) }()
	go func() { errs <- req.Run(ctx) }()
	pull.Close()
	req.Close()
	for range 2 {
		select {
		case err := <-errs:
			if err == nil || ctx.Err() != nil {
				t.Fatalf("run ended with %v", err)
			}
		case <-ctx.Done():
			t.Fatal("Close did not end the run")
		}
	}
	if _, err := req.Request(ctx, 1); !errors.Is(err, patterns.ErrClosed) {
		t.Fatalf("Request after Close: %v", err)
	}
}

// Generate and Each run the producer and the consumer in the stages' own
// goroutines.
func TestPushGeneratePullEach(t *testing.T) {
	ctx := testCtx(t)
	pull := must[*patterns.Pull[int]](t)(patterns.NewPull(patterns.JSON[int]{}, patterns.Bind(endpoint(t, "tcp"))))
	push := must[*patterns.Push[int]](t)(patterns.NewPush(patterns.JSON[int]{}, patterns.Connect(pull.Endpoint())))
	var p patterns.Pipeline
	p.Go(func(ctx context.Context) error {
		return push.Generate(ctx, func(ctx context.Context, send func(int) error) error {
			for i := range 100 {
				if err := send(i); err != nil {
					return err
				}
			}
			return nil
		})
	})
	var got []int
	p.Go(func(ctx context.Context) error {
		return pull.Each(ctx, func(_ context.Context, n int) error {
			if got = append(got, n); len(got) == 100 {
				return patterns.ErrStop
			}
			return nil
		})
	})
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, seqInts(100)) {
		t.Fatalf("got %v", got)
	}
	if err := push.Generate(ctx, nil); !errors.Is(err, patterns.ErrClosed) {
		t.Fatalf("second Generate: %v", err)
	}
}

package socket

import (
	"context"
	"testing"
	"time"
)

// A bound PAIR that refused an inproc link because it had its peer takes
// that link as soon as it loses its peer, as it takes a peer that redials
// over tcp, not at the next Bind of the name: what the refused connector
// queued meanwhile arrives, and the two talk.
func TestInprocPairTakesRefusedLink(t *testing.T) {
	for _, how := range []string{"peer closes", "peer disconnects", "tcp peer leaves", "connector queued before bind"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ep := "inproc://" + t.Name()
			p := mustNew(t, Pair)
			pmon := p.Monitor()
			b := mustNew(t, Pair, WithLinger(0))
			a := mustNew(t, Pair, WithLinger(0))
			if how == "connector queued before bind" {
				// b queues for the Bind, and is refused at it: a came
				// first.
				for _, s := range []*Socket{a, b} {
					if err := s.Connect(ep); err != nil {
						t.Fatal(err)
					}
				}
				if err := b.Send(ctx, NewMsgString("b1")); err != nil {
					t.Fatal(err)
				}
			}
			aep := ep
			if how == "tcp peer leaves" {
				var err error
				if aep, err = p.Bind("tcp://127.0.0.1:*"); err != nil {
					t.Fatal(err)
				}
				if err := a.Connect(aep); err != nil {
					t.Fatal(err)
				}
				awaitKind(t, pmon, EventHandshakeOK)
			}
			if _, err := p.Bind(ep); err != nil {
				t.Fatal(err)
			}
			if how == "peer closes" || how == "peer disconnects" {
				if err := a.Connect(ep); err != nil {
					t.Fatal(err)
				}
			}
			if how != "connector queued before bind" {
				if err := b.Connect(ep); err != nil {
					t.Fatal(err)
				}
				if err := b.Send(ctx, NewMsgString("b1")); err != nil {
					t.Fatal(err)
				}
			}
			// a is p's peer; b is refused and waits.
			if err := a.Send(ctx, NewMsgString("a1")); err != nil {
				t.Fatal(err)
			}
			if m, err := p.Recv(ctx); err != nil || m.Strings()[0] != "a1" {
				t.Fatalf("p received %q, %v; want a1", m, err)
			}
			if waiting, linked := inprocListed(b, t.Name()); !waiting || linked {
				t.Fatalf("refused link waiting %v, linked %v; want waiting", waiting, linked)
			}
			switch how {
			case "peer disconnects":
				if err := a.Disconnect(aep); err != nil {
					t.Fatal(err)
				}
			default:
				a.Close()
			}
			if m, err := p.Recv(ctx); err != nil || m.Strings()[0] != "b1" {
				t.Fatalf("p received %q, %v; want b1 from the refused peer", m, err)
			}
			if err := p.Send(ctx, NewMsgString("p1")); err != nil {
				t.Fatal(err)
			}
			if m, err := b.Recv(ctx); err != nil || m.Strings()[0] != "p1" {
				t.Fatalf("b received %q, %v; want p1", m, err)
			}
			if waiting, linked := inprocListed(b, t.Name()); waiting || !linked {
				t.Fatalf("taken link waiting %v, linked %v; want linked", waiting, linked)
			}
		})
	}
}

// A connecting PAIR that refused an inproc link because it had its peer
// (it connected to two bound names) takes it once it leaves that peer.
func TestInprocPairConnectorTakesRefusedLink(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n1, n2 := "inproc://"+t.Name()+"/1", "inproc://"+t.Name()+"/2"
	a1, a2 := mustNew(t, Pair), mustNew(t, Pair)
	if _, err := a1.Bind(n1); err != nil {
		t.Fatal(err)
	}
	if _, err := a2.Bind(n2); err != nil {
		t.Fatal(err)
	}
	c := mustNew(t, Pair)
	for _, ep := range []string{n1, n2} {
		if err := c.Connect(ep); err != nil {
			t.Fatal(err)
		}
	}
	if waiting, linked := inprocListed(c, t.Name()+"/2"); !waiting || linked {
		t.Fatalf("refused link waiting %v, linked %v; want waiting", waiting, linked)
	}
	if err := c.Disconnect(n1); err != nil {
		t.Fatal(err)
	}
	if waiting, linked := inprocListed(c, t.Name()+"/2"); waiting || !linked {
		t.Fatalf("after leaving its peer: waiting %v, linked %v; want linked", waiting, linked)
	}
	if err := c.Send(ctx, NewMsgString("hello")); err != nil {
		t.Fatal(err)
	}
	if m, err := a2.Recv(ctx); err != nil || m.Strings()[0] != "hello" {
		t.Fatalf("a2 received %q, %v; want hello", m, err)
	}
}

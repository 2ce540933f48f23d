package socket

import (
	"context"
	"errors"
	"testing"
	"time"
)

// inprocListed reports whether the registry holds a link of s, waiting or
// live, to name, and whether such a link holds pipe ends.
func inprocListed(s *Socket, name string) (waiting, linked bool) {
	r := &inprocs
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.waiting[name] {
		if l.connector == s {
			waiting = true
		}
	}
	for _, l := range r.links[name] {
		if l.connector == s {
			linked = true
		}
	}
	return waiting, linked
}

func awaitKind(t *testing.T, mon <-chan Event, kind EventKind) Event {
	t.Helper()
	limit := time.After(10 * time.Second)
	for {
		select {
		case e := <-mon:
			if e.Kind == kind {
				return e
			}
		case <-limit:
			t.Fatalf("no %v event", kind)
		}
	}
}

// A connector that refuses an inproc link (a PAIR that has its peer)
// says so on both monitors, as over tcp, and keeps the link waiting for
// the next Bind of the name: once it has no peer, that Bind links it.
func TestInprocConnectorRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n1, n2 := "inproc://"+t.Name()+"/1", "inproc://"+t.Name()+"/2"
	a1 := mustNew(t, Pair)
	if _, err := a1.Bind(n1); err != nil {
		t.Fatal(err)
	}
	a2 := mustNew(t, Pair)
	a2mon := a2.Monitor()
	if _, err := a2.Bind(n2); err != nil {
		t.Fatal(err)
	}
	c := mustNew(t, Pair)
	cmon := c.Monitor()
	for _, ep := range []string{n1, n2} {
		if err := c.Connect(ep); err != nil {
			t.Fatal(err)
		}
	}
	for who, mon := range map[string]<-chan Event{"connector": cmon, "binder": a2mon} {
		if e := awaitKind(t, mon, EventHandshakeFailed); !errors.Is(e.Err, ErrHandshake) || e.Endpoint != n2 {
			t.Errorf("%s: %v on %q, want ErrHandshake on %q", who, e.Err, e.Endpoint, n2)
		}
	}
	if waiting, linked := inprocListed(c, t.Name()+"/2"); !waiting || linked {
		t.Errorf("refused link waiting %v, linked %v: want it waiting for the next Bind", waiting, linked)
	}
	if st := a2.Stats(); st.Peers != 0 {
		t.Errorf("the refused binder has %d peers", st.Peers)
	}
	// c leaves its peer; the next Bind of n2 takes the waiting link.
	if err := c.Disconnect(n1); err != nil {
		t.Fatal(err)
	}
	if err := a2.Close(); err != nil {
		t.Fatal(err)
	}
	a3 := mustNew(t, Pair)
	if _, err := a3.Bind(n2); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, NewMsgString("hello")); err != nil {
		t.Fatal(err)
	}
	if m, err := a3.Recv(ctx); err != nil || m.Strings()[0] != "hello" {
		t.Fatalf("a3 received %q, %v: want the refused connector's hello", m, err)
	}
	if err := c.Disconnect(n2); err != nil {
		t.Fatal(err)
	}
	if waiting, linked := inprocListed(c, t.Name()+"/2"); waiting || linked {
		t.Errorf("after Disconnect: waiting %v, linked %v", waiting, linked)
	}
}

// A Connect that Close overtakes (Connect had looked before Close began)
// leaves nothing of the closed socket in the registry, bound name or not,
// and the binder links its next peer.
func TestInprocConnectAfterClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, bound := range []bool{false, true} {
		name := "/" + t.Name() + map[bool]string{false: "/unbound", true: "/bound"}[bound]
		ep := "inproc://" + name
		var b *Socket
		if bound {
			b = mustNew(t, Pair)
			if _, err := b.Bind(ep); err != nil {
				t.Fatal(err)
			}
		}
		c := mustNew(t, Pair)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		e, err := parseEndpoint(ep, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.connectInproc(ep, e); !errors.Is(err, ErrClosed) {
			t.Errorf("bound %v: connectInproc on a closed socket = %v, want ErrClosed", bound, err)
		}
		if waiting, linked := inprocListed(c, name); waiting || linked {
			t.Errorf("bound %v: the closed socket is in the registry: waiting %v, linked %v", bound, waiting, linked)
		}
		if !bound {
			continue
		}
		d := mustNew(t, Pair)
		if err := d.Connect(ep); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(ctx, NewMsgString("to the next peer")); err != nil {
			t.Fatal(err)
		}
		if m, err := d.Recv(ctx); err != nil || m.Strings()[0] != "to the next peer" {
			t.Fatalf("the next peer received %q, %v", m, err)
		}
	}
}

package main

// The remote Tell case, zmqflow's side: an actor with a PULL mailbox and an
// actor.Ref over PUSH, the Binary codec on a 12-byte struct (protobuf's
// Timestamp's two fields, which the other frameworks send). protoactor-go
// and hollywood run as the separate peer commands under peers/ (see package
// tell for why), built when the run starts.

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/bench/tell"
	"github.com/zmqflow/zmqflow/patterns"
)

// stamp is our side's struct: the Binary codec lays it out in 12 bytes
// (the others send protobuf's Timestamp, with the same two fields).
type stamp struct {
	Seconds int64
	Nanos   int32
}

func tellPeer(a peerArgs) error {
	ta := tell.Args{Role: a.role, Ep: a.ep, Duration: a.duration, Count: a.count, Hold: a.holdOpen}
	if a.role == "tell-recv" {
		return oursTellRecv(ta)
	}
	return oursTellSend(ta)
}

func oursTellRecv(a tell.Args) error {
	in, err := patterns.Pull(patterns.Binary[stamp]{}, patterns.Bind(a.Ep))
	if err != nil {
		return err
	}
	c := tell.NewCounter()
	act, err := actor.Spawn(context.Background(), actor.BehaviorFunc[stamp](func(_ context.Context, s stamp) error {
		c.Got(s.Seconds, s.Nanos)
		return nil
	}), actor.WithFeed(in))
	if err != nil {
		return err
	}
	fmt.Printf("READY %s\n", in.Endpoint())
	err = <-c.Done
	act.Close()
	return err
}

func oursTellSend(a tell.Args) error {
	out, err := patterns.Push(patterns.Binary[stamp]{}, patterns.Connect(a.Ep))
	if err != nil {
		return err
	}
	ref := out.Ref() // an actor.Ref[stamp], as a local actor's would be
	ctx := context.Background()
	err = tell.For(a, func(s int64, n int32) error { return ref.Tell(ctx, stamp{s, n}) })
	a.WaitRelease()
	out.Close()
	return err
}

// buildPeer builds the peer command of an actor framework into dir.
func buildPeer(name, dir string) (string, error) {
	out := filepath.Join(dir, name+"-peer")
	cmd := exec.Command("go", "build", "-o", out, "github.com/zmqflow/zmqflow/bench/peers/"+name)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the %s peer (run the bench command from bench/): %w", name, err)
	}
	return out, nil
}

// runActorPeer is the "actors" implementation of the PUSH->PULL cases: the
// same sockets as ours, with a PULL mailbox feeding an actor on the receiving
// side and a PUSH reference's Tell on the sending side, what the patterns
// package costs over the raw sockets.
func runActorPeer(a peerArgs) error {
	ctx := context.Background()
	switch a.role {
	case "pull":
		in, err := patterns.Pull(patterns.Bytes{}, patterns.Bind(a.ep))
		if err != nil {
			return err
		}
		var n uint64
		var start time.Time
		done := make(chan error, 1)
		act, err := actor.Spawn(ctx, actor.BehaviorFunc[[]byte](func(_ context.Context, b []byte) error {
			if len(b) == a.size {
				if n == 0 {
					start = time.Now()
				}
				n++
				return nil
			}
			elapsed := time.Since(start)
			if len(b) != endMarkerLen || string(b[8:]) != "END" || binary.BigEndian.Uint64(b) != n {
				done <- fmt.Errorf("end marker %q after %d messages", b, n)
				return nil
			}
			done <- report(result{Msgs: n, Seconds: elapsed.Seconds()})
			return nil
		}), actor.WithFeed(in))
		if err != nil {
			return err
		}
		fmt.Printf("READY %s\n", in.Endpoint())
		err = <-done
		act.Close()
		return err
	case "push":
		out, err := patterns.Push(patterns.Bytes{}, patterns.Connect(a.ep))
		if err != nil {
			return err
		}
		ref := out.Ref()
		err = sendFor(refSock{ctx, ref}, a)
		a.waitRelease()
		out.Close()
		return err
	}
	return fmt.Errorf("actors: no role %q", a.role)
}

// refSock lets sendFor tell through a Ref.
type refSock struct {
	ctx context.Context
	ref actor.Ref[[]byte]
}

func (r refSock) Send(b []byte) error       { return r.ref.Tell(r.ctx, b) }
func (refSock) Bind(string) (string, error) { return "", fmt.Errorf("not a socket") }
func (refSock) Connect(string) error        { return fmt.Errorf("not a socket") }
func (refSock) Recv() ([]byte, error)       { return nil, fmt.Errorf("not a socket") }
func (refSock) RecvMsg() ([][]byte, error)  { return nil, fmt.Errorf("not a socket") }
func (refSock) Close() error                { return nil }

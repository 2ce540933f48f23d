// Command hollywood is the remote Tell peer of hollywood for the bench
// command: an actor receiving protobuf Timestamps over its DRPC remote, or a
// sender telling them. See package tell.
package main

import (
	"fmt"
	"strings"

	"github.com/anthdm/hollywood/actor"
	"github.com/anthdm/hollywood/remote"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zmqflow/zmqflow/bench/tell"
)

func main() { tell.Main(recv, send) }

type receiver struct{ c *tell.Counter }

func (r *receiver) Receive(ctx *actor.Context) {
	if t, ok := ctx.Message().(*timestamppb.Timestamp); ok {
		r.c.Got(t.Seconds, t.Nanos)
	}
}

func engine(addr string) (*actor.Engine, *remote.Remote, error) {
	r := remote.New(addr, remote.NewConfig())
	e, err := actor.NewEngine(actor.NewEngineConfig().WithRemote(r))
	return e, r, err
}

func recv(a tell.Args) error {
	addr, err := tell.FreeAddr()
	if err != nil {
		return err
	}
	e, r, err := engine(addr)
	if err != nil {
		return err
	}
	defer func() { r.Stop().Wait() }()
	c := tell.NewCounter()
	pid := e.Spawn(func() actor.Receiver { return &receiver{c} }, "receiver", actor.WithID("1"))
	fmt.Printf("READY %s|%s\n", addr, pid.ID)
	return <-c.Done
}

func send(a tell.Args) error {
	addr, id, ok := strings.Cut(a.Ep, "|")
	if !ok {
		return fmt.Errorf("endpoint %q, want address|id", a.Ep)
	}
	self, err := tell.FreeAddr()
	if err != nil {
		return err
	}
	e, r, err := engine(self)
	if err != nil {
		return err
	}
	defer func() { r.Stop().Wait() }()
	pid := actor.NewPID(addr, id)
	err = tell.For(a, func(s int64, n int32) error {
		e.Send(pid, &timestamppb.Timestamp{Seconds: s, Nanos: n})
		return nil
	})
	a.WaitRelease()
	return err
}

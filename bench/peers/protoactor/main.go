// Command protoactor is the remote Tell peer of protoactor-go for the bench
// command: an actor receiving protobuf Timestamps over its gRPC remote, or a
// sender telling them. See package tell.
package main

import (
	"fmt"
	"net"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zmqflow/zmqflow/bench/tell"
)

func main() { tell.Main(recv, send) }

func recv(a tell.Args) error {
	addr, err := tell.FreeAddr()
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	system := actor.NewActorSystem()
	r := remote.NewRemote(system, remote.Configure(host, p))
	r.Start()
	defer r.Shutdown(true)
	c := tell.NewCounter()
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		if t, ok := ctx.Message().(*timestamppb.Timestamp); ok {
			c.Got(t.Seconds, t.Nanos)
		}
	})
	if _, err := system.Root.SpawnNamed(props, "receiver"); err != nil {
		return err
	}
	fmt.Printf("READY %s\n", addr)
	return <-c.Done
}

func send(a tell.Args) error {
	system := actor.NewActorSystem()
	r := remote.NewRemote(system, remote.Configure("127.0.0.1", 0))
	r.Start()
	defer r.Shutdown(true)
	pid := actor.NewPID(a.Ep, "receiver")
	err := tell.For(a, func(s int64, n int32) error {
		system.Root.Send(pid, &timestamppb.Timestamp{Seconds: s, Nanos: n})
		return nil
	})
	a.WaitRelease()
	return err
}

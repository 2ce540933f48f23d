package socket_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// A loop that receives in bursts takes what is queued at once, a batch at
// a time, and waits on Readable only when nothing is: fewer turns of the
// loop, and one lock per batch rather than per message.
func ExampleSocket_TryRecvBatch() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	pull, _ := socket.New(socket.Pull)
	defer pull.Close()
	pull.Bind("inproc://example-batch")
	push, _ := socket.New(socket.Push)
	defer push.Close()
	push.Connect("inproc://example-batch")
	for _, task := range []string{"a", "b", "c", "d", "e"} {
		push.Send(ctx, socket.NewMsgString(task))
	}

	var batch []socket.Msg
	for got := 0; got < 5; {
		var err error
		batch, err = pull.TryRecvBatch(batch[:0], 3)
		if err != nil {
			log.Fatal(err)
		}
		if len(batch) == 0 {
			select {
			case <-pull.Readable():
			case <-ctx.Done():
				log.Fatal(ctx.Err())
			}
			continue
		}
		var tasks []string
		for _, m := range batch {
			tasks = append(tasks, string(m[0]))
		}
		fmt.Println(strings.Join(tasks, " "))
		got += len(batch)
	}
	// Output:
	// a b c
	// d e
}

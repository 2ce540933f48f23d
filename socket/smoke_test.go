package socket

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestSmokePushPull(t *testing.T) {
	for _, ep := range []string{"tcp://127.0.0.1:*", "ipc://" + t.TempDir() + "/s", "inproc://smoke"} {
		t.Run(ep[:3], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			pull, _ := New(Pull)
			defer pull.Close()
			got, err := pull.Bind(ep)
			if err != nil {
				t.Fatal(err)
			}
			push, _ := New(Push)
			defer push.Close()
			if err := push.Connect(got); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 1000; i++ {
				if err := push.Send(ctx, NewMsgString("a", fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 1000; i++ {
				m, err := pull.Recv(ctx)
				if err != nil {
					t.Fatal(i, err)
				}
				if string(m[1]) != fmt.Sprint(i) {
					t.Fatalf("got %v want %d", m, i)
				}
			}
		})
	}
}

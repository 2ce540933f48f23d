package distributor_test

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/zmqflow/zmqflow/broker/distributor"
)

// The guide's ventilator, workers and sink (taskvent, taskwork2,
// tasksink2) as one Distributor and three Workers: a batch of squares
// is pulled lazily as the workers return credit, its summary comes back
// when the last result is in, and KILL ends the workers.
func ExampleDistributor() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// tcp://*:5557, tcp://*:5558 and tcp://*:5559 in the guide.
	d, err := distributor.New("inproc://dist-tasks", "inproc://dist-results", "inproc://dist-control")
	if err != nil {
		panic(err)
	}
	defer d.Close()

	square := func(ctx context.Context, task []byte) ([]byte, error) {
		n, err := strconv.Atoi(string(task))
		return []byte(strconv.Itoa(n * n)), err
	}
	for range 3 {
		w, err := distributor.NewWorker(d.Endpoints(), square, distributor.WithCredit(2))
		if err != nil {
			panic(err)
		}
		defer w.Close()
	}

	// The tasks are yielded one at a time, when a worker has credit.
	tasks := func(yield func([]byte) bool) {
		for i := 1; i <= 10; i++ {
			if !yield([]byte(strconv.Itoa(i))) {
				return
			}
		}
	}
	h, err := d.Submit(ctx, distributor.Batch{Size: 10, Tasks: tasks})
	if err != nil {
		panic(err)
	}
	sum, err := h.Wait(ctx)
	if err != nil {
		panic(err)
	}
	total := 0
	for _, r := range sum.Results {
		n, _ := strconv.Atoi(string(r.Data))
		total += n
	}
	fmt.Printf("batch %d: %d ok, %d failed, sum of squares %d\n", sum.ID, sum.OK, sum.Failed, total)

	if err := d.Kill(ctx); err != nil {
		panic(err)
	}
	fmt.Println("workers left:", d.Stats().Workers)
	// Output:
	// batch 1: 10 ok, 0 failed, sum of squares 385
	// workers left: 0
}

package gridsearch_test

import (
	"fmt"

	"github.com/zmqflow/zmqflow/gridsearch"
)

// A command's placeholders: a parameter's value, the point's index, the
// worker slot's number, and the escapes for literal braces.
func ExamplePoint_ExpandSlot() {
	g, _ := gridsearch.NewGrid("lr=0.1,0.01", "opt=adam")
	pt := g.Point(1)
	cmd := []string{"train", "--lr={lr}", "--opt={opt}", "--out=run{#}.json", "--gpu={%}", "--tag={{lr}}"}
	fmt.Println(pt.ExpandSlot(cmd, 3))
	fmt.Println(g.Unused([]string{"train", "--lr={lr}"}))
	// Output:
	// [train --lr=0.01 --opt=adam --out=run1.json --gpu=3 --tag={lr}]
	// [opt]
}

package main

import (
	"bufio"
	"io"
	"strings"

	"github.com/zmqflow/zmqflow/gridsearch"
	"github.com/zmqflow/zmqflow/internal/shell"
)

// dryRun prints the command of each point of grid, shell-quoted, one a
// line, as -dry-run does: {%} is left as it is, since no slot is chosen.
func dryRun(w io.Writer, grid gridsearch.Grid, command []string) error {
	bw := bufio.NewWriter(w)
	for i := range grid.Len() {
		bw.WriteString(shellJoin(grid.Point(i).Expand(command)))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// shellJoin is args as a POSIX shell line that gives them back: each
// argument with a character the shell treats specially in single quotes.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shell.Quote(a)
	}
	return strings.Join(q, " ")
}

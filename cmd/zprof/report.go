package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/zmqflow/zmqflow/telemetry/collect"
)

// reportCmd writes the static report: the live page's charts over the
// whole stored run, with the data inline.
func reportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("report", "-db FILE -o OUT.html", stdout)
	dbPath := fs.String("db", "", "the database `FILE` zprof collect wrote")
	out := fs.String("o", "", "the HTML `FILE` to write")
	if err := parse(fs, args, "db", "o"); err != nil {
		return err
	}
	if _, err := os.Stat(*dbPath); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	db, err := collect.ReadStore(ctx, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := collect.LoadView(ctx, db)
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := collect.WritePage(f, &v); err != nil {
		f.Close()
		return fmt.Errorf("report: %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s: %d processes, %d tasks\n", *out, len(v.Processes), len(v.Tasks))
	return nil
}

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// autoOutLayout is the default results file's name, to the millisecond.
const autoOutLayout = "gridsearch-20060102-150405.000"

// createAuto creates the default results file for a run started at now:
// gridsearch-YYYYmmdd-HHMMSS.mmm.jsonl, or with -2, -3, ... before
// .jsonl when that name, or its meta file, is taken (another run in the
// same millisecond, in the same directory). The file is created
// exclusively, so two runs never share one and none is overwritten.
func createAuto(dir string, now time.Time, m meta) (*results, string, error) {
	base := now.Format(autoOutLayout)
	for k := 1; k <= 1000; k++ {
		name := base + ".jsonl"
		if k > 1 {
			name = fmt.Sprintf("%s-%d.jsonl", base, k)
		}
		if dir != "" {
			name = dir + string(os.PathSeparator) + name
		}
		if _, err := os.Lstat(metaPath(name)); err == nil {
			continue
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		res, err := startResults(f, name, m)
		return res, name, err
	}
	return nil, "", fmt.Errorf("no free results file name like %s.jsonl; give one with -out", base)
}

package gridsearch

import (
	"encoding/json"
	"math"
	"strings"
)

// Field returns the number at path in a result: "" or "." is the result
// itself, "a.b" is field b of object a. ok is false when there is none, or
// it is not a number (or a string holding one; "NaN" does not, so that Best
// never picks it: NaN compares false with everything).
func Field(result json.RawMessage, path string) (v float64, ok bool) {
	if len(result) == 0 {
		return 0, false
	}
	var x any
	if json.Unmarshal(result, &x) != nil {
		return 0, false
	}
	if path != "" && path != "." {
		for _, k := range strings.Split(path, ".") {
			m, isObj := x.(map[string]any)
			if !isObj {
				return 0, false
			}
			if x, ok = m[k]; !ok {
				return 0, false
			}
		}
	}
	switch n := x.(type) {
	case float64:
		return n, true
	case string:
		f, err := json.Number(n).Float64()
		return f, err == nil && !math.IsNaN(f)
	}
	return 0, false
}

// Best returns the index in records of the succeeded record whose field
// (as Field reads it) is largest, or with maximize false smallest; -1 when
// no record has the field.
func Best(records []Record, field string, maximize bool) int {
	best, bv := -1, 0.0
	for i, r := range records {
		if !r.OK() {
			continue
		}
		v, ok := Field(r.Result, field)
		if !ok {
			continue
		}
		if best < 0 || (maximize && v > bv) || (!maximize && v < bv) {
			best, bv = i, v
		}
	}
	return best
}

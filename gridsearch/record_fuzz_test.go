package gridsearch

// FuzzRecord feeds arbitrary results files (JSON Lines, one Record a line,
// as gridsearch run writes them and -resume and the report read them) and a
// -maximize/-minimize field path to Record's decoding (Params.UnmarshalJSON
// among it), Field and Best. A line that decodes encodes, decodes to the
// same record and encodes to the same bytes again (the params' numbers in
// their canonical text); Field reads the same number from a result and from
// the result as encoded; Best picks the first succeeded record whose field
// is the largest (smallest) number of all, never NaN, or -1 when none has
// one.
//
//	go test -run '^$' -fuzz FuzzRecord -fuzztime 60s ./gridsearch
//
// The seed corpus is in testdata/fuzz/FuzzRecord: a file's bytes, then the
// field path.

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

func FuzzRecord(f *testing.F) {
	f.Add([]byte(`{"point":0,"params":{"p":0.1,"s":"a"},"result":{"loss":0.5},"exit":0,"attempts":1,"duration":0.01,"worker":"local/0","host":"h","stdout":"","stderr":""}`+"\n"), "loss")
	f.Add([]byte(`{"point":1,"params":{"p":1},"result":2.5}`+"\n"+`{"point":2,"params":{"p":2},"result":"3"}`), ".")
	f.Fuzz(func(t *testing.T, file []byte, field string) {
		var recs []Record
		for _, line := range bytes.Split(file, []byte("\n")) {
			if r, ok := checkRecord(t, line); ok {
				recs = append(recs, r)
				checkField(t, r.Result, field)
			}
		}
		checkBest(t, recs, field)
	})
}

// checkRecord decodes a line as a Record and checks that it survives being
// written back.
func checkRecord(t *testing.T, line []byte) (Record, bool) {
	var r Record
	if json.Unmarshal(line, &r) != nil {
		return r, false
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("record %q decodes as %+v, which does not encode: %v", line, r, err)
	}
	var r2 Record
	if err := json.Unmarshal(b, &r2); err != nil {
		t.Fatalf("record %q encoded as %q does not decode: %v", line, b, err)
	}
	if b2, err := json.Marshal(r2); err != nil || !bytes.Equal(b2, b) {
		t.Fatalf("record %q encodes as %q, then as %q, %v", line, b, b2, err)
	}
	// The same record but for the params' texts of numbers (canonical
	// now) and the result as encoding/json writes JSON: compact, with <,
	// > and & escaped; no result is null.
	p, p2 := r.Params, r2.Params
	res := r.Result
	r.Params, r2.Params, r.Result = nil, nil, json.RawMessage("null")
	if res != nil {
		var compact, escaped bytes.Buffer
		if err := json.Compact(&compact, res); err != nil {
			t.Fatalf("record %q: result %q is not JSON: %v", line, res, err)
		}
		json.HTMLEscape(&escaped, compact.Bytes())
		r.Result = escaped.Bytes()
	}
	if !reflect.DeepEqual(r, r2) {
		t.Fatalf("record %q decodes as %+v, written back as %q: %+v", line, r, b, r2)
	}
	if len(p) != len(p2) {
		t.Fatalf("record %q: %d params, written back %d", line, len(p), len(p2))
	}
	for i := range p {
		v, v2 := p[i].Value, p2[i].Value
		if p[i].Name != p2[i].Name || v.IsNum != v2.IsNum || v.IsNum && v.Num != v2.Num || !v.IsNum && v.Text != v2.Text {
			t.Fatalf("record %q: param %+v written back as %+v", line, p[i], p2[i])
		}
	}
	r.Params, r.Result = p, res
	return r, true
}

// checkField reads field from a result as it is and as encoded again.
func checkField(t *testing.T, result json.RawMessage, field string) {
	v, ok := Field(result, field)
	if ok && math.IsNaN(v) {
		t.Fatalf("Field(%q, %q) = NaN, a number", result, field)
	}
	var compact bytes.Buffer
	if json.Compact(&compact, result) != nil {
		return
	}
	if v2, ok2 := Field(compact.Bytes(), field); ok2 != ok || ok && v2 != v {
		t.Fatalf("Field(%q, %q) = %v, %v; compacted, %v, %v", result, field, v, ok, v2, ok2)
	}
}

// checkBest checks Best both ways: it picks the first succeeded record
// whose field is the extreme number of all such records' fields.
func checkBest(t *testing.T, recs []Record, field string) {
	for _, maximize := range []bool{true, false} {
		vals := map[int]float64{} // of the records that compete
		extreme := math.Inf(1)
		if maximize {
			extreme = math.Inf(-1)
		}
		for i, r := range recs {
			if v, ok := Field(r.Result, field); r.OK() && ok && !math.IsNaN(v) {
				vals[i] = v
				extreme = map[bool]func(float64, float64) float64{true: math.Max, false: math.Min}[maximize](extreme, v)
			}
		}
		want := -1
		for i := range recs {
			if v, ok := vals[i]; ok && v == extreme {
				want = i
				break
			}
		}
		if best := Best(recs, field, maximize); best != want {
			t.Fatalf("Best(%d records, %q, maximize %v) = %d, want %d (%v)", len(recs), field, maximize, best, want, extreme)
		}
	}
}

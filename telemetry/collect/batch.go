package collect

import (
	"encoding/json"
	"strings"
)

// Batch is one decoded batch: the processes that sent it (normally one) and
// their figures, flattened. Its values are the producer's, checked but not
// otherwise changed: sums and histograms cumulative since Point.Start. It
// shares nothing with the frames it was decoded from.
type Batch struct {
	Processes []Process
	Points    []Point
	Tasks     []Task
}

// Process is a batch's resource: a process run. Instance is its
// service.instance.id, unique per run, so a restarted process is a new one.
type Process struct {
	Instance string
	Service  string
	Host     string
	PID      int64
}

// Kind is what a Point holds.
type Kind uint8

// The kinds of Point.
const (
	// Counter is a monotonic cumulative sum: Value.
	Counter Kind = iota + 1
	// UpDown is a non-monotonic cumulative sum: Value.
	UpDown
	// Gauge is a level at Time: Value.
	Gauge
	// Histogram is a cumulative distribution: Hist.
	Histogram
)

var kindNames = [...]string{Counter: "counter", UpDown: "updown", Gauge: "gauge", Histogram: "histogram"}

// String is the kind's name as the database stores it.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// Attr is one attribute of a point, its value rendered as text.
type Attr struct{ Key, Value string }

// Attrs is a point's attributes, sorted by key, keys unique.
type Attrs []Attr

// Get returns the value of key, or "".
func (a Attrs) Get(key string) string {
	for _, kv := range a {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

// JSON is the attributes as a JSON object with sorted keys: the canonical
// form the database stores and series are keyed by.
func (a Attrs) JSON() string {
	var b strings.Builder
	b.Grow(a.jsonLen())
	b.WriteByte('{')
	for i, kv := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		jsonString(&b, kv.Key)
		b.WriteByte(':')
		jsonString(&b, kv.Value)
	}
	b.WriteByte('}')
	return b.String()
}

// jsonLen is the length of a's JSON when nothing needs escaping.
func (a Attrs) jsonLen() int {
	n := 2
	for _, kv := range a {
		n += len(kv.Key) + len(kv.Value) + 6
	}
	return n
}

// internAttrs returns a copy of a whose strings are substrings of js,
// a's JSON, where js holds them as they are (names nearly always): a
// series kept holds its attributes' text once, and its JSON is the one
// its key was looked up by, not made again.
func internAttrs(a Attrs, js string) Attrs {
	out := make(Attrs, len(a))
	i := 1 // past '{'
	for n, kv := range a {
		if n > 0 {
			i++ // ','
		}
		kv.Key, i = internString(js, i, kv.Key)
		i++ // ':'
		kv.Value, i = internString(js, i, kv.Value)
		out[n] = kv
	}
	return out
}

// internString returns s as the JSON string at js[i] holds it, when it
// holds it unescaped, and the index past that string.
func internString(js string, i int, s string) (string, int) {
	if i >= len(js) || js[i] != '"' {
		return s, i // not a's JSON: s stays its own
	}
	j := i + 1
	for j < len(js) && js[j] != '"' {
		if js[j] == '\\' {
			j++
		}
		j++
	}
	if j > len(js) {
		return s, j
	}
	if text := js[i+1 : j]; text == s {
		s = text
	}
	return s, j + 1
}

// Point is one data point of one metric of one process.
type Point struct {
	Instance string // the process's service.instance.id
	Metric   string
	Unit     string
	Kind     Kind
	Attrs    Attrs
	Start    int64 // unix nanoseconds: when the cumulative count began (0: unknown)
	Time     int64 // unix nanoseconds
	Value    float64
	Hist     *Hist // for Histogram
}

// Task is one task a worker ran (a span of the batch's frame 2), for the
// timeline.
type Task struct {
	Instance string
	Worker   string
	Slot     int64
	Task     int64
	Label    string
	Start    int64 // unix nanoseconds
	End      int64
	Error    string // "" when it succeeded
}

// jsonString writes s as a JSON string: as it is, quoted, when it needs no
// escaping (names nearly always), through encoding/json otherwise, and
// says whether it was escaped.
func jsonString(b *strings.Builder, s string) (escaped bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			b.Write(q)
			return true
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
	return false
}

package collect

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, "sqlite"

	"github.com/zmqflow/zmqflow/telemetry"
)

// ErrStore is a database that cannot be opened or written.
var ErrStore = errors.New("collect: database")

// The schema: plain tables with one row an observation, times in unix
// seconds (REAL), attributes as a JSON object, so that pandas (read_sql)
// or a spreadsheet opens them as they are. A series' names are stored once
// (series), its points by id (points); the view samples joins them back.
const schema = `
CREATE TABLE IF NOT EXISTS processes(
	instance TEXT PRIMARY KEY, service TEXT, host TEXT, pid INTEGER,
	first_seen REAL, last_seen REAL, batches INTEGER);
CREATE TABLE IF NOT EXISTS series(
	id INTEGER PRIMARY KEY, instance TEXT, metric TEXT, kind TEXT, unit TEXT, attrs TEXT, actor TEXT);
CREATE TABLE IF NOT EXISTS points(
	time REAL, series INTEGER, value REAL, rate REAL, count INTEGER, sum REAL, p50 REAL, p90 REAL, p99 REAL);
CREATE VIEW IF NOT EXISTS samples AS SELECT
	p.time, s.instance, s.metric, s.kind, s.unit, s.attrs, s.actor,
	p.value, p.rate, p.count, p.sum, p.p50, p.p90, p.p99
	FROM points p JOIN series s ON s.id = p.series;
CREATE TABLE IF NOT EXISTS tasks(
	instance TEXT, worker TEXT, slot INTEGER, task INTEGER, label TEXT,
	start REAL, "end" REAL, error TEXT);
`

// FlushInterval is how often a Store writes what it was given.
const FlushInterval = time.Second

// MaxPendingBytes bounds the bytes of the samples and tasks a Store queues,
// as pendingBytes counts them: past it (a disk too slow for the load), Add
// drops what it is given and counts it (Store.Dropped). A write holds as
// much again while the next is queued.
const MaxPendingBytes = 16 << 20

// maxIDs bounds the series ids a Store remembers (those of the series an
// Aggregator keeps, and the newest of a database reopened): past it, it
// forgets them all, and a series written again gets a new row of series,
// with the same names, which samples joins as before.
const maxIDs = 2 * MaxSeries

// loadBytes bounds the names of the series ids a Store reads from a
// database reopened: unlike the others', they are not the Aggregator's.
const loadBytes = 16 << 20

// The bytes a queued sample and task cost: a Sample's struct (its
// strings are its series', held by the Aggregator), and a Task's with its
// text.
const (
	sampleCost = 200
	taskCost   = 120
)

func pendingBytes(samples []Sample, tasks []Task) int {
	n := sampleCost * len(samples)
	for i := range tasks {
		t := &tasks[i]
		n += taskCost + len(t.Instance) + len(t.Worker) + len(t.Label) + len(t.Error)
	}
	return n
}

// Store writes samples, tasks and processes to an SQLite database file in
// WAL mode, batched: Add only queues, and a goroutine of the Store's writes
// what is queued in one transaction every FlushInterval. Add may be called
// from any goroutine; Close flushes, ends that goroutine and closes the
// file.
type Store struct {
	db   *sql.DB
	mu   sync.Mutex
	pend pending
	err  error // the first write that failed
	drop uint64
	stop chan struct{}
	done chan struct{}
	lock *os.File // held for the Store's life: one collector a database

	wmu  sync.Mutex // one write at a time: they share ids
	ids  map[seriesKey]int64
	next int64
}

// pending is what a Store has queued. procs holds only processes an
// Aggregator kept: at most MaxProcesses.
type pending struct {
	samples []Sample
	tasks   []Task
	procs   map[string]ProcessInfo
	bytes   int
}

// OpenStore opens or creates the database at path. It returns ErrInUse if
// another Store, in this process or another, has it open: each numbers
// its series alone, so two would lose each other's points.
func OpenStore(path string) (*Store, error) {
	lock, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	s, err := openStore(path)
	if err != nil {
		lock.Close()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

func openStore(path string) (*Store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serialises them anyway
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrStore, path, err)
	}
	s := &Store{db: db, stop: make(chan struct{}), done: make(chan struct{}), ids: make(map[seriesKey]int64), next: 1}
	if err := s.loadSeries(); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrStore, path, err)
	}
	go s.loop()
	return s, nil
}

// Add queues samples, tasks and the processes they came from. A sample's
// Hist is not stored (its Count and Sum are): give it none, so that the
// queue does not hold it.
func (s *Store) Add(samples []Sample, tasks []Task, procs []ProcessInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := pendingBytes(samples, tasks)
	if s.pend.bytes+n > MaxPendingBytes {
		s.drop += uint64(len(samples) + len(tasks))
		return
	}
	s.pend.bytes += n
	s.pend.samples = append(s.pend.samples, samples...)
	s.pend.tasks = append(s.pend.tasks, tasks...)
	if s.pend.procs == nil {
		s.pend.procs = make(map[string]ProcessInfo)
	}
	for _, p := range procs {
		s.pend.procs[p.Instance] = p
	}
}

func (s *Store) loop() {
	defer close(s.done)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.Flush()
		case <-s.stop:
			return
		}
	}
}

// Flush writes what is queued now, and returns the first write error the
// Store has met (it keeps trying: a full disk may empty).
func (s *Store) Flush() error {
	s.mu.Lock()
	p := s.pend
	s.pend = pending{}
	s.mu.Unlock()
	if len(p.samples)+len(p.tasks)+len(p.procs) > 0 {
		if err := s.write(p); err != nil {
			s.mu.Lock()
			s.drop += uint64(len(p.samples) + len(p.tasks)) // not written, not kept
			if s.err == nil {
				s.err = fmt.Errorf("%w: %v", ErrStore, err)
			}
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Err returns the first write error the Store has met, without flushing.
func (s *Store) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Dropped returns the samples and tasks dropped over MaxPendingBytes, or
// because a write failed.
func (s *Store) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drop
}

// Close flushes and closes the database.
func (s *Store) Close() error {
	close(s.stop)
	<-s.done
	err := s.Flush()
	if cerr := s.db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%w: %v", ErrStore, cerr)
	}
	// After the database: closing a descriptor of the file drops the
	// process's POSIX locks on it, SQLite's among them.
	s.lock.Close()
	return err
}

func secs(ns int64) float64 { return float64(ns) / 1e9 }

// null is NaN as SQL's NULL.
func null(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// loadSeries reads the ids of the newest series a database holds already
// (maxIDs of them, loadBytes of their names at most): a collector
// restarted on it goes on with the same ones.
func (s *Store) loadSeries() error {
	var last sql.NullInt64
	if err := s.db.QueryRow(`SELECT max(id) FROM series`).Scan(&last); err != nil {
		return err
	}
	s.next = last.Int64 + 1
	rows, err := s.db.Query(`SELECT id, instance, metric, attrs FROM series ORDER BY id DESC LIMIT ?`, maxIDs)
	if err != nil {
		return err
	}
	defer rows.Close()
	size := 0
	for rows.Next() && size < loadBytes {
		var id int64
		var inst, metric, attrs string
		if err := rows.Scan(&id, &inst, &metric, &attrs); err != nil {
			return err
		}
		s.ids[seriesKey{inst, metric, attrs}] = id
		size += len(inst) + len(metric) + len(attrs)
	}
	return rows.Err()
}

func (s *Store) write(p pending) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	fresh := make(map[seriesKey]int64) // series written by this transaction
	if err := s.insertSamples(tx, p.samples, fresh); err != nil {
		return err
	}
	if len(p.tasks) > 0 {
		st, err := tx.Prepare(`INSERT INTO tasks VALUES(?,?,?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		for _, t := range p.tasks {
			var e any
			if t.Error != "" {
				e = t.Error
			}
			if _, err := st.Exec(t.Instance, t.Worker, t.Slot, t.Task, t.Label, secs(t.Start), secs(t.End), e); err != nil {
				return err
			}
		}
	}
	for _, pr := range p.procs {
		if _, err := tx.Exec(`INSERT INTO processes VALUES(?,?,?,?,?,?,?)
			ON CONFLICT(instance) DO UPDATE SET last_seen=excluded.last_seen, batches=excluded.batches`,
			pr.Instance, pr.Service, pr.Host, pr.PID, secs(pr.First.UnixNano()), secs(pr.Last.UnixNano()), pr.Batches); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if len(s.ids)+len(fresh) > maxIDs {
		clear(s.ids)
	}
	for k, id := range fresh { // known once written
		s.ids[k] = id
	}
	s.next += int64(len(fresh))
	return nil
}

// rowsPerInsert is how many points one INSERT statement writes: fewer
// statements, less of database/sql's and SQLite's cost a row.
const rowsPerInsert = 64

// insertSamples writes the samples' new series, then their points
// rowsPerInsert at a time.
func (s *Store) insertSamples(tx *sql.Tx, samples []Sample, fresh map[seriesKey]int64) error {
	ids := make([]int64, len(samples))
	for i := range samples {
		id, err := s.seriesID(tx, &samples[i], fresh)
		if err != nil {
			return err
		}
		ids[i] = id
	}
	var full *sql.Stmt
	args := make([]any, 0, rowsPerInsert*9)
	for done := 0; done < len(samples); {
		n := min(len(samples)-done, rowsPerInsert)
		args = args[:0]
		for i := done; i < done+n; i++ {
			args = appendPoint(args, ids[i], &samples[i])
		}
		st := full
		if n < rowsPerInsert || full == nil {
			q := "INSERT INTO points VALUES" + strings.Repeat("(?,?,?,?,?,?,?,?,?),", n-1) + "(?,?,?,?,?,?,?,?,?)"
			var err error
			if st, err = tx.Prepare(q); err != nil {
				return err
			}
			if n == rowsPerInsert {
				full = st
			}
		}
		if _, err := st.Exec(args...); err != nil {
			return err
		}
		done += n
	}
	return nil
}

// seriesID returns the id of a sample's series, writing the series first
// if it is new; fresh holds those new to this transaction.
func (s *Store) seriesID(tx *sql.Tx, sm *Sample, fresh map[seriesKey]int64) (int64, error) {
	key := seriesKey{sm.Instance, sm.Metric, sm.AttrsJSON}
	if id, ok := s.ids[key]; ok {
		return id, nil
	}
	if id, ok := fresh[key]; ok {
		return id, nil
	}
	var actor any
	if a := sm.Attrs.Get(telemetry.AttrActor); a != "" {
		actor = a
	}
	id := s.next + int64(len(fresh))
	if _, err := tx.Exec(`INSERT INTO series VALUES(?,?,?,?,?,?,?)`, id, sm.Instance, sm.Metric, sm.Kind.String(), sm.Unit, sm.AttrsJSON, actor); err != nil {
		return 0, err
	}
	fresh[key] = id
	return id, nil
}

// appendPoint appends a sample's columns of points, in the table's order.
func appendPoint(args []any, id int64, s *Sample) []any {
	var value, count, sum any
	if s.Kind == Histogram {
		count, sum = int64(min(s.Count, math.MaxInt64)), null(s.Sum)
	} else {
		value = null(s.Value)
	}
	return append(args, secs(s.Time), id, value, null(s.Rate), count, sum, null(s.P50), null(s.P90), null(s.P99))
}

// forget lets go of the ids of the series of processes that keep says
// are gone: an Aggregator forgot them. One that comes back has its series
// written again.
func (s *Store) forget(keep func(instance string) bool) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for k := range s.ids {
		if !keep(k.instance) {
			delete(s.ids, k)
		}
	}
}

// ReadStore opens a database written by a Store, read-only, for reports.
// Closing it leaves nothing beside the database, unless a Store still has it
// open. A WAL database opened with mode=ro gets a -wal and a -shm file that
// a read-only connection cannot remove; so it is opened read-write but never
// created (mode=rw), with every statement refused (query_only), and its last
// connection's close checkpoints and removes them, as a Store's Close does.
func ReadStore(ctx context.Context, path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw&_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err == nil {
		_, err = db.ExecContext(ctx, `SELECT 1 FROM samples LIMIT 1`)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrStore, path, err)
	}
	return db, nil
}

// Package chain holds the per-goroutine job description shared by the
// generated call-chain packages, and the blocking primitives the goroutines
// park on at the bottom of their stacks.
package chain

import (
	"sync"
	"sync/atomic"
	"time"
)

// State is how a goroutine parks at the bottom of its stack.
type State uint8

const (
	ChanRecv     State = iota // [chan receive]
	Select                    // [select]
	MutexLock                 // [sync.Mutex.Lock]
	WaitGroup                 // [sync.WaitGroup.Wait]
	Sleep                     // [sleep]
	ChanSend                  // [chan send]
	CondWait                  // [sync.Cond.Wait]
	RWMutexRLock              // [sync.RWMutex.RLock]
	ChanRecvNil               // [chan receive (nil chan)]
	SelectNoCase              // [select (no cases)]
	NumStates
)

// Opts is passed by pointer through the chain so frames print pointers.
type Opts struct {
	Flags   uint64
	Timeout time.Duration
	Name    string
}

// Job describes one goroutine: which call path it takes and how it parks.
type Job struct {
	ID    int
	Stack int    // index of the distinct stack this goroutine belongs to
	Depth int    // number of generated levels on the stack (1..30)
	Path  []byte // Path[i] = function choice (0..9) at level i+1
	State State
	Key   string
	Opts  *Opts
	Buf   []byte
	Sink  int

	Creator   uint8    // which server function starts the goroutine (0..4)
	LabelMode uint8    // LabelsNone, LabelsDo or LabelsSet
	Labels    []string // key, value, key, value...
}

// Label modes: how a goroutine gets its pprof labels.
const (
	LabelsNone uint8 = iota
	LabelsDo         // pprof.Do around the call chain (adds runtime/pprof.Do frames)
	LabelsSet        // pprof.SetGoroutineLabels (labels only in the header)
)

// Parked counts goroutines that reached Block (they park right after).
var Parked atomic.Int64

var (
	recvCh   = make(chan int)
	sendCh   = make(chan int)
	selA     = make(chan struct{})
	selB     = make(chan int)
	mu       sync.Mutex
	rw       sync.RWMutex
	wg       sync.WaitGroup
	condMu   sync.Mutex
	cond     = sync.NewCond(&condMu)
	nilCh    chan int
	blockers sync.Once
)

// Arm takes the locks that the parked goroutines will wait for. Call it once
// before spawning any goroutine; nothing ever releases them.
func Arm() {
	blockers.Do(func() {
		mu.Lock()
		rw.Lock()
		wg.Add(1)
	})
}

// Block parks the calling goroutine forever in the state of its job.
//
//go:noinline
func (j *Job) Block() {
	Parked.Add(1)
	switch j.State {
	case ChanRecv:
		j.Sink += recvLoop(j.ID)
	case Select:
		j.Sink += awaitEvent(j.ID, j.Opts)
	case MutexLock:
		lockShared(j)
	case WaitGroup:
		waitAll(j.ID)
	case Sleep:
		backoff(j.ID, j.Opts.Timeout)
	case ChanSend:
		publish(j.ID, j.Key)
	case CondWait:
		waitSignal(j)
	case RWMutexRLock:
		readLocked(j.ID, j.Opts)
	case ChanRecvNil:
		j.Sink += drainNil(j.ID)
	case SelectNoCase:
		idleForever(j.ID)
	}
}

//go:noinline
func recvLoop(id int) int {
	v := <-recvCh
	return v + id
}

//go:noinline
func awaitEvent(id int, o *Opts) int {
	select {
	case <-selA:
		return id
	case v := <-selB:
		return v + int(o.Flags)
	}
}

//go:noinline
func lockShared(j *Job) {
	mu.Lock()
	j.Sink++
	mu.Unlock()
}

//go:noinline
func waitAll(id int) {
	wg.Wait()
	_ = id
}

//go:noinline
func backoff(id int, d time.Duration) {
	time.Sleep(d + time.Duration(id)*time.Nanosecond)
}

//go:noinline
func publish(id int, key string) {
	sendCh <- id + len(key)
}

//go:noinline
func waitSignal(j *Job) {
	condMu.Lock()
	for j.Sink >= 0 {
		cond.Wait()
	}
	condMu.Unlock()
}

//go:noinline
func readLocked(id int, o *Opts) {
	rw.RLock()
	o.Flags += uint64(id)
	rw.RUnlock()
}

//go:noinline
func drainNil(id int) int {
	return <-nilCh + id
}

//go:noinline
func idleForever(id int) {
	_ = id
	select {}
}

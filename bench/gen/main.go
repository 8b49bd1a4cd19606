// Command benchgen writes a real Go goroutine dump for goleak's benchmarks.
//
// It starts -goroutines goroutines spread over -stacks distinct stacks, waits
// until every one of them is parked, and writes the goroutine profile in the
// format of -debug to -o:
//
//	-debug 2  runtime.Stack(buf, true): the full text dump, as printed by
//	          pprof's goroutine?debug=2 and (minus the signal header) by a
//	          SIGQUIT / GOTRACEBACK=all crash. pprof.Lookup("goroutine").WriteTo
//	          with debug=2 is the same runtime.Stack call but silently cuts the
//	          dump at 64 MB, so it is used only with -via pprof.
//	-debug 1  pprof.Lookup("goroutine").WriteTo(out, 1): stacks grouped with counts.
//	-debug 0  pprof.Lookup("goroutine").WriteTo(out, 0): gzipped protobuf.
//
// Stacks: a stack is a call path through the generated packages api, rpc,
// service, store and driver (30 levels, 10 function choices per level, choice
// 9 being the package's recursive Walk), of depth 1..30, below one of five
// goroutine creators and optionally pprof.Do / labels, ending in one of ten
// park states (chan receive, select, sync.Mutex.Lock, sync.WaitGroup.Wait,
// sleep, chan send, sync.Cond.Wait, sync.RWMutex.RLock, chan receive (nil
// chan), select (no cases)). The stack shapes depend only on -stacks and the
// depth flags; -seed changes how many goroutines each stack gets and the
// per-goroutine label values, so two seeds give two "before/after" dumps of the
// same program.
//
//go:generate go run gen_funcs.go
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"time"

	"example.com/benchgen/chain"
	"example.com/benchgen/server"
)

var (
	flagG      = flag.Int("goroutines", 200000, "number of goroutines to start")
	flagS      = flag.Int("stacks", 50, "number of distinct stacks (capped at -goroutines)")
	flagDebug  = flag.Int("debug", 2, "dump format: 2 (full text), 1 (grouped text) or 0 (protobuf)")
	flagOut    = flag.String("o", "", "output file (- for stdout)")
	flagSeed   = flag.Uint64("seed", 1, "seed for goroutine counts per stack and label values")
	flagMinD   = flag.Int("min-depth", 1, "smallest number of generated call levels on a stack")
	flagMaxD   = flag.Int("max-depth", 30, "largest number of generated call levels on a stack (<= 30)")
	flagSkew   = flag.Float64("skew", 1.1, "Zipf exponent of goroutines per stack (0 = even)")
	flagAge    = flag.Duration("age", 0, "after parking, run a GC and wait this long so headers show \"N minutes\" (use >= 61s)")
	flagVia    = flag.String("via", "stack", "debug=2 source: stack (runtime.Stack, no size limit) or pprof (WriteTo, cut at 64 MB)")
	flagQuiet  = flag.Bool("q", false, "do not print progress to stderr")
	flagLabels = flag.Bool("labels", true, "put pprof labels on two thirds of the stacks")
)

const maxLevels = 30

func logf(format string, args ...any) {
	if !*flagQuiet {
		fmt.Fprintf(os.Stderr, "benchgen: "+format+"\n", args...)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchgen: "+format+"\n", args...)
	os.Exit(1)
}

// stackSpec is one distinct stack.
type stackSpec struct {
	depth     int
	path      []byte
	state     chain.State
	creator   uint8
	labelMode uint8
	key       string
	opts      *chain.Opts
	buf       []byte
	labels    [][]string // label variants; a goroutine picks one by the seed
}

// stateWeights: how often each park state is picked for a stack (after the
// first ten stacks, which take each state once).
var stateWeights = [chain.NumStates]int{30, 25, 10, 8, 8, 6, 4, 4, 3, 2}

var routes = []string{
	"/api/v1/stream", "GET /v1/objects/{id}", "/grpc.health.v1.Health/Watch",
	"POST /v2/batch", "/internal/metrics", "/ws/events", "PUT /v1/keys/{key...}",
	"/debug/pprof/profile",
}

func planStacks(s, minD, maxD int) []stackSpec {
	rng := rand.New(rand.NewPCG(0x9e3779b97f4a7c15, uint64(s))) // shapes: independent of -seed
	span := maxD - minD + 1
	used := make(map[string]bool, s)
	perDepth := make([]int, maxLevels+1)
	capacity := func(d int) float64 { return math.Pow(10, float64(d)) }
	specs := make([]stackSpec, s)
	for k := range specs {
		d := minD + k%span
		// A depth has 10^d call paths; move on to the next depth with room.
		for tries := 0; float64(perDepth[d]) >= capacity(d)*0.7; tries++ {
			d++
			if d > maxD {
				d = minD
			}
			if tries > maxLevels {
				fail("cannot place %d distinct stacks in depths %d..%d", s, minD, maxD)
			}
		}
		perDepth[d]++
		path := make([]byte, d)
		for {
			for i := range path {
				path[i] = byte(rng.IntN(10))
			}
			if !used[string(path)] {
				used[string(path)] = true
				break
			}
		}
		var st chain.State
		if k < int(chain.NumStates) {
			st = chain.State(k)
		} else {
			r := rng.IntN(100)
			for i, w := range stateWeights {
				if r < w {
					st = chain.State(i)
					break
				}
				r -= w
			}
		}
		sp := stackSpec{
			depth:   d,
			path:    path,
			state:   st,
			creator: uint8(rng.IntN(5)),
			key:     fmt.Sprintf("shard-%03d/key-%d", k%977, k),
			opts: &chain.Opts{
				Flags:   uint64(k) << 4,
				Timeout: time.Duration(1000+k%7) * time.Hour,
				Name:    fmt.Sprintf("stack%d", k),
			},
		}
		if k%4 != 0 {
			sp.buf = make([]byte, 16+k%113, 512)
		}
		specs[k] = sp
	}
	// Labels by weight position, so about a third of the goroutines carry
	// pprof.Do labels, a third SetGoroutineLabels labels and a third none.
	if *flagLabels {
		for pos, k := range rankStacks(specs) {
			sp := &specs[k]
			switch pos % 3 {
			case 1:
				sp.labelMode = chain.LabelsDo
				route := routes[k%len(routes)]
				for t := 0; t < 4; t++ {
					sp.labels = append(sp.labels, []string{"handler", route, "tenant", fmt.Sprintf("t%02d", t*7+k%5)})
				}
			case 2:
				sp.labelMode = chain.LabelsSet
				sp.labels = [][]string{{"worker", fmt.Sprintf("pool-%d", k%6)}}
			}
		}
	}
	return specs
}

// rankStacks orders the stacks from most to fewest goroutines, the same for
// every seed: mostly shallow before deep (leaks pile up in short server loops),
// with noise so depth and count are not in lockstep. rank[i] is a stack index.
func rankStacks(specs []stackSpec) []int {
	rng := rand.New(rand.NewPCG(0x51ed27, uint64(len(specs))))
	key := make([]float64, len(specs))
	rank := make([]int, len(specs))
	for k := range specs {
		key[k] = float64(specs[k].depth) + 8*rng.Float64()
		rank[k] = k
	}
	sort.Slice(rank, func(a, b int) bool { return key[rank[a]] < key[rank[b]] })
	return rank
}

// counts gives every stack at least one goroutine and spreads the rest by
// Zipf-like weights over a fixed ranking of the stacks, jittered by -seed.
func counts(g int, specs []stackSpec, seed uint64, skew float64) []int {
	s := len(specs)
	rank := rankStacks(specs)
	jit := rand.New(rand.NewPCG(seed, 0x5eed))
	w := make([]float64, s)
	total := 0.0
	for pos, k := range rank {
		w[k] = math.Pow(float64(pos+1), -skew) * (0.8 + 0.4*jit.Float64())
	}
	for _, x := range w {
		total += x
	}
	n := make([]int, s)
	left := g - s
	given := 0
	for k := range n {
		n[k] = 1 + int(float64(left)*w[k]/total)
		given += n[k]
	}
	for k := 0; given < g; k = (k + 1) % s {
		n[rank[k]]++ // hand out the rounding remainder, heaviest first
		given++
	}
	return n
}

func waitingGoroutines() int64 {
	sample := []metrics.Sample{{Name: "/sched/goroutines/waiting:goroutines"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return -1
	}
	return int64(sample[0].Value.Uint64())
}

// notParked counts goroutine headers (other than goroutine 1, the dumper)
// whose status is not a wait state.
func notParked(dump []byte) (headers, busy int) {
	rest := dump
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if !bytes.HasPrefix(line, []byte("goroutine ")) {
			continue
		}
		headers++
		if bytes.HasPrefix(line, []byte("goroutine 1 ")) {
			continue
		}
		if i := bytes.IndexByte(line, '['); i >= 0 {
			st := line[i+1:]
			if bytes.HasPrefix(st, []byte("running")) || bytes.HasPrefix(st, []byte("runnable")) ||
				bytes.HasPrefix(st, []byte("syscall")) || bytes.HasPrefix(st, []byte("preempted")) {
				busy++
			}
		}
	}
	return headers, busy
}

// stackDump returns the full debug=2 text of all goroutines. runtime.Stack
// needs the whole dump in one buffer; the first try is sized generously (pages
// never written are never touched, so the slack costs address space, not RSS).
func stackDump(g int) []byte {
	size := g*4096 + 16<<20
	for {
		buf := make([]byte, size)
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		size *= 2
	}
}

func main() {
	flag.Parse()
	g, s := *flagG, *flagS
	if *flagOut == "" || g < 1 || s < 1 || *flagDebug < 0 || *flagDebug > 2 ||
		*flagMinD < 1 || *flagMaxD > maxLevels || *flagMinD > *flagMaxD {
		fmt.Fprintln(os.Stderr, "usage: benchgen -o FILE [-goroutines N] [-stacks S] [-debug 0|1|2] [-seed N]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	if s > g {
		s = g
	}
	debug.SetGCPercent(-1) // the heap is tiny; GC would only rescan a million stacks
	t0 := time.Now()

	specs := planStacks(s, *flagMinD, *flagMaxD)
	n := counts(g, specs, *flagSeed, *flagSkew)
	order := make([]int32, 0, g)
	for k, c := range n {
		for range c {
			order = append(order, int32(k))
		}
	}
	rng := rand.New(rand.NewPCG(*flagSeed, 0x0de7))
	rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })

	base := waitingGoroutines()
	chain.Arm()
	jobs := make([]chain.Job, g)
	for i, k := range order {
		sp := &specs[k]
		j := &jobs[i]
		*j = chain.Job{
			ID: i, Stack: int(k), Depth: sp.depth, Path: sp.path, State: sp.state,
			Key: sp.key, Opts: sp.opts, Buf: sp.buf, Creator: sp.creator, LabelMode: sp.labelMode,
		}
		if len(sp.labels) > 0 {
			j.Labels = sp.labels[rng.IntN(len(sp.labels))]
		}
		server.Spawn(j)
	}
	order = nil
	tSpawn := time.Since(t0)

	deadline := time.Now().Add(10*time.Minute + time.Duration(g/1000)*time.Second)
	for chain.Parked.Load() < int64(g) || (base >= 0 && waitingGoroutines() < base+int64(g)) {
		if time.Now().After(deadline) {
			fail("only %d of %d goroutines parked", chain.Parked.Load(), g)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if *flagAge > 0 {
		// A GC stamps each parked goroutine's wait start with the start time of
		// the previous GC's mark termination (zero before the first), so two.
		runtime.GC()
		runtime.GC()
		logf("aging %v", *flagAge)
		time.Sleep(*flagAge)
	}
	tPark := time.Since(t0)

	var out io.Writer = os.Stdout
	var f *os.File
	if *flagOut != "-" {
		var err error
		if f, err = os.Create(*flagOut); err != nil {
			fail("%v", err)
		}
		out = f
	}
	bw := bufio.NewWriterSize(out, 4<<20)
	var written int64
	switch {
	case *flagDebug == 2 && *flagVia == "stack":
		var dump []byte
		for try := 0; ; try++ {
			dump = stackDump(g)
			headers, busy := notParked(dump)
			if busy == 0 {
				if headers != g+1 {
					logf("warning: %d goroutine headers, expected %d", headers, g+1)
				}
				break
			}
			if try >= 20 {
				fail("%d goroutines still not parked", busy)
			}
			dump = nil
			time.Sleep(100 * time.Millisecond)
		}
		m, err := bw.Write(dump)
		if err != nil {
			fail("write: %v", err)
		}
		written = int64(m)
	case *flagDebug == 2 && *flagVia != "pprof":
		fail("-via must be stack or pprof")
	default:
		cw := &countWriter{w: bw}
		if err := pprof.Lookup("goroutine").WriteTo(cw, *flagDebug); err != nil {
			fail("write: %v", err)
		}
		written = cw.n
		if *flagDebug == 2 && written == 64<<20 {
			logf("warning: pprof cut the debug=2 dump at 64 MB; use -via stack for the whole dump")
		}
	}
	if err := bw.Flush(); err != nil {
		fail("write: %v", err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			fail("close: %v", err)
		}
	}
	tAll := time.Since(t0)
	logf("goroutines=%d stacks=%d debug=%d bytes=%d (%.1f MB, %.0f B/goroutine) spawn=%.1fs parked=%.1fs total=%.1fs",
		g, s, *flagDebug, written, float64(written)/1e6, float64(written)/float64(g),
		tSpawn.Seconds(), tPark.Seconds(), tAll.Seconds())
	runtime.KeepAlive(jobs)
	os.Exit(0) // skip tearing down a million goroutines
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	m, err := c.w.Write(p)
	c.n += int64(m)
	return m, err
}

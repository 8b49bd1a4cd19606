// goparse is the bench's Go baseline: it reads a debug=2 goroutine dump the way a Go
// parse-only library does (a bufio.Scanner line loop filling one struct per goroutine and
// one per frame, every name copied out as a string) and clusters nothing. bench/run.py times
// it on the same dumps in the same run as goleak, so each run says how fast Go parses on
// the machine at that minute; this VM's speed drifts by half between minutes.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
)

type frame struct {
	Func string
	File string
	Line int
}

type goroutine struct {
	ID      int
	State   string // the text between the brackets, wait time included
	Labels  string // the {...} after the brackets (Go 1.27 debug=2), unparsed
	Frames  []*frame
	Creator *frame
	Parent  int // "created by ... in goroutine N"
}

var (
	prefixGoroutine = []byte("goroutine ")
	prefixCreatedBy = []byte("created by ")
	inGoroutine     = []byte(" in goroutine ")
	// "...N frames elided..." (Go 1.21+) or "...additional frames elided..." (older)
	elidedStart = []byte("...")
	elidedEnd   = []byte("elided...")
	offsetMark  = []byte(" +0x")
)

// parseHeader reads "goroutine N [state] {labels}:" after its prefix.
func parseHeader(rest []byte) (*goroutine, bool) {
	sp := bytes.IndexByte(rest, ' ')
	if sp < 0 || len(rest) < sp+3 || rest[sp+1] != '[' || rest[len(rest)-1] != ':' {
		return nil, false
	}
	id, err := strconv.Atoi(string(rest[:sp]))
	if err != nil {
		return nil, false
	}
	end := bytes.IndexByte(rest[sp:], ']')
	if end < 0 {
		return nil, false
	}
	end += sp
	g := &goroutine{ID: id, State: string(rest[sp+2 : end])}
	if tail := rest[end+1 : len(rest)-1]; len(tail) > 0 {
		g.Labels = string(bytes.TrimSpace(tail))
	}
	return g, true
}

// parseCall reads "pkg.fn(args...)": the function is everything before the last '('.
func parseCall(line []byte) (*frame, bool) {
	open := bytes.LastIndexByte(line, '(')
	if open <= 0 || line[len(line)-1] != ')' {
		return nil, false
	}
	return &frame{Func: string(line[:open])}, true
}

// parseFile reads a file row into f: "\tpath/file.go:123 +0x45", or "\tpath/file.go:123"
// (no offset: a runtime frame, or a created-by row of old Go); the path may hold spaces.
func parseFile(line []byte, f *frame) bool {
	if len(line) < 2 || line[0] != '\t' {
		return false
	}
	line = line[1:]
	if off := bytes.LastIndex(line, offsetMark); off >= 0 {
		line = line[:off]
	}
	colon := bytes.LastIndexByte(line, ':')
	if colon < 0 {
		return false
	}
	n, err := strconv.Atoi(string(line[colon+1:]))
	if err != nil {
		return false
	}
	f.File, f.Line = string(line[:colon]), n
	return true
}

type result struct {
	Goroutines int `json:"goroutines"`
	Frames     int `json:"frames"`
	Skipped    int `json:"skipped_lines"`
}

func parse(sc *bufio.Scanner) ([]*goroutine, result) {
	var (
		all    []*goroutine
		g      *goroutine
		last   *frame
		res    result
		wantFn bool // the next line is a call (or "created by"), not a file line
	)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			g, last = nil, nil
		case g == nil:
			if bytes.HasPrefix(line, prefixGoroutine) {
				if h, ok := parseHeader(line[len(prefixGoroutine):]); ok {
					g, wantFn = h, true
					all = append(all, g)
					continue
				}
			}
			res.Skipped++
		case wantFn:
			if bytes.HasPrefix(line, prefixCreatedBy) {
				rest := line[len(prefixCreatedBy):]
				if i := bytes.Index(rest, inGoroutine); i >= 0 {
					g.Parent, _ = strconv.Atoi(string(rest[i+len(inGoroutine):]))
					rest = rest[:i]
				}
				last = &frame{Func: string(rest)}
				g.Creator, wantFn = last, false
			} else if f, ok := parseCall(line); ok {
				last, wantFn = f, false
				g.Frames = append(g.Frames, f)
				res.Frames++
			} else if !bytes.HasPrefix(line, elidedStart) || !bytes.HasSuffix(line, elidedEnd) {
				res.Skipped++
			}
		default:
			if last == nil || !parseFile(line, last) {
				res.Skipped++
			}
			wantFn = true
		}
	}
	res.Goroutines = len(all)
	return all, res
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: goparse DUMP")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	all, res := parse(sc)
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(res)
	// Held to the end, as a caller of a parse library holds its result.
	runtime.KeepAlive(all)
}

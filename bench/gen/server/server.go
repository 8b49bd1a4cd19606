// Package server starts the goroutines: five different functions with go
// statements, so the dumps carry a variety of "created by" lines and entry
// frames, optionally under pprof labels.
package server

import (
	"context"
	"runtime/pprof"

	"example.com/benchgen/api"
	"example.com/benchgen/chain"
)

type Listener struct{ conns int }
type Pool struct{ size int }
type Scheduler struct{ ticks int }
type Broker struct{ topics int }

var (
	listener  = &Listener{}
	pool      = &Pool{}
	scheduler = &Scheduler{}
	broker    = &Broker{}
)

// Spawn starts the goroutine for j from the creator the job names.
func Spawn(j *chain.Job) {
	switch j.Creator % 5 {
	case 0:
		listener.accept(j)
	case 1:
		pool.submit(j, j.ID%64)
	case 2:
		scheduler.schedule(j, int64(j.ID))
	case 3:
		broker.subscribe(j, j.Key)
	default:
		startWatcher(j)
	}
}

//go:noinline
func (l *Listener) accept(j *chain.Job) {
	l.conns++
	go l.serveConn(j, j.ID, j.Key)
}

//go:noinline
func (l *Listener) serveConn(j *chain.Job, id int, addr string) {
	j.Sink += id + len(addr)
	run(j)
}

//go:noinline
func (p *Pool) submit(j *chain.Job, slot int) {
	p.size++
	go p.worker(j, slot)
}

//go:noinline
func (p *Pool) worker(j *chain.Job, slot int) {
	j.Sink += slot
	run(j)
}

//go:noinline
func (s *Scheduler) schedule(j *chain.Job, at int64) {
	s.ticks++
	go s.runTask(j, at, j.Opts)
}

//go:noinline
func (s *Scheduler) runTask(j *chain.Job, at int64, o *chain.Opts) {
	j.Sink += int(at) + int(o.Flags)
	run(j)
}

//go:noinline
func (b *Broker) subscribe(j *chain.Job, topic string) {
	b.topics++
	go b.deliver(j, topic, j.Buf)
}

//go:noinline
func (b *Broker) deliver(j *chain.Job, topic string, msg []byte) {
	j.Sink += len(topic) + len(msg)
	run(j)
}

//go:noinline
func startWatcher(j *chain.Job) {
	go func() {
		j.Sink++
		run(j)
	}()
}

//go:noinline
func run(j *chain.Job) {
	switch j.LabelMode {
	case chain.LabelsDo:
		pprof.Do(context.Background(), pprof.Labels(j.Labels...), func(ctx context.Context) {
			api.Serve(j)
		})
	case chain.LabelsSet:
		pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels(j.Labels...)))
		api.Serve(j)
	default:
		api.Serve(j)
	}
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
)

// pipeline reads sources one at a time (cards are fastest read sequentially)
// and hands each file to a pool of finishers, so writing the next file
// overlaps flushing and reading back the previous ones.
type pipeline struct {
	ctx    context.Context
	cancel context.CancelFunc
	r      *runner
	pool   chan []byte
	jobs   chan *job
	wg     sync.WaitGroup
}

// chunk is one buffer of source bytes shared by every consumer of a file.
type chunk struct {
	buf  []byte
	refs atomic.Int32
	pool chan []byte
}

func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		c.pool <- c.buf[:cap(c.buf)]
	}
}

// consumer receives a file's chunks in order (a destination writer or the hasher).
type consumer struct {
	ch   chan *chunk
	done chan struct{}
	err  error
}

func newConsumer(fn func([]byte) error) *consumer {
	c := &consumer{ch: make(chan *chunk, 8), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ch := range c.ch {
			if c.err == nil {
				c.err = fn(ch.buf)
			}
			ch.release()
		}
	}()
	return c
}

type destWrite struct {
	d Dest
	w store.Writer
	c *consumer
}

type job struct {
	it          *item
	hasher      *digest.Hasher
	hc          *consumer
	writes      []*destWrite
	routeWrites []Dest // destinations to write
	strays      []Dest // destinations where a file already sits at the planned path
	have        []Dest // destinations that already hold a verified copy (known content)
	readErr     error
}

func newPipeline(ctx context.Context, r *runner, cancel context.CancelFunc) *pipeline {
	p := &pipeline{ctx: ctx, cancel: cancel, r: r,
		pool: make(chan []byte, r.o.Buffers), jobs: make(chan *job, r.o.Finishers)}
	for i := 0; i < r.o.Buffers; i++ {
		p.pool <- make([]byte, r.o.BufferSize)
	}
	for i := 0; i < r.o.Finishers; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.jobs {
				p.finish(j)
			}
		}()
	}
	return p
}

// wait lets every queued file finish.
func (p *pipeline) wait() {
	close(p.jobs)
	p.wg.Wait()
}

// feed reads one source file and queues it; false means the run must stop.
func (p *pipeline) feed(it *item) bool {
	if p.ctx.Err() != nil || p.r.fatalErr() != nil {
		return false
	}
	j := &job{it: it, hasher: digest.New()}
	if err := p.route(j); err != nil {
		p.r.setFatal(err)
		return false
	}
	f, err := os.Open(it.src)
	if err != nil {
		p.r.problem(Problem{File: it.display, Err: fmt.Sprintf("cannot read: %v", unwrapPath(err))})
		return true
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		p.r.problem(Problem{File: it.display, Err: fmt.Sprintf("cannot read: %v", unwrapPath(err))})
		return true
	}
	for _, d := range j.routeWrites {
		if p.r.isDead(d.Target.Name) {
			continue
		}
		w, err := d.Store.Create(p.ctx, it.path, it.size)
		if err != nil {
			p.destError(it, d, err)
			continue
		}
		dw := &destWrite{d: d, w: w}
		name := d.Target.Name
		dw.c = newConsumer(func(b []byte) error {
			n, err := w.Write(b)
			p.r.o.Sink.Emit(progress.Event{Kind: progress.Written, Dest: name, Bytes: int64(n)})
			return err
		})
		j.writes = append(j.writes, dw)
	}
	j.hc = newConsumer(func(b []byte) error { j.hasher.Write(b); return nil })
	j.readErr = p.stream(f, j)
	for _, dw := range j.writes {
		close(dw.c.ch)
	}
	close(j.hc.ch)
	if j.readErr == nil {
		after, err := os.Stat(it.src)
		switch {
		case err != nil:
			j.readErr = fmt.Errorf("source vanished while it was read: %v", unwrapPath(err))
		case after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) ||
			before.Size() != it.size || !before.ModTime().Equal(it.mtime):
			j.readErr = errors.New("the file changed while it was being read (still being written?): not copied; run ingest again once it is complete")
		}
	}
	select {
	case p.jobs <- j:
	case <-p.ctx.Done():
		p.abort(j)
		return false
	}
	return true
}

// stream reads f once, feeding the hasher and every writer.
func (p *pipeline) stream(f *os.File, j *job) error {
	var n int64
	for {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		var buf []byte
		select {
		case buf = <-p.pool:
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
		k, err := io.ReadFull(f, buf)
		if k > 0 {
			n += int64(k)
			c := &chunk{buf: buf[:k], pool: p.pool}
			c.refs.Store(int32(len(j.writes) + 1))
			j.hc.ch <- c
			for _, dw := range j.writes {
				dw.c.ch <- c
			}
		} else {
			p.pool <- buf
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if n != j.it.size {
				return fmt.Errorf("read %d bytes, expected %d: the file changed while it was being read", n, j.it.size)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read error after %d bytes: %v", n, unwrapPath(err))
		}
	}
}

// route decides, before reading, which destinations get written, which
// already hold this content, and where a file already sits at the path.
func (p *pipeline) route(j *job) error {
	it := j.it
	have := map[string]bool{}
	if it.hasHint {
		files, err := p.r.o.Catalog.FilesBySum(it.hint)
		if err != nil {
			return err
		}
		for _, f := range files {
			if f.Path != it.path {
				continue
			}
			cps, err := p.r.o.Catalog.Copies(f.ID)
			if err != nil {
				return err
			}
			for _, cp := range cps {
				if cp.Counts(f) {
					have[cp.TargetID] = true
				}
			}
		}
	}
	j.routeWrites = nil
	for _, d := range p.r.dests {
		if p.r.isDead(d.Target.Name) {
			continue
		}
		if have[d.Target.ID] {
			j.have = append(j.have, d)
			p.r.o.Sink.Emit(progress.Event{Kind: progress.Skipped, Dest: d.Target.Name, File: it.path, Bytes: it.size})
			continue
		}
		_, err := d.Store.Stat(p.ctx, it.path)
		switch {
		case err == nil:
			j.strays = append(j.strays, d)
		case errors.Is(err, store.ErrNotExist):
			j.routeWrites = append(j.routeWrites, d)
		default:
			p.destError(it, d, err)
		}
	}
	return nil
}

// destError reports a failure of one file on one destination, and stops the
// destination when it cannot take more.
func (p *pipeline) destError(it *item, d Dest, err error) {
	if p.stopping(err) {
		return
	}
	if isDestFatal(err) {
		p.r.kill(d.Target.Name, err)
		return
	}
	p.r.problem(Problem{File: it.display, Dest: d.Target.Name, Err: err.Error()})
}

// stopping reports whether err only says that the run is stopping
// (interrupted, or stopped by a fatal error reported on its own): such
// errors are not problems of a file or a destination.
func (p *pipeline) stopping(err error) bool {
	return p.ctx.Err() != nil && errors.Is(err, context.Canceled)
}

func (p *pipeline) abort(j *job) {
	for _, dw := range j.writes {
		<-dw.c.done
		dw.w.Abort()
	}
	<-j.hc.done
}

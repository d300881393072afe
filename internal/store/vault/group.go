package vault

import (
	"context"
	"fmt"
)

// Group commit: the index records of commits that arrive while an index
// write is in flight are written together, as one log object, by one of
// them (the leader). A first backup of many small files to a cloud
// service then pays one index PUT per batch rather than one per file.

// queued is one commit's index record waiting for its batch.
type queued struct {
	ctx  context.Context
	rec  record
	done chan groupResult // buffered (1): the leader never blocks on it
}

// groupResult is what a queued commit is told: its batch's outcome, or
// that it leads the next batch.
type groupResult struct {
	lead bool
	err  error
}

// commitRecord makes rec durable in the index and applies it, possibly
// in one log object with the records of concurrent commits, in the order
// they were queued. It returns nil only once the log object holding rec
// was stored and rec applied in memory; on an error, rec is not in the
// index (nor in any log object that was stored).
//
// The first caller that finds no batch in flight leads: it takes the
// whole queue, writes it (appendLog under ixMu, so no other index writer
// can come between its records), gives every member its result, and
// hands the lead to the first record queued meanwhile, if any, rather
// than writing that batch itself — so a commit's latency is at most two
// index writes, however busy the vault. Followers wait for their result
// even when their ctx is cancelled (the write is short and bounded by
// its own context); a member whose ctx is already done when its batch is
// taken is dropped from it with ctx's error. A batch is written under
// the context of its first member still live when the batch was taken:
// if that context is cancelled during the write, every commit of the
// batch fails and none is recorded (a retry is safe).
func (v *Vault) commitRecord(ctx context.Context, rec record) error {
	me := &queued{ctx: ctx, rec: rec, done: make(chan groupResult, 1)}
	v.qMu.Lock()
	v.queue = append(v.queue, me)
	if v.flushing {
		v.qMu.Unlock()
		if r := <-me.done; !r.lead {
			return r.err
		}
		// Handed the lead: me is queue[0] and the queue is untaken.
		v.qMu.Lock()
	} else {
		v.flushing = true
	}
	batch := v.queue
	v.queue = nil
	v.qMu.Unlock()

	var myErr error
	var live []*queued
	for _, q := range batch {
		if err := q.ctx.Err(); err != nil {
			q.done <- groupResult{err: err}
			continue
		}
		live = append(live, q)
	}
	if len(live) > 0 {
		recs := make([]record, len(live))
		for i, q := range live {
			recs[i] = q.rec
		}
		v.ixMu.Lock()
		err := v.appendLog(live[0].ctx, recs)
		v.ixMu.Unlock()
		if err != nil && len(live) > 1 {
			err = fmt.Errorf("%w (one index write for %d commits)", err, len(live))
		}
		for _, q := range live {
			q.done <- groupResult{err: err}
		}
	}
	myErr = (<-me.done).err

	v.qMu.Lock()
	if len(v.queue) > 0 {
		v.queue[0].done <- groupResult{lead: true}
	} else {
		v.flushing = false
	}
	v.qMu.Unlock()
	return myErr
}

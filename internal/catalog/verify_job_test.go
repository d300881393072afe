package catalog

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMarkServerChecked: the server check time is recorded for many copies
// at once (more than one statement batch), only on the given target, without
// touching verified_at or state; ServerCoverage counts good copies checked
// since a time.
func TestMarkServerChecked(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	then := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tg := range []Target{{ID: "t-v", Name: "vault", Kind: KindS3, CreatedAt: then}, {ID: "t-a", Name: "drive-a", Kind: KindFolder, CreatedAt: then}} {
		if err := c.AddTarget(tg); err != nil {
			t.Fatal(err)
		}
	}
	defer func(b int) { serverCheckBatch = b }(serverCheckBatch)
	serverCheckBatch = 4
	const n = 2*4 + 3 // three statements, the last one short
	var ids []int64
	for i := range n {
		p := fmt.Sprintf("2024/2024-06-01 Smith/IMG_%04d.CR3", i)
		id, err := c.RecordFile(ctx, File{Path: p, Project: "Smith", Sum: sum(p), Size: 1, AddedAt: then}, []Copy{
			{TargetID: "t-v", Path: p, State: CopyOK, VerifiedAt: then, WrittenAt: then},
			{TargetID: "t-a", Path: p, State: CopyOK, VerifiedAt: then, WrittenAt: then},
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := c.MarkServerChecked(ctx, "t-v", ids[1:], now); err != nil {
		t.Fatal(err)
	}
	if err := c.SetCopyState(ids[2], "t-v", CopyCorrupt, now, "changed on the server"); err != nil {
		t.Fatal(err)
	}
	got, total, err := c.ServerCoverage("t-v", now)
	if err != nil || got != n-2 || total != n {
		t.Errorf("ServerCoverage(vault) = %d of %d, %v; want %d of %d", got, total, err, n-2, n)
	}
	if got, _, _ := c.ServerCoverage("t-v", now.Add(time.Second)); got != 0 {
		t.Errorf("ServerCoverage after the check time = %d, want 0", got)
	}
	if got, _, _ := c.ServerCoverage("t-a", then); got != 0 {
		t.Errorf("ServerCoverage(drive-a) = %d, want 0 (another target)", got)
	}
	cps, err := c.Copies(ids[5])
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range cps {
		if !cp.VerifiedAt.Equal(then) || cp.State != CopyOK {
			t.Errorf("copy on %s: verified_at %v, state %s; a server check must not touch them", cp.TargetID, cp.VerifiedAt, cp.State)
		}
	}
	if err := c.MarkServerChecked(ctx, "t-v", nil, now); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

package catalog

import (
	"bufio"
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/bits"
	"os"
	"path/filepath"
	"strings"

	"github.com/trove-backup/trove/internal/digest"
)

// The backup index and its cache.
//
// A backup run needs, for every file of the catalog in path order, what
// IndexEntry holds and on which of its targets the file has a copy that
// counts. Reading that from SQLite costs about 1.3 µs a row in the pure-Go
// driver, more than walking the library; so the index is also kept in a
// compact file beside the catalog (<catalog>.backup-index) and a run with
// nothing to do streams that file instead of the rows.
//
// The cache is labelled with the catalog's generation token (migration
// 0004: a random token that triggers replace on every insert, update and
// delete of files and copies) and is used only while the catalog carries
// the same token, the same schema version, the six triggers, and the file
// passes its checksum (CRC-32C) and a full structural check, both made
// before any entry is handed out. A catalog put back from an older copy
// carries an older token, which no newer cache has.
//
// Layout (integers are unsigned LEB128 varints, "signed" ones zigzag):
//
//	magic "TROVEBIX", format, schema version, token (length + bytes),
//	file count, largest file ID, target count, target IDs (length + bytes);
//	per file, in byte order of paths: bytes shared with the previous path,
//	length and bytes of the rest, ID minus the previous ID (signed), the
//	32-byte SHA-256, library size (signed), library mtime minus the
//	previous one (signed), flags (1: deleted), the has bits (bit j: a copy
//	that counts on the j-th target of the header);
//	CRC-32C (Castagnoli) of everything before it, 4 bytes little-endian.

const (
	indexCacheSuffix = ".backup-index"
	indexCacheMagic  = "TROVEBIX"
	// indexCacheFormat is the version of the layout and of what it means:
	// bump it whenever what is cached changes (a column, what counts as
	// deleted, when a copy counts), so every older cache is refused.
	indexCacheFormat = 1
	// Limits that bound what a damaged header can make the reader allocate.
	maxCachedPath   = 1 << 16
	maxCachedToken  = 64
	maxCachedTarget = 1 << 10
	// maxIndexTargets is how many targets one index serves (one bit each).
	maxIndexTargets = 64
)

// generationTriggers are the triggers of migration 0004 that keep the
// generation token current. Without all of them the token proves nothing.
var generationTriggers = []string{
	"files_generation_insert", "files_generation_update", "files_generation_delete",
	"copies_generation_insert", "copies_generation_update", "copies_generation_delete",
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BackupEntry is one file of the backup index.
type BackupEntry struct {
	IndexEntry
	// Has: bit i is set when the file has a copy on the i-th of the
	// targets asked for that counts for it (Copy.Counts: state ok,
	// verified, holding the file's current content).
	Has uint64
}

// BackupIndexInfo says where ReadBackupIndex found the index.
type BackupIndexInfo struct {
	FromCache    bool // streamed from the cache file: no file or copy row was read
	CacheWritten bool // read from SQLite, and the cache file was (re)written from it
}

// ReadBackupIndex reads what a backup run needs of the catalog: first
// extent(count, maxID) once, with how many files the catalog has (deleted
// ones included) and their largest ID; then file(e) for every file, deleted
// ones included, in byte order of their paths (Go's string order), e.Has
// telling on which of targetIDs (at most 64; bit i for targetIDs[i]) the
// file has a copy that counts. Nothing is held whole in memory. The entry
// passed to file is reused: file must copy what it keeps. An error from
// extent or file stops the read and is returned as is.
//
// The index is served from the cache file beside the catalog when the
// cache is valid for the catalog's current contents and holds every
// target asked for; otherwise it is read from SQLite and, when no write to
// files or copies happened during the read, the cache is rewritten (a
// failure to write it, a read-only folder say, is ignored). Either way the
// callbacks see the same calls.
func (c *Catalog) ReadBackupIndex(ctx context.Context, targetIDs []string,
	extent func(count int, maxID int64) error, file func(*BackupEntry) error) (BackupIndexInfo, error) {
	if len(targetIDs) > maxIndexTargets {
		return BackupIndexInfo{}, fmt.Errorf("catalog: backup index: %d targets, at most %d", len(targetIDs), maxIndexTargets)
	}
	gen, err := c.readGeneration(ctx)
	if err != nil {
		return BackupIndexInfo{}, err
	}
	cachePath := c.indexCachePath()
	if cachePath == "" || !gen.ok {
		return BackupIndexInfo{}, c.readIndexSQL(ctx, targetIDs, extent, file, nil)
	}
	rd, err := openIndexCache(ctx, cachePath, gen, targetIDs)
	if err == nil {
		defer rd.close()
		return BackupIndexInfo{FromCache: true}, rd.serve(ctx, extent, file)
	}
	if ctx.Err() != nil {
		return BackupIndexInfo{}, ctx.Err()
	}
	if !errors.Is(err, os.ErrNotExist) {
		slog.Debug("catalog: backup index cache not used", "path", cachePath, "reason", err)
	}
	w := newIndexCacheWriter(cachePath, gen, targetIDs)
	defer w.abort()
	if err := c.readIndexSQL(ctx, targetIDs, extent, file, w); err != nil {
		return BackupIndexInfo{}, err
	}
	// Written only if nothing changed files or copies since gen was read:
	// then every row read belongs to the state the token names.
	after, err := c.readGeneration(ctx)
	switch {
	case err != nil:
		w.fail(err)
	case !after.ok || !bytes.Equal(after.token, gen.token) || after.schema != gen.schema:
		w.fail(errors.New("the catalog changed while it was read"))
	}
	if err := w.commit(); err != nil {
		slog.Debug("catalog: backup index cache not written", "path", cachePath, "err", err)
		return BackupIndexInfo{}, nil
	}
	return BackupIndexInfo{CacheWritten: true}, nil
}

// indexCachePath is where the cache of the catalog's backup index lives
// ("" for a catalog without a file of its own).
func (c *Catalog) indexCachePath() string {
	if c.path == "" || strings.Contains(c.path, ":memory:") {
		return ""
	}
	return c.path + indexCacheSuffix
}

// generation is what a cache must match: the token, the schema version,
// and whether the triggers that keep the token current exist (ok).
type generation struct {
	token  []byte
	schema uint64
	ok     bool
}

func (c *Catalog) readGeneration(ctx context.Context) (generation, error) {
	var g generation
	var triggers int
	var schema string
	args := make([]any, len(generationTriggers))
	for i, t := range generationTriggers {
		args[i] = t
	}
	err := c.db.QueryRowContext(ctx, `SELECT (SELECT token FROM generation WHERE id = 1),
		(SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('files', 'copies')
			AND name IN (?`+strings.Repeat(",?", len(generationTriggers)-1)+`)),
		(SELECT value FROM meta WHERE key = 'schema_version')`, args...).Scan(&g.token, &triggers, &schema)
	if err != nil {
		return g, fmt.Errorf("catalog: read the generation: %w", err)
	}
	if _, err := fmt.Sscan(schema, &g.schema); err != nil {
		return g, fmt.Errorf("catalog: read the generation: schema version %q", schema)
	}
	g.ok = len(g.token) > 0 && len(g.token) <= maxCachedToken && triggers == len(generationTriggers)
	return g, nil
}

// readIndexSQL reads the index from SQLite, handing each file to w too
// (when not nil).
func (c *Catalog) readIndexSQL(ctx context.Context, targetIDs []string,
	extent func(count int, maxID int64) error, file func(*BackupEntry) error, w *indexCacheWriter) error {
	count, maxID, err := c.FileExtent(ctx)
	if err != nil {
		return err
	}
	w.header(count, maxID)
	if err := extent(count, maxID); err != nil {
		return err
	}
	// One EXISTS per target, answered through the copies primary key, in
	// the same statement (so the same snapshot) as the file's sum.
	var q strings.Builder
	q.WriteString(`SELECT f.id, f.path, f.sha256, f.lib_size, f.lib_mtime_ns, f.deleted_at != '' OR f.released_at != ''`)
	args := make([]driver.NamedValue, len(targetIDs))
	for i, id := range targetIDs {
		fmt.Fprintf(&q, `, EXISTS(SELECT 1 FROM copies c WHERE c.file_id = f.id AND c.target_id = ?%d
			AND c.state = 'ok' AND c.verified_at != '' AND c.sha256 = f.sha256)`, i+1)
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: id}
	}
	q.WriteString(` FROM files f ORDER BY f.path`)
	var e BackupEntry
	var stop error // file's own error, returned as is
	err = c.rawRows(ctx, q.String(), args, func(row []driver.Value) error {
		if err := scanIndexRow(row, &e.IndexEntry); err != nil {
			return err
		}
		e.Has = 0
		for i, v := range row[6:] {
			if has, ok := v.(int64); !ok {
				return fmt.Errorf("file %d %q: unexpected column type %T", e.ID, e.Path, v)
			} else if has != 0 {
				e.Has |= 1 << i
			}
		}
		w.add(&e)
		stop = file(&e)
		return stop
	})
	if stop != nil {
		return stop
	}
	if err != nil {
		return fmt.Errorf("catalog: read the backup index: %w", err)
	}
	return nil
}

// scanIndexRow decodes a row of (id, path, sha256, lib_size, lib_mtime_ns,
// deleted) into e.
func scanIndexRow(row []driver.Value, e *IndexEntry) error {
	var ok [6]bool
	e.ID, ok[0] = row[0].(int64)
	e.Path, ok[1] = row[1].(string)
	sum, ok2 := row[2].(string)
	ok[2] = ok2 && len(sum) == 2*digest.Size
	e.LibSize, ok[3] = row[3].(int64)
	e.LibMtimeNs, ok[4] = row[4].(int64)
	var del int64
	del, ok[5] = row[5].(int64)
	if ok != [6]bool{true, true, true, true, true, true} {
		return fmt.Errorf("file %d %q: unexpected column types %T %T %T %T %T %T", e.ID, e.Path,
			row[0], row[1], row[2], row[3], row[4], row[5])
	}
	e.Deleted = del != 0
	if err := decodeSum(&e.Sum, sum); err != nil {
		return fmt.Errorf("file %s: %w", e.Path, err)
	}
	return nil
}

// indexCacheWriter encodes the index, as it is read, into a temporary file
// beside the cache, renamed over it by commit. Its first failure disables
// it; methods on a nil or failed writer do nothing.
type indexCacheWriter struct {
	path      string
	tmp       string
	gen       generation
	targetIDs []string
	f         *os.File
	w         *bufio.Writer
	crc       *crc32Writer
	err       error
	count, n  int
	prev      []byte
	prevID    int64
	prevMtime int64
	buf       []byte
}

func newIndexCacheWriter(path string, gen generation, targetIDs []string) *indexCacheWriter {
	return &indexCacheWriter{path: path, gen: gen, targetIDs: targetIDs}
}

func (w *indexCacheWriter) fail(err error) {
	if w != nil && w.err == nil {
		w.err = err
	}
}

// header creates the temporary file and writes the header.
func (w *indexCacheWriter) header(count int, maxID int64) {
	if w == nil || w.err != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(w.path), filepath.Base(w.path)+".tmp-*")
	if err != nil {
		w.fail(err)
		return
	}
	w.f, w.tmp = f, f.Name()
	w.crc = &crc32Writer{w: f}
	w.w = bufio.NewWriterSize(w.crc, 64<<10)
	w.count = count
	b := append(w.buf[:0], indexCacheMagic...)
	b = binary.AppendUvarint(b, indexCacheFormat)
	b = binary.AppendUvarint(b, w.gen.schema)
	b = binary.AppendUvarint(b, uint64(len(w.gen.token)))
	b = append(b, w.gen.token...)
	b = binary.AppendUvarint(b, uint64(count))
	b = binary.AppendUvarint(b, uint64(maxID))
	b = binary.AppendUvarint(b, uint64(len(w.targetIDs)))
	for _, id := range w.targetIDs {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	w.buf = b
	w.write(b)
}

func (w *indexCacheWriter) write(b []byte) {
	if _, err := w.w.Write(b); err != nil {
		w.fail(err)
	}
}

// add encodes one file.
func (w *indexCacheWriter) add(e *BackupEntry) {
	if w == nil || w.err != nil {
		return
	}
	if len(e.Path) == 0 || len(e.Path) > maxCachedPath || (w.n > 0 && e.Path <= string(w.prev)) {
		w.fail(fmt.Errorf("file %q: empty, too long or out of order", e.Path))
		return
	}
	shared := 0
	for shared < len(w.prev) && shared < len(e.Path) && w.prev[shared] == e.Path[shared] {
		shared++
	}
	b := binary.AppendUvarint(w.buf[:0], uint64(shared))
	b = binary.AppendUvarint(b, uint64(len(e.Path)-shared))
	b = append(b, e.Path[shared:]...)
	b = binary.AppendVarint(b, e.ID-w.prevID)
	b = append(b, e.Sum[:]...)
	b = binary.AppendVarint(b, e.LibSize)
	b = binary.AppendVarint(b, e.LibMtimeNs-w.prevMtime)
	var flags uint64
	if e.Deleted {
		flags |= 1
	}
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendUvarint(b, e.Has)
	w.buf = b
	w.write(b)
	w.prev = append(w.prev[:0], e.Path...)
	w.prevID, w.prevMtime = e.ID, e.LibMtimeNs
	w.n++
}

// commit finishes the file and renames it over the cache.
func (w *indexCacheWriter) commit() error {
	if w.err == nil && w.n != w.count {
		w.fail(fmt.Errorf("%d files read, %d counted", w.n, w.count))
	}
	if w.err == nil {
		if err := w.w.Flush(); err != nil {
			w.fail(err)
		}
	}
	if w.err == nil {
		var tail [4]byte
		binary.LittleEndian.PutUint32(tail[:], w.crc.sum)
		if _, err := w.f.Write(tail[:]); err != nil {
			w.fail(err)
		}
	}
	if w.err == nil {
		if err := w.f.Close(); err != nil {
			w.fail(err)
		}
		w.f = nil
		if err := os.Rename(w.tmp, w.path); err != nil {
			os.Remove(w.tmp)
			w.fail(err)
		}
	}
	return w.err
}

// abort removes the temporary file unless commit renamed it.
func (w *indexCacheWriter) abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.tmp)
		w.f = nil
	}
}

// crc32Writer passes writes on and keeps their CRC-32C.
type crc32Writer struct {
	w   io.Writer
	sum uint32
}

func (c *crc32Writer) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.sum = crc32.Update(c.sum, castagnoli, p[:n])
	return n, err
}

// indexCacheReader is an open cache file that passed its checks.
type indexCacheReader struct {
	f     *os.File
	size  int64
	br    *bufio.Reader
	hdr   indexHeader
	remap []uint64 // remap[j]: the requested bits for the header's target j; nil when the same
}

type indexHeader struct {
	schema, count, maxID uint64
	token                []byte
	targets              []string
}

// openIndexCache opens the cache at path and checks that it is meant for
// the catalog at gen and holds targetIDs, that its checksum matches and
// that it decodes entirely, without handing out anything. Any error means
// the cache must not be used.
func openIndexCache(ctx context.Context, path string, gen generation, targetIDs []string) (*indexCacheReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rd := &indexCacheReader{f: f}
	if err := rd.check(ctx, gen, targetIDs); err != nil {
		f.Close()
		return nil, err
	}
	return rd, nil
}

func (rd *indexCacheReader) close() { rd.f.Close() }

func (rd *indexCacheReader) check(ctx context.Context, gen generation, targetIDs []string) error {
	st, err := rd.f.Stat()
	if err != nil {
		return err
	}
	rd.size = st.Size()
	if rd.size < int64(len(indexCacheMagic))+4 {
		return errors.New("too short")
	}
	// A first look at the header, not yet checked: enough to refuse a cache
	// of another generation without reading all of it.
	rd.br = bufio.NewReaderSize(io.LimitReader(rd.f, rd.size-4), 64<<10)
	h, err := readIndexHeader(rd.br)
	if err != nil {
		return err
	}
	if h.schema != gen.schema || !bytes.Equal(h.token, gen.token) {
		return errors.New("built for another state of the catalog")
	}
	pos := make(map[string]int, len(h.targets))
	for j, id := range h.targets {
		pos[id] = j
	}
	remap := make([]uint64, len(h.targets))
	same := len(targetIDs) == len(h.targets)
	for i, id := range targetIDs {
		j, ok := pos[id]
		if !ok {
			return fmt.Errorf("holds no copies for target %s", id)
		}
		remap[j] |= 1 << i
		same = same && j == i
	}
	if !same {
		rd.remap = remap
	}
	// The whole file: checksum and structure, before anything is used.
	if _, err := rd.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	crc := &crc32Writer{w: io.Discard}
	rd.br.Reset(io.TeeReader(io.LimitReader(rd.f, rd.size-4), crc))
	if _, err := readIndexHeader(rd.br); err != nil {
		return err
	}
	d := indexDecoder{hdr: &h}
	var e BackupEntry
	for i := uint64(0); i < h.count; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := d.next(rd.br, &e, false); err != nil {
			return fmt.Errorf("file %d of %d: %w", i+1, h.count, err)
		}
	}
	if _, err := rd.br.ReadByte(); err != io.EOF {
		return fmt.Errorf("bytes after the last file (%v)", err)
	}
	var tail [4]byte
	if _, err := rd.f.ReadAt(tail[:], rd.size-4); err != nil {
		return err
	}
	if binary.LittleEndian.Uint32(tail[:]) != crc.sum {
		return errors.New("checksum mismatch: damaged")
	}
	rd.hdr = h
	return nil
}

// serve hands out the checked cache's contents.
func (rd *indexCacheReader) serve(ctx context.Context, extent func(count int, maxID int64) error, file func(*BackupEntry) error) error {
	fail := func(err error) error {
		return fmt.Errorf("catalog: read the backup index cache %s: %w", rd.f.Name(), err)
	}
	if _, err := rd.f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	rd.br.Reset(io.LimitReader(rd.f, rd.size-4))
	if _, err := readIndexHeader(rd.br); err != nil {
		return fail(err)
	}
	if err := extent(int(rd.hdr.count), int64(rd.hdr.maxID)); err != nil {
		return err
	}
	d := indexDecoder{hdr: &rd.hdr, remap: rd.remap}
	var e BackupEntry
	for i := uint64(0); i < rd.hdr.count; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := d.next(rd.br, &e, true); err != nil {
			// The file changed in place since it was checked.
			return fail(err)
		}
		if err := file(&e); err != nil {
			return err
		}
	}
	return nil
}

func readIndexHeader(br *bufio.Reader) (indexHeader, error) {
	var h indexHeader
	var magic [len(indexCacheMagic)]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil {
		return h, err
	}
	if string(magic[:]) != indexCacheMagic {
		return h, errors.New("not a backup index cache")
	}
	format, err := binary.ReadUvarint(br)
	if err != nil {
		return h, err
	}
	if format != indexCacheFormat {
		return h, fmt.Errorf("format %d, this trove writes %d", format, indexCacheFormat)
	}
	if h.schema, err = binary.ReadUvarint(br); err != nil {
		return h, err
	}
	if h.token, err = readBytes(br, maxCachedToken); err != nil {
		return h, err
	}
	if h.count, err = binary.ReadUvarint(br); err != nil {
		return h, err
	}
	if h.maxID, err = binary.ReadUvarint(br); err != nil {
		return h, err
	}
	if h.count > 1<<40 || h.maxID > 1<<62 {
		return h, errors.New("damaged header")
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return h, err
	}
	if n > maxIndexTargets {
		return h, fmt.Errorf("%d targets", n)
	}
	for range n {
		id, err := readBytes(br, maxCachedTarget)
		if err != nil {
			return h, err
		}
		h.targets = append(h.targets, string(id))
	}
	return h, nil
}

// readBytes reads a length and that many bytes (at most limit).
func readBytes(br *bufio.Reader, limit uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("length %d over %d", n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, err
	}
	return b, nil
}

// indexDecoder decodes the files of a cache, checking each.
type indexDecoder struct {
	hdr   *indexHeader
	remap []uint64
	path  []byte
	n     uint64
	id    int64
	mtime int64
}

// next decodes the next file into e (its Path only when deliver).
func (d *indexDecoder) next(br *bufio.Reader, e *BackupEntry, deliver bool) error {
	shared, err := binary.ReadUvarint(br)
	if err != nil {
		return err
	}
	rest, err := binary.ReadUvarint(br)
	if err != nil {
		return err
	}
	if shared > uint64(len(d.path)) || rest == 0 || shared+rest > maxCachedPath || (d.n == 0 && shared != 0) {
		return errors.New("damaged path")
	}
	// Paths come strictly increasing: past the shared bytes, the new path
	// is longer than the old (which it extends) or has a greater byte.
	old := len(d.path)
	oldByte := -1
	if int(shared) < old {
		oldByte = int(d.path[shared])
	}
	if need := int(shared + rest); need <= cap(d.path) {
		d.path = d.path[:need]
	} else {
		p := make([]byte, need, max(need, 2*cap(d.path)))
		copy(p, d.path[:shared])
		d.path = p
	}
	if _, err := io.ReadFull(br, d.path[shared:]); err != nil {
		return err
	}
	if int(d.path[shared]) <= oldByte {
		return errors.New("paths out of order")
	}
	delta, err := binary.ReadVarint(br)
	if err != nil {
		return err
	}
	d.id += delta
	if d.id <= 0 || d.id > int64(d.hdr.maxID) {
		return fmt.Errorf("file ID %d out of range", d.id)
	}
	if _, err := io.ReadFull(br, e.Sum[:]); err != nil {
		return err
	}
	if e.LibSize, err = binary.ReadVarint(br); err != nil {
		return err
	}
	if e.LibSize < -1 {
		return errors.New("damaged size")
	}
	if delta, err = binary.ReadVarint(br); err != nil {
		return err
	}
	d.mtime += delta
	flags, err := binary.ReadUvarint(br)
	if err != nil {
		return err
	}
	has, err := binary.ReadUvarint(br)
	if err != nil {
		return err
	}
	if flags > 1 || (len(d.hdr.targets) < 64 && has>>len(d.hdr.targets) != 0) {
		return errors.New("damaged flags")
	}
	d.n++
	if !deliver {
		return nil
	}
	e.ID, e.LibMtimeNs, e.Deleted = d.id, d.mtime, flags&1 != 0
	e.Path = string(d.path)
	if d.remap != nil {
		var out uint64
		for h := has; h != 0; h &= h - 1 {
			out |= d.remap[bits.TrailingZeros64(h)]
		}
		has = out
	}
	e.Has = has
	return nil
}

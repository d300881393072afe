-- Trove catalog, schema version 1.
-- Times are RFC 3339 UTC text with nanoseconds; hashes are lower-case hex SHA-256.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every place that holds copies, including the library itself (kind 'library').
CREATE TABLE targets (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,
    path           TEXT NOT NULL,
    medium         TEXT NOT NULL,
    location       TEXT NOT NULL,
    ingest         INTEGER NOT NULL DEFAULT 0,
    device         TEXT NOT NULL DEFAULT '',
    fs_type        TEXT NOT NULL DEFAULT '',
    caps           TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL DEFAULT '',
    last_write_at  TEXT NOT NULL DEFAULT '',
    last_verify_at TEXT NOT NULL DEFAULT ''
);

-- One row per file in the library tree (its path is its handle); content is sha256.
CREATE TABLE files (
    id            INTEGER PRIMARY KEY,
    path          TEXT NOT NULL UNIQUE,
    path_fold     TEXT NOT NULL,
    project       TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    captured_at   TEXT NOT NULL,
    date_source   TEXT NOT NULL,
    camera        TEXT NOT NULL DEFAULT '',
    original_name TEXT NOT NULL,
    source        TEXT NOT NULL DEFAULT '',
    added_at      TEXT NOT NULL,
    run_id        INTEGER
);
CREATE INDEX files_sha256 ON files(sha256);
CREATE INDEX files_project ON files(project);
CREATE INDEX files_path_fold ON files(path_fold);

-- One row per copy of a file on a target. A copy counts only with state 'ok'
-- and a verified_at from a read-back that matched.
CREATE TABLE copies (
    file_id     INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    target_id   TEXT NOT NULL REFERENCES targets(id),
    path        TEXT NOT NULL,
    state       TEXT NOT NULL,
    verified_at TEXT NOT NULL DEFAULT '',
    written_at  TEXT NOT NULL,
    PRIMARY KEY (file_id, target_id)
);
CREATE INDEX copies_target ON copies(target_id);

-- Source fingerprints (name, size, mtime) seen by ingest: only a hint that a
-- card file is probably known, confirmed by hashing.
CREATE TABLE sources (
    fingerprint TEXT PRIMARY KEY,
    sha256      TEXT NOT NULL
);

CREATE TABLE runs (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    args       TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    ended_at   TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL DEFAULT 'running',
    summary    TEXT NOT NULL DEFAULT ''
);

CREATE TABLE problems (
    run_id  INTEGER NOT NULL REFERENCES runs(id),
    path    TEXT NOT NULL,
    target  TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL
);

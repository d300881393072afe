-- Schema version 2: what backup, verify and repair need.

-- The library file's size and mtime when its content was last hashed: a fast
-- "unchanged?" hint for backup, never an identity.
ALTER TABLE files ADD COLUMN lib_size INTEGER NOT NULL DEFAULT -1;
ALTER TABLE files ADD COLUMN lib_mtime_ns INTEGER NOT NULL DEFAULT 0;
-- Set when the file was removed from the library on purpose; its copies stay
-- on the targets (moved to their versions area) until retention says otherwise.
ALTER TABLE files ADD COLUMN deleted_at TEXT NOT NULL DEFAULT '';

-- The content a copy holds. A copy counts for its file only while this equals
-- files.sha256 (a file edited in the library leaves stale copies until backup).
ALTER TABLE copies ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
UPDATE copies SET sha256 = (SELECT sha256 FROM files WHERE files.id = copies.file_id);
-- Last time verify found a problem with this copy, and what it was.
ALTER TABLE copies ADD COLUMN problem TEXT NOT NULL DEFAULT '';

-- Old versions kept on targets: replaced or deleted library files, and
-- corrupt copies set aside by repair. Nothing here is ever counted as a copy.
CREATE TABLE versions (
    id         INTEGER PRIMARY KEY,
    file_id    INTEGER NOT NULL REFERENCES files(id),
    target_id  TEXT NOT NULL REFERENCES targets(id),
    path       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX versions_target ON versions(target_id);
CREATE INDEX versions_file ON versions(file_id);

-- The hash of the manifest Trove last wrote on a folder target, to detect a
-- manifest edited by hand.
ALTER TABLE targets ADD COLUMN manifest_sha256 TEXT NOT NULL DEFAULT '';

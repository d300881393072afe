-- Schema version 3: off-site targets and the life of a shoot.

-- Where a non-folder target lives: s3://BUCKET/PREFIX, sftp://USER@HOST:PORT/PATH,
-- rclone:REMOTE:PATH ('' for folder targets, whose place is targets.path), and its
-- connection options as JSON (endpoint, region, allow_http, passphrase_file,
-- key_file, known_hosts...). Never secrets.
ALTER TABLE targets ADD COLUMN url TEXT NOT NULL DEFAULT '';
ALTER TABLE targets ADD COLUMN options TEXT NOT NULL DEFAULT '';
-- When the target was last carried to another location (trove target move).
ALTER TABLE targets ADD COLUMN moved_at TEXT NOT NULL DEFAULT '';

-- A project archived to long-term targets and released from the library.
CREATE TABLE archives (
    project     TEXT NOT NULL,
    target_id   TEXT NOT NULL REFERENCES targets(id),
    archived_at TEXT NOT NULL,
    PRIMARY KEY (project, target_id)
);
-- Set when the library copy was released after a verified archive.
ALTER TABLE files ADD COLUMN released_at TEXT NOT NULL DEFAULT '';

-- Scheduler state per target and job (backup, verify, scrub): survives restarts.
CREATE TABLE schedule_state (
    target_id TEXT NOT NULL,
    job       TEXT NOT NULL,
    last_run  TEXT NOT NULL DEFAULT '',
    last_ok   TEXT NOT NULL DEFAULT '',
    failures  INTEGER NOT NULL DEFAULT 0,
    next_try  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (target_id, job)
);

-- Alerts already sent, so a project that stays at risk is reported once per change.
CREATE TABLE alerts_sent (
    key     TEXT PRIMARY KEY,
    sent_at TEXT NOT NULL
);

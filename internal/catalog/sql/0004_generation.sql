-- Schema version 4: a generation token for caches of the catalog's contents.

-- One row: a random token that changes with every write to files or copies
-- (the triggers below), so a cache labelled with a token is known to match
-- the rows it was built from (internal/catalog/indexcache.go). Random, not a
-- counter: a catalog restored from an older snapshot can never come back to
-- a token a newer cache knows.
--
-- A later migration that recreates files or copies (the drop-and-copy way of
-- altering a table) drops these triggers with the table and must create them
-- again; the cache is not used while any of them is missing.
CREATE TABLE generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    token BLOB NOT NULL
);
INSERT INTO generation(id, token) VALUES(1, randomblob(16));

CREATE TRIGGER files_generation_insert AFTER INSERT ON files
BEGIN UPDATE generation SET token = randomblob(16) WHERE id = 1; END;
CREATE TRIGGER files_generation_update AFTER UPDATE ON files
BEGIN UPDATE generation SET token = randomblob(16) WHERE id = 1; END;
CREATE TRIGGER files_generation_delete AFTER DELETE ON files
BEGIN UPDATE generation SET token = randomblob(16) WHERE id = 1; END;
CREATE TRIGGER copies_generation_insert AFTER INSERT ON copies
BEGIN UPDATE generation SET token = randomblob(16) WHERE id = 1; END;
-- Updates of copies fire only when what the backup index reads changes:
-- which file and target, the state, the content, and whether the copy was
-- ever verified. A verify that finds a copy still good (a new verified_at),
-- a server check (server_checked_at), a problem text or a stored path leave
-- the cache valid. A column the index starts to read must be added here.
CREATE TRIGGER copies_generation_update AFTER UPDATE ON copies
WHEN OLD.file_id IS NOT NEW.file_id OR OLD.target_id IS NOT NEW.target_id
  OR OLD.state IS NOT NEW.state OR OLD.sha256 IS NOT NEW.sha256
  OR (OLD.verified_at = '') IS NOT (NEW.verified_at = '')
BEGIN UPDATE generation SET token = randomblob(16) WHERE id = 1; END;
CREATE TRIGGER copies_generation_delete AFTER DELETE ON copies
BEGIN UPDATE generation SET token = randomblob(16) WHERE id = 1; END;

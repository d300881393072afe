-- Schema version 5: server-side checks of copies.

-- When verify last compared a copy with the service's own checksum of it
-- (an S3 ETag, an rclone remote's hash) and found it unchanged: no download,
-- so verified_at (a re-read of the bytes) is left alone. '' = never.
ALTER TABLE copies ADD COLUMN server_checked_at TEXT NOT NULL DEFAULT '';

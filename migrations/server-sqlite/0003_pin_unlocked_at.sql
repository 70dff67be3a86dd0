-- Hub sync server, SQLite schema v3: when a sign-in with password last unlocked a staff
-- member's PIN (R-STAFF-3). Tablets report PIN attempts late (offline for a day); one made
-- before this moment does not count. Instant as in the tablet tables (`…T09:00:00.000000Z`);
-- NULL: no sign-in since the PIN was set (or since before this column), every attempt counts.
-- Applied after 0002 by `migrate` in sync-server/src/store/sqlite/mod.rs.
ALTER TABLE staff_pins ADD COLUMN unlocked_at TEXT;

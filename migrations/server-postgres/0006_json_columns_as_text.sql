-- Hub sync server, PostgreSQL schema v6: an entity's data and a mutation's outcome are
-- stored as `text`, as in migrations/server-sqlite (SQLite has no JSON type). Applied after
-- 0005 by `migrate` in sync-server/src/store/postgres/mod.rs.
--
-- Only the server writes these columns, always JSON it serialised itself from typed values,
-- and it reads them back as text. As `json` every row written was parsed once more by the
-- database (`json_in`) for nothing: in the tablet rush the database took about a tenth more
-- CPU a push, and tablet marks were 13-20 % slower (docs/benchmarks.md, "Optimizations").
-- PostgreSQL rewrites both tables for this, under an exclusive lock: on a large database
-- the upgrade takes minutes with writes waiting (docs/operations.md, "Upgrades"). Someone
-- querying by hand writes `data::json ->> 'field'`.
ALTER TABLE entities ALTER COLUMN data TYPE text;
ALTER TABLE mutations ALTER COLUMN result TYPE text;

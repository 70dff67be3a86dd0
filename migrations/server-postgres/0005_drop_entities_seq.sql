-- Hub sync server, PostgreSQL schema v5: no separate index on `entities.seq`, as
-- migrations/server-sqlite/0004. Applied after 0004 by `migrate` in
-- sync-server/src/store/postgres/mod.rs.
--
-- Every query that reads by sequence number names the scope too and uses
-- `entities_scope_seq`. The unique index only stood guard over numbers that the writer
-- holding the write lock hands out itself (`meta.seq`, see `PgTx::next_seq`), and every
-- entity write added an entry to it (an update moves the row's sequence number, so none
-- is a heap-only update).
DROP INDEX IF EXISTS entities_seq;

-- Hub sync server, SQLite schema v4: no separate index on `entities.seq`.
-- Applied after 0003 by `migrate` in sync-server/src/store/sqlite/mod.rs.
--
-- Every query that reads by sequence number names the scope too and uses
-- `entities_scope_seq`. The unique index only stood guard over numbers that the single
-- writer hands out itself (`meta.seq`, see `SqliteTx::next_seq`), and every entity write
-- moved an entry in it: a seventh of the writer thread in the tablet rush.
DROP INDEX IF EXISTS entities_seq;

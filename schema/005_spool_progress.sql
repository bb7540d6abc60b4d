-- How far the database has taken a run's events (issue 6). The writer
-- numbers every event of a run (1, 2, ...) and keeps it in its local spool
-- until the database has it whole. Each batch's transaction moves
-- written_seq to its last event; each transaction that adds the held
-- rollups moves rolled_seq. A batch whose last event is not above
-- written_seq was committed already (an acknowledgement lost with the
-- connection, or a spool replayed after a crash): the writer rolls it back
-- instead of adding its rollups a second time. Rollups of events in
-- (rolled_seq, written_seq] were held in memory when the process died: the
-- replay counts them and nothing else of those events.
ALTER TABLE prober_runs
    ADD COLUMN written_seq bigint NOT NULL DEFAULT 0,
    ADD COLUMN rolled_seq bigint NOT NULL DEFAULT 0;

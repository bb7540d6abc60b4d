-- Spans are extended in place by every writer batch. The index on ended_at
-- made each extension a new index entry (no HOT update), so the index grew
-- with every batch; the primary key (target_id, started_at, prober_id)
-- serves the window queries as well, since a target has few spans. Leave
-- room in each page for a row's next version so updates stay on the page.
DROP INDEX IF EXISTS spans_target_end_idx;
ALTER TABLE spans SET (fillfactor = 50);

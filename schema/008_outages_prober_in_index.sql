-- Several vantage points (issue 14): the window reads of outages now give
-- the prober of each (which location saw it), so that the figures combine
-- the locations' verdicts. prober_id rides along in outages_target_end_idx
-- as started_at and ended_at do, so that the status page's and the
-- groups' reads stay index-only scans.
DROP INDEX IF EXISTS outages_target_end_idx;
CREATE INDEX outages_target_end_idx ON outages
    (target_id, (coalesce(ended_at, 'infinity'::timestamptz)))
    INCLUDE (started_at, ended_at, prober_id);

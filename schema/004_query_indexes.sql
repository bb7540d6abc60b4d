-- Indexes for the read side (issue 6): the API's window queries over
-- outages.
--
-- Every uptime, outage list, reliability, group and status reply asks for
-- the outages of a target that overlap a window [from, to):
--     started_at < to AND (ended_at IS NULL OR ended_at > from).
-- The key (target_id, started_at, prober_id) answers the first half only,
-- so a window walked every outage of the target since its history began
-- (a year of a flapping target: hundreds of rows for a day's window) and
-- fetched each row from the heap to test the second half. The windows asked
-- for are mostly recent (the last 30 or 90 days, up to now). This index is
-- ordered by where an outage ends, an ongoing one counting as ending at
-- infinity, so that the walk starts at the window's beginning; started_at
-- and ended_at ride along so that the times come from the index alone
-- (index-only scans, the heap only for the cause text).
--
-- Outages are written rarely (an opening, a closing), so a second index
-- costs the writer little. The reads spell the condition the same way:
--     coalesce(ended_at, 'infinity') > from AND started_at < to.
CREATE INDEX outages_target_end_idx ON outages
    (target_id, (coalesce(ended_at, 'infinity'::timestamptz)))
    INCLUDE (started_at, ended_at);

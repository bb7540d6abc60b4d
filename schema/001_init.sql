-- Empiric's first schema: targets, probers and their runs, outages, coverage
-- spans, hourly rollups and the failing results that are the evidence.
-- Applied by `empiric migrate` inside one transaction; no BEGIN/COMMIT here.
-- All times are timestamptz (microsecond resolution); the C side speaks
-- bigint microseconds since the Unix epoch through emp_ts() and emp_us().

-- bigint microseconds since 1970-01-01 UTC -> timestamptz, exactly: both
-- products below are exact in float8 (whole seconds, then < 1e6 us).
CREATE FUNCTION emp_ts(us bigint) RETURNS timestamptz
LANGUAGE sql STABLE STRICT PARALLEL SAFE
RETURN 'epoch'::timestamptz + (us / 1000000) * interval '1 second'
                            + (us % 1000000) * interval '1 microsecond';

-- timestamptz -> bigint microseconds, exactly (extract returns numeric).
CREATE FUNCTION emp_us(ts timestamptz) RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE
RETURN (extract(epoch FROM ts) * 1000000)::bigint;

-- Element-wise sum of two latency histograms (a NULL side counts as zeros).
CREATE FUNCTION emp_hist_add(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN a IS NULL THEN b
    WHEN b IS NULL THEN a
    ELSE ARRAY(SELECT coalesce(x, 0) + coalesce(y, 0)
               FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i) ORDER BY i)
END;

CREATE AGGREGATE emp_hist_sum(bigint[]) (SFUNC = emp_hist_add, STYPE = bigint[]);

CREATE TABLE targets (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    kind              text NOT NULL,
    grp               text NOT NULL DEFAULT '',
    spec              jsonb NOT NULL DEFAULT '{}',
    interval_ms       int NOT NULL,
    timeout_ms        int NOT NULL,
    fail_threshold    int NOT NULL,
    recover_threshold int NOT NULL,
    degraded_ms       int NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX targets_grp_idx ON targets (grp);

CREATE TABLE probers (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    location   text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per prober process lifetime; heartbeats move last_beat_at.
CREATE TABLE prober_runs (
    id           bigserial PRIMARY KEY,
    prober_id    bigint NOT NULL REFERENCES probers (id) ON DELETE CASCADE,
    started_at   timestamptz NOT NULL,
    last_beat_at timestamptz NOT NULL,
    stopped_at   timestamptz,
    pid          int,
    hostname     text
);
CREATE INDEX prober_runs_prober_idx ON prober_runs (prober_id, started_at);

CREATE TABLE outages (
    id         bigserial PRIMARY KEY,
    target_id  bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    prober_id  bigint NOT NULL REFERENCES probers (id) ON DELETE CASCADE,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz,
    err_class  text NOT NULL DEFAULT '',
    message    text NOT NULL DEFAULT '',
    -- Column order serves "outages of a target by time"; as a constraint it
    -- is the set (target_id, prober_id, started_at) that ON CONFLICT names.
    UNIQUE (target_id, started_at, prober_id),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
-- At most one ongoing outage per target and prober.
CREATE UNIQUE INDEX outages_open_idx ON outages (target_id, prober_id)
    WHERE ended_at IS NULL;
CREATE INDEX outages_prober_open_idx ON outages (prober_id) WHERE ended_at IS NULL;

-- Failing probe results, the evidence. Successes are only counted (rollups).
CREATE TABLE failures (
    target_id  bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    prober_id  bigint NOT NULL REFERENCES probers (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL,
    latency_us bigint NOT NULL,
    err_class  text NOT NULL DEFAULT '',
    message    text NOT NULL DEFAULT '',
    PRIMARY KEY (target_id, at, prober_id) -- by target and time; unique per prober
);

-- Continuous observation: probes at most grace_ms apart from started_at to
-- ended_at. Time outside every span is unknown.
CREATE TABLE spans (
    target_id  bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    prober_id  bigint NOT NULL REFERENCES probers (id) ON DELETE CASCADE,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz NOT NULL,
    grace_ms   int NOT NULL,
    PRIMARY KEY (target_id, started_at, prober_id),
    CHECK (ended_at >= started_at)
);
CREATE INDEX spans_target_end_idx ON spans (target_id, ended_at);

-- Per target, prober and hour: counts, latency sum/max (ok and degraded
-- probes) and a histogram over the bounds of emp_hist_bounds_ms (db.c).
CREATE TABLE rollups (
    target_id      bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    prober_id      bigint NOT NULL REFERENCES probers (id) ON DELETE CASCADE,
    hour           timestamptz NOT NULL,
    ok             bigint NOT NULL DEFAULT 0,
    degraded       bigint NOT NULL DEFAULT 0,
    fail           bigint NOT NULL DEFAULT 0,
    latency_sum_us bigint NOT NULL DEFAULT 0,
    latency_max_us bigint NOT NULL DEFAULT 0,
    hist           bigint[] NOT NULL,
    PRIMARY KEY (target_id, hour, prober_id),
    CHECK (cardinality(hist) = 14)
);

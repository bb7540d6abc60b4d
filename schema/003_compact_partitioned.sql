-- Storage per target-year (issue 5): hourly rollup rows cost ~300 bytes each
-- (8,760 a year, 2.7 MB with the key index), and the writer rewrote the
-- current hour's row twice a second. Now:
--   rollups_recent  the current day's hours, one row per target, prober and
--                   hour, added to as the writer flushes (about once a
--                   minute); small and constant in size, vacuumed as it goes;
--   rollups         one row per target, prober and UTC day with the day's 24
--                   hours in arrays, compressed in line (~700 bytes a day,
--                   ~270 KB a year), written once when the day is over
--                   (emp_rollups_compact moves the finished days).
-- The tables that grow with time, rollups and failures, become partitioned
-- by month so that retention is a DROP of a partition; a DEFAULT partition
-- takes what arrives before its month's partition exists, so no write ever
-- fails for want of one. rollup_hours shows both rollup tables hour by hour.

-- Element-wise sums and maxima of equally long arrays of integers (a NULL
-- side counts as zeros): how new counts add to a row's. Polymorphic, so
-- one definition serves int[] and bigint[].
CREATE FUNCTION emp_arr_add(a anyarray, b anyarray) RETURNS anyarray
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN a IS NULL THEN b
    WHEN b IS NULL THEN a
    ELSE ARRAY(SELECT coalesce(x, 0) + coalesce(y, 0)
               FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i) ORDER BY i)
END
$$;

CREATE FUNCTION emp_arr_max(a anyarray, b anyarray) RETURNS anyarray
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN a IS NULL THEN b
    WHEN b IS NULL THEN a
    ELSE ARRAY(SELECT greatest(coalesce(x, 0), coalesce(y, 0))
               FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i) ORDER BY i)
END
$$;

-- The hourly table carries on as the recent hours, in int rather than
-- bigint (an hour holds at most 36,000 probes).
ALTER TABLE rollups RENAME TO rollups_recent;
ALTER INDEX rollups_pkey RENAME TO rollups_recent_pkey;
ALTER TABLE rollups_recent
    ALTER ok TYPE int, ALTER degraded TYPE int, ALTER fail TYPE int,
    ALTER latency_max_us TYPE int USING least(latency_max_us, 2147483647),
    ALTER hist TYPE int[];
-- Each row is updated about once a minute through its hour: room on its
-- page for the next version keeps the updates HOT (no index churn).
ALTER TABLE rollups_recent SET (fillfactor = 50);
ALTER TABLE failures RENAME TO failures_old;
ALTER INDEX failures_pkey RENAME TO failures_old_pkey;

-- Per target, prober and UTC day: for hour h (1..24, 1 = 00:00-01:00 UTC)
-- ok[h], degraded[h], fail[h] probes, latency_sum_us[h] and
-- latency_max_us[h] over ok and degraded probes, and their latency
-- histogram in hist[(h - 1) * 14 + 1 : h * 14] over the bounds of
-- emp_hist_bounds_ms (db_write.c). Read hour by hour through rollup_hours.
CREATE TABLE rollups (
    target_id      bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    prober_id      bigint NOT NULL REFERENCES probers (id) ON DELETE CASCADE,
    day            date NOT NULL,
    ok             int[] NOT NULL,
    degraded       int[] NOT NULL,
    fail           int[] NOT NULL,
    latency_sum_us bigint[] NOT NULL,
    latency_max_us int[] NOT NULL,
    hist           int[] NOT NULL,
    PRIMARY KEY (target_id, day, prober_id),
    CHECK (cardinality(ok) = 24 AND cardinality(degraded) = 24 AND cardinality(fail) = 24
           AND cardinality(latency_sum_us) = 24 AND cardinality(latency_max_us) = 24
           AND cardinality(hist) = 24 * 14)
) PARTITION BY RANGE (day);

CREATE TABLE failures (
    target_id  bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    prober_id  bigint NOT NULL REFERENCES probers (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL,
    latency_us bigint NOT NULL,
    err_class  text NOT NULL DEFAULT '',
    -- NULL: the same as the previous failure's of this target and prober
    -- in the same UTC month (the writer stores a repeated message once).
    message    text,
    PRIMARY KEY (target_id, at, prober_id)
) PARTITION BY RANGE (at);

-- A day's row is about 2 KB before compression: compress it in line
-- (STORAGE MAIN, toast_tuple_target) rather than move it to TOAST, where
-- each chunk costs a row of its own. Partitions inherit the storage mode;
-- the target is a property of each partition (emp_ensure_partitions).
ALTER TABLE rollups ALTER ok SET STORAGE MAIN, ALTER degraded SET STORAGE MAIN,
    ALTER fail SET STORAGE MAIN, ALTER latency_sum_us SET STORAGE MAIN,
    ALTER latency_max_us SET STORAGE MAIN, ALTER hist SET STORAGE MAIN;

CREATE TABLE rollups_default PARTITION OF rollups DEFAULT WITH (toast_tuple_target = 128);
CREATE TABLE failures_default PARTITION OF failures DEFAULT;

-- The months' partitions covering [lo, hi] (UTC months), created where
-- missing; rows that reached a DEFAULT partition in such a month move into
-- the new partition. Returns how many partitions were created. Callers:
-- `empiric migrate`, the writer (daily, for the coming weeks), anything
-- writing history.
CREATE FUNCTION emp_ensure_partitions(lo timestamptz, hi timestamptz) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    m     date := date_trunc('month', lo AT TIME ZONE 'UTC')::date;
    last  date := date_trunc('month', hi AT TIME ZONE 'UTC')::date;
    made  int := 0;
    spec  record;
    part  text;
    b_lo  text;
    b_hi  text;
BEGIN
    IF lo IS NULL OR hi IS NULL OR hi < lo THEN
        RETURN 0;
    END IF;
    IF last - m > 366 * 30 THEN
        RAISE EXCEPTION 'emp_ensure_partitions: range % .. % spans more than 30 years', lo, hi;
    END IF;
    -- One creator at a time (the writer, migrate and an import may meet).
    PERFORM pg_advisory_xact_lock(hashtext('emp_ensure_partitions'));
    WHILE m <= last LOOP
        FOR spec IN SELECT * FROM (VALUES ('rollups', 'day', 'date', ' WITH (toast_tuple_target = 128)'),
                                          ('failures', 'at', 'timestamptz', '')) AS s(tbl, col, typ, opts)
        LOOP
            part := format('%s_%s', spec.tbl, to_char(m, 'YYYY_MM'));
            CONTINUE WHEN to_regclass(part) IS NOT NULL;
            IF spec.typ = 'date' THEN
                b_lo := quote_literal(m::text);
                b_hi := quote_literal((m + interval '1 month')::date::text);
            ELSE
                b_lo := quote_literal((m::timestamp AT TIME ZONE 'UTC')::text);
                b_hi := quote_literal(((m + interval '1 month')::timestamp AT TIME ZONE 'UTC')::text);
            END IF;
            EXECUTE format('CREATE TEMP TABLE emp_moving ON COMMIT DROP AS'
                           ' SELECT * FROM %I WHERE %I >= %s::%s AND %I < %s::%s',
                           spec.tbl || '_default', spec.col, b_lo, spec.typ, spec.col, b_hi, spec.typ);
            EXECUTE format('DELETE FROM %I WHERE %I >= %s::%s AND %I < %s::%s',
                           spec.tbl || '_default', spec.col, b_lo, spec.typ, spec.col, b_hi, spec.typ);
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%s) TO (%s)%s',
                           part, spec.tbl, b_lo, b_hi, spec.opts);
            EXECUTE format('INSERT INTO %I SELECT * FROM emp_moving', spec.tbl);
            DROP TABLE emp_moving;
            made := made + 1;
        END LOOP;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN made;
END;
$$;

-- The finished days of rollups_recent (hours before the UTC day of
-- `before`; of one prober, or of all when p_prober is NULL) move into their
-- day rows, added to what a day row already holds (hours that came late).
-- Returns the number of day rows written.
CREATE FUNCTION emp_rollups_compact(p_prober bigint, before timestamptz) RETURNS bigint
LANGUAGE sql AS $$
WITH moved AS (
    DELETE FROM rollups_recent
    WHERE (p_prober IS NULL OR prober_id = p_prober)
      AND hour < date_trunc('day', before AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    RETURNING *
), cells AS (
    SELECT k.target_id, k.prober_id, k.day, g, m.ok, m.degraded, m.fail,
           m.latency_sum_us, m.latency_max_us, m.hist
    FROM (SELECT DISTINCT target_id, prober_id, (hour AT TIME ZONE 'UTC')::date AS day
          FROM moved) AS k
    CROSS JOIN generate_series(0, 23) AS g
    LEFT JOIN moved AS m
           ON m.target_id = k.target_id AND m.prober_id = k.prober_id
          AND m.hour = (k.day + make_interval(hours => g))::timestamp AT TIME ZONE 'UTC'
), written AS (
    INSERT INTO rollups AS r (target_id, prober_id, day, ok, degraded, fail,
                              latency_sum_us, latency_max_us, hist)
    SELECT target_id, prober_id, day,
           array_agg(coalesce(ok, 0) ORDER BY g), array_agg(coalesce(degraded, 0) ORDER BY g),
           array_agg(coalesce(fail, 0) ORDER BY g),
           array_agg(coalesce(latency_sum_us, 0) ORDER BY g),
           array_agg(coalesce(latency_max_us, 0) ORDER BY g),
           -- 24 rows of 14 aggregate to a 24 x 14 array; unnest reads it row-major.
           ARRAY(SELECT unnest(array_agg(coalesce(hist, array_fill(0, ARRAY[14])) ORDER BY g)))
    FROM cells
    GROUP BY target_id, prober_id, day
    ON CONFLICT (target_id, day, prober_id) DO UPDATE SET
        ok = emp_arr_add(r.ok, EXCLUDED.ok), degraded = emp_arr_add(r.degraded, EXCLUDED.degraded),
        fail = emp_arr_add(r.fail, EXCLUDED.fail),
        latency_sum_us = emp_arr_add(r.latency_sum_us, EXCLUDED.latency_sum_us),
        latency_max_us = emp_arr_max(r.latency_max_us, EXCLUDED.latency_max_us),
        hist = emp_arr_add(r.hist, EXCLUDED.hist)
    RETURNING 1
)
SELECT count(*) FROM written;
$$;

-- Move what exists: the old hours' days get their partitions and rows.
SELECT emp_ensure_partitions(
    least((SELECT min(hour) FROM rollups_recent), (SELECT min(at) FROM failures_old)),
    greatest((SELECT max(hour) FROM rollups_recent), (SELECT max(at) FROM failures_old)));
SELECT emp_rollups_compact(NULL, now());

INSERT INTO failures SELECT target_id, prober_id, at, latency_us, err_class, message
FROM failures_old;

DROP TABLE failures_old;

-- The coming months, so that live writes find their partitions.
SELECT emp_ensure_partitions(now() - interval '1 day', now() + interval '2 months');

-- Rollups hour by hour, as an hourly table would have them (hours without
-- probes left out; an hour that came late after its day was compacted can
-- appear twice: sum by hour). Filter on day as well as hour: day reaches
-- the day table's key and partitions.
CREATE VIEW rollup_hours AS
SELECT r.target_id, r.prober_id, r.day,
       (r.day + make_interval(hours => g - 1))::timestamp AT TIME ZONE 'UTC' AS hour,
       r.ok[g] AS ok, r.degraded[g] AS degraded, r.fail[g] AS fail,
       r.latency_sum_us[g] AS latency_sum_us, r.latency_max_us[g] AS latency_max_us,
       r.hist[(g - 1) * 14 + 1 : g * 14] AS hist
FROM rollups AS r, generate_series(1, 24) AS g
WHERE r.ok[g] + r.degraded[g] + r.fail[g] > 0
UNION ALL
SELECT target_id, prober_id, (hour AT TIME ZONE 'UTC')::date, hour, ok, degraded, fail,
       latency_sum_us, latency_max_us, hist
FROM rollups_recent;

-- Bytes on disk of a table with its indexes, TOAST and partitions.
CREATE FUNCTION emp_relation_bytes(rel regclass) RETURNS bigint
LANGUAGE sql STABLE
RETURN CASE WHEN (SELECT relkind FROM pg_class WHERE oid = rel) = 'p'
            THEN (SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::bigint
                  FROM pg_partition_tree(rel))
            ELSE pg_total_relation_size(rel) END;

/* The store: every SQL statement of Empiric lives in store/ (and schema/),
 * one file per concern, each section below naming its file; store/dbi.h
 * holds what they share. Only store/ and the postgres probe include
 * libpq-fe.h. A struct emp_db is one connection, used by one thread at a
 * time. */
#ifndef EMP_DB_H
#define EMP_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "core/model.h"

struct emp_db;

/* ---- connections (conn.c) ------------------------------------------ */

/* Connect with a libpq connection string ("" = the PG* environment). Returns
 * EMP_OK and a new handle (free with emp_db_close) or EMP_EDB. */
enum emp_err emp_db_connect(const char *conninfo, struct emp_db **out,
                            struct emp_error *err);
/* Client-side limits of a connection. PostgreSQL's statement_timeout
 * cannot fire when the server is frozen; the call deadline does: a call
 * (connecting included) without its answer this long after it began is
 * cancelled and fails with EMP_EDB, and the connection is dropped
 * (emp_db_ok false from then on). */
struct emp_db_limits {
    int call_ms;              /* 0: wait for ever (libpq's blocking calls) */
    int statement_timeout_ms; /* the server's statement_timeout; 0: its own */
    /* Run about every 100 ms on the waiting thread while a call (or the
     * connection itself) waits for the server; returning false gives the
     * call up as if its deadline had passed. NULL: nothing. */
    bool (*waiting)(void *arg);
    void *waiting_arg;
};
/* emp_db_connect with limits (NULL: none). */
enum emp_err emp_db_connect_limited(const char *conninfo, const struct emp_db_limits *lim,
                                    struct emp_db **out, struct emp_error *err);
/* No call on `db` answered later than `until_mono_us` (emp_mono_us time;
 * 0: no such bound), besides the call deadline. */
void emp_db_set_until(struct emp_db *db, int64_t until_mono_us);
/* Close; accepts NULL. */
void emp_db_close(struct emp_db *db);
/* False when the connection is broken or was dropped after a missed
 * deadline (the caller should reconnect). A connection the server closed
 * while it sat idle is made again by the next call. */
bool emp_db_ok(struct emp_db *db);

/* ---- migrations (migrate.c) ---------------------------------------- */

/* Apply schema/NNN_*.sql from `schema_dir` in order, each once and each in
 * its own transaction, recorded in schema_migrations. Safe to run twice, and
 * twice at once (an advisory lock serialises runners). `*applied` (may be
 * NULL) gets how many were applied now. */
enum emp_err emp_db_migrate(struct emp_db *db, const char *schema_dir,
                            int *applied, struct emp_error *err);

/* ---- targets (targets.c) ------------------------------------------- */

/* Insert or update the configured targets; ids[i] receives targets.id of
 * cfg->targets[i]. */
enum emp_err emp_db_sync_targets(struct emp_db *db, const struct emp_config *cfg,
                                 int64_t *ids, struct emp_error *err);

/* ---- targets made through the API (targets.c) -----------------------
 * Such a target's definition is kept whole in targets.api_definition (the
 * store is their source of truth: serve loads them at start); NULL there
 * means a configured target, imported history, or one the API removed
 * (its history stays). emp_db_sync_targets clears it: a target the
 * configuration file defines belongs to the file. */

/* Store `t` as a target made through the API with `definition` (its JSON
 * text). With `create_only`, EMP_EEXIST when a target of that name is
 * already live through the API (any other row of that name, such as
 * history, is taken over). `*id` gets targets.id; `*created` whether it
 * was not live through the API before. */
enum emp_err emp_db_api_target_put(struct emp_db *db, const struct emp_target_config *t,
                                   const char *definition, bool create_only, int64_t *id,
                                   bool *created, struct emp_error *err);
/* Stop `name` being a target made through the API (its history stays):
 * EMP_ENOTFOUND when it is not one. `*id` gets targets.id. */
enum emp_err emp_db_api_target_remove(struct emp_db *db, const char *name, int64_t *id,
                                      struct emp_error *err);
struct emp_api_target {
    int64_t id;
    char name[EMP_NAME_MAX + 1];
    char *definition; /* JSON text, owned; NULL when not made through the API */
};
/* Every target live through the API, by name. `*out` is a new array;
 * free it with emp_db_api_targets_free. */
enum emp_err emp_db_api_targets(struct emp_db *db, struct emp_api_target **out, size_t *n,
                                struct emp_error *err);
void emp_db_api_targets_free(struct emp_api_target *t, size_t n);
/* The target called `name` as the store knows it, with its API definition
 * (`*definition` a new string, or NULL); EMP_ENOTFOUND when none. */
struct emp_target_row;
enum emp_err emp_db_api_target_get(struct emp_db *db, const char *name,
                                   struct emp_target_row *row, char **definition,
                                   struct emp_error *err);

/* How many changes the targets made through the API have seen: a counter
 * moved in the transaction of each one (schema 007), by any process
 * sharing the database. Reading one row, it tells a prober cheaply whether
 * to read them again. */
enum emp_err emp_db_api_target_changes(struct emp_db *db, int64_t *changes,
                                       struct emp_error *err);

/* targets.id of the target called `name`, or EMP_ENOTFOUND. */
enum emp_err emp_db_find_target(struct emp_db *db, const char *name, int64_t *id,
                                struct emp_error *err);

/* ---- the API's bearer tokens (tokens.c) -----------------------------
 * Only each token's SHA-256 is stored. */
#define EMP_TOKEN_HASH_BYTES 32
struct emp_token_row {
    int64_t id;
    char name[EMP_NAME_MAX + 1];
    unsigned char hash[EMP_TOKEN_HASH_BYTES];
    int64_t created_at_us;
    int64_t last_used_at_us; /* 0: never */
};
/* Store a token's hash under `name`: EMP_EEXIST when the name is taken. */
enum emp_err emp_db_token_create(struct emp_db *db, const char *name,
                                 const unsigned char hash[EMP_TOKEN_HASH_BYTES],
                                 struct emp_error *err);
/* Every token, by name (`*out` a new array, free()). */
enum emp_err emp_db_token_list(struct emp_db *db, struct emp_token_row **out, size_t *n,
                               struct emp_error *err);
/* Delete the token `name`: EMP_ENOTFOUND when there is none. */
enum emp_err emp_db_token_revoke(struct emp_db *db, const char *name, struct emp_error *err);
/* Note that token `id` was just used. */
enum emp_err emp_db_token_touch(struct emp_db *db, int64_t id, struct emp_error *err);

/* ---- probers and runs (runs.c) ------------------------------------- */

/* Probers and their runs. A run is one process lifetime; its heartbeats
 * (last_beat_at) bound the time it was alive. */
enum emp_err emp_db_prober_register(struct emp_db *db, const char *name,
                                    const char *location, int64_t *prober_id,
                                    struct emp_error *err);
enum emp_err emp_db_run_start(struct emp_db *db, int64_t prober_id,
                              int64_t now_us, int64_t *run_id,
                              struct emp_error *err);
enum emp_err emp_db_heartbeat(struct emp_db *db, int64_t run_id, int64_t now_us,
                              struct emp_error *err);
enum emp_err emp_db_run_stop(struct emp_db *db, int64_t run_id, int64_t now_us,
                             struct emp_error *err);

/* Runs of a prober overlapping [from, to), oldest first. `*out` is a new
 * array (free()). */
enum emp_err emp_db_list_runs(struct emp_db *db, int64_t prober_id,
                              int64_t from_us, int64_t to_us,
                              struct emp_run **out, size_t *n,
                              struct emp_error *err);

/* A prober and its latest run (run.run_id 0: it never ran; stopped_at_us 0:
 * running, or died without stopping). */
struct emp_prober_row {
    int64_t prober_id;
    char name[EMP_NAME_MAX + 1];
    char location[EMP_NAME_MAX + 1]; /* "" for none */
    struct emp_run run;
};
/* Every prober the store knows, by name, each with its latest run. `*out`
 * is a new array (free()). */
enum emp_err emp_db_list_probers(struct emp_db *db, struct emp_prober_row **out, size_t *n,
                                 struct emp_error *err);

/* Outages left open by earlier runs of this prober, for the detector to
 * continue. `*out` is a new array (free()). */
enum emp_err emp_db_open_outages(struct emp_db *db, int64_t prober_id,
                                 struct emp_outage **out, size_t *n,
                                 struct emp_error *err);

/* ---- a target's history over a window (history.c) ------------------ */

/* Which location each prober is in (probers.location; "" for none). */
#define EMP_LOCATION_MAX 128
struct emp_prober_location {
    int64_t prober_id;
    char location[EMP_LOCATION_MAX + 1];
};
enum emp_err emp_db_prober_locations(struct emp_db *db, struct emp_prober_location **out,
                                     size_t *n, struct emp_error *err);

/* Outages of a target overlapping [from, to), newest first, each with the
 * prober that saw it. */
enum emp_err emp_db_list_outages(struct emp_db *db, int64_t target_id,
                                 int64_t from_us, int64_t to_us,
                                 struct emp_outage **out, size_t *n,
                                 struct emp_error *err);

/* Spans of a target overlapping [from, to), oldest first, each with the
 * prober that observed. */
enum emp_err emp_db_list_spans(struct emp_db *db, int64_t target_id,
                               int64_t from_us, int64_t to_us,
                               struct emp_span **out, size_t *n,
                               struct emp_error *err);

/* The target's rollups summed over probers: one per hour overlapping
 * [from, to), oldest first. */
enum emp_err emp_db_list_rollups(struct emp_db *db, int64_t target_id,
                                 int64_t from_us, int64_t to_us,
                                 struct emp_rollup **out, size_t *n,
                                 struct emp_error *err);

/* Raw failing probe results (the evidence) with at in [from, to), oldest
 * first, over all probers of the target (as are outages and spans). */
enum emp_err emp_db_list_failures(struct emp_db *db, int64_t target_id,
                                  int64_t from_us, int64_t to_us,
                                  struct emp_failure **out, size_t *n,
                                  struct emp_error *err);
/* The same rows with only target_id and at_us filled (latency, class and
 * message left empty): for readers that need the times alone. */
enum emp_err emp_db_list_failure_times(struct emp_db *db, int64_t target_id,
                                       int64_t from_us, int64_t to_us,
                                       struct emp_failure **out, size_t *n,
                                       struct emp_error *err);

/* ---- batched writes of the probe loop's events (write.c) ----------- */

/* What the writer carries from batch to batch: the coverage span each
 * target is in, and the rollups counted but not yet written. Rollups are
 * written at least every EMP_ROLLUP_FLUSH_MS of result time and as soon as
 * an hour is complete (0: with every batch), and by emp_db_flush_rollups;
 * holding them saves rewriting a day's row twice a second. */
#define EMP_ROLLUP_FLUSH_MS 60000
struct emp_write_state;
struct emp_write_state *emp_write_state_new(void);
void emp_write_state_set_rollup_flush(struct emp_write_state *st, int64_t flush_ms);
/* Events of run `run_id` are numbered (emp_event.seq): each batch moves the
 * run's written_seq (and rolled_seq when it writes the rollups) in its own
 * transaction, and a batch or flush already committed is rolled back
 * instead of counted twice. 0 (the default): no numbers, no guard. */
void emp_write_state_set_run(struct emp_write_state *st, int64_t run_id);
/* Count the results of `events` into the held rollups and nothing else:
 * for events whose failures, spans and outages the database has already
 * (a replay after a crash). False when out of memory (nothing counted). */
bool emp_write_state_count(struct emp_write_state *st, const struct emp_event *events);
size_t emp_write_state_pending_rollups(const struct emp_write_state *st);
void emp_write_state_free(struct emp_write_state *st);

/* Write a batch of events from the probe loop in one transaction: failures,
 * coverage spans (extended or started through `st`), outage openings and
 * closings, and rollups when due (else counted into `st`). Failures, spans
 * and outages are idempotent: replaying a batch changes nothing. Rollups
 * are additive, so a batch replayed after an ambiguous failure (connection
 * lost during COMMIT) is counted twice there. On error nothing of the batch
 * is kept and `st` is unchanged (it only advances on success). EMP_EINVAL
 * means PostgreSQL rejected the data itself (e.g. an unknown target_id):
 * the same batch will fail again, write its events one by one to isolate
 * the bad one. Other errors (EMP_EDB, EMP_ENOMEM): retry the same batch
 * later. */
enum emp_err emp_db_write_batch(struct emp_db *db, int64_t prober_id,
                                struct emp_write_state *st,
                                const struct emp_event *events,
                                struct emp_error *err);

/* How far the database has taken run `run_id`'s numbered events. */
enum emp_err emp_db_run_progress(struct emp_db *db, int64_t run_id, uint64_t *written,
                                 uint64_t *rolled, struct emp_error *err);

/* Create the monthly partitions of rollups and failures covering
 * [from, to] where missing (rows that arrived before them, in the DEFAULT
 * partitions, move in). */
enum emp_err emp_db_ensure_partitions(struct emp_db *db, int64_t from_us, int64_t to_us,
                                      struct emp_error *err);

/* Write the rollups held in `st` now (at stop, or to read them back). On
 * error they stay held. */
enum emp_err emp_db_flush_rollups(struct emp_db *db, int64_t prober_id,
                                  struct emp_write_state *st, struct emp_error *err);

/* ---- targets and groups as the store knows them (groups.c) ---------- */

/* Every target in the store (configured or imported), by name. */
enum emp_err emp_db_list_targets(struct emp_db *db, struct emp_target_row **out,
                                 size_t *n, struct emp_error *err);
/* At most `limit` of them whose names sort after `after` ("" : from the
 * first), by name in the database's collation: one index range scan, so
 * that a page costs its own size, not the number of targets. */
enum emp_err emp_db_list_targets_page(struct emp_db *db, const char *after, long limit,
                                      struct emp_target_row **out, size_t *n,
                                      struct emp_error *err);
/* The target called `name` (EMP_ENOTFOUND when none). */
enum emp_err emp_db_get_target(struct emp_db *db, const char *name,
                               struct emp_target_row *out, struct emp_error *err);

/* Groups (targets sharing a non-empty group), by name. */
enum emp_err emp_db_list_groups(struct emp_db *db, struct emp_group_row **out,
                                size_t *n, struct emp_error *err);
/* Members of `group`, by id (EMP_ENOTFOUND when the group has none). */
enum emp_err emp_db_group_targets(struct emp_db *db, const char *group,
                                  struct emp_target_row **out, size_t *n,
                                  struct emp_error *err);
/* Outages of every member of `group` overlapping [from, to), ordered by
 * target_id (within a target, by end: the statistics and the timeline take
 * outages in any order): times only, fetched in binary (100,000 in a few
 * tens of ms). */
enum emp_err emp_db_group_outage_times(struct emp_db *db, const char *group,
                                       int64_t from_us, int64_t to_us,
                                       struct emp_outage_time **out, size_t *n,
                                       struct emp_error *err);
/* Coverage spans of every member, ordered by target_id then start
 * (target_id filled). */
enum emp_err emp_db_group_spans(struct emp_db *db, const char *group, int64_t from_us,
                                int64_t to_us, struct emp_span **out, size_t *n,
                                struct emp_error *err);

/* ---- the API threads' pool (conn.c) -------------------------------- */

/* A small pool of connections for the API threads. Their statements are
 * cut off after EMP_DB_POOL_STATEMENT_TIMEOUT_MS (PostgreSQL's
 * statement_timeout), and a call without an answer after
 * EMP_DB_POOL_CALL_MS (a frozen server) is abandoned: a request meets a
 * slow, locked or frozen database with an error, never an endless wait. */
#define EMP_DB_POOL_STATEMENT_TIMEOUT_MS 5000
#define EMP_DB_POOL_CALL_MS 6000
struct emp_db_pool;
enum emp_err emp_db_pool_new(const char *conninfo, size_t size,
                             struct emp_db_pool **out, struct emp_error *err);
/* For connections made from now on (0: no limit). */
void emp_db_pool_set_statement_timeout(struct emp_db_pool *pool, int timeout_ms);
void emp_db_pool_set_call_ms(struct emp_db_pool *pool, int call_ms);
void emp_db_pool_free(struct emp_db_pool *pool);
/* Borrow a connection (connecting when needed); give it back with _put. */
enum emp_err emp_db_pool_get(struct emp_db_pool *pool, struct emp_db **db,
                             struct emp_error *err);
/* The same, with every call on it (connecting included) answered by
 * `until_mono_us` (emp_mono_us time; 0: only the call deadline). */
enum emp_err emp_db_pool_get_until(struct emp_db_pool *pool, int64_t until_mono_us,
                                   struct emp_db **db, struct emp_error *err);
void emp_db_pool_put(struct emp_db_pool *pool, struct emp_db *db);

#endif

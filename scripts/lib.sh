# Shared set-up for scripts/run and scripts/test: install what is missing,
# build, and start a private PostgreSQL under .empiric/pg unless EMPIRIC_DB
# names a database. Sourced, not run.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_VERSION=15
PG_BIN=/usr/lib/postgresql/$PG_VERSION/bin
PG_PORT=${EMPIRIC_PGPORT:-55432}
PG_DIR=$ROOT/.empiric/pg
PG_STARTED=0

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages Empiric needs to build, test and run.
PACKAGES=(build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev
          libcurl4-openssl-dev libpq-dev libcmocka-dev libisal-dev libssl-dev postgresql-$PG_VERSION
          postgresql-client-$PG_VERSION python3 curl ca-certificates xz-utils tzdata chromium prometheus
          valgrind iproute2)

# Only for scripts/bench: the comparison targets and load tools.
BENCH_PACKAGES=(nginx-light prometheus-blackbox-exporter wrk stress-ng)

# Only for fuzzing (scripts/test, scripts/bench fuzz): clang, and libFuzzer's
# runtime, which Debian ships apart (libclang-rt-dev; clang only recommends it).
FUZZ_PACKAGES=(clang libclang-rt-dev)

# ensure_packages [PACKAGE...]: install what is missing of PACKAGES (or of
# the packages named). Daemons that Debian starts on install are not wanted
# here: policy-rc.d forbids starting them while apt runs.
ensure_packages() {
    local missing=() p
    [ $# -gt 0 ] || set -- "${PACKAGES[@]}"
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (run as root, or install them)"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
    fi
    apt-get install -y -q --no-install-recommends "${missing[@]}" || {
        [ $own_policy = 1 ] && rm -f "$policy"; die "apt-get install failed"; }
    [ $own_policy = 1 ] && rm -f "$policy"
    return 0
}

# build DIR [cmake options...]
build() {
    local dir=$1; shift
    say "building in ${dir#$ROOT/}"
    cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMPIRIC_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "$(nproc)"
}

pg_ctl_as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" "$@"
    else
        "$PG_BIN/pg_ctl" "$@"
    fi
}

# PostgreSQL refuses to run as root; its files belong to the postgres user,
# who must be able to reach the project folder.
prepare_pg_dir() {
    mkdir -p "$PG_DIR"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$PG_DIR"
        local d=$PG_DIR
        while [ "$d" != / ]; do
            d=$(dirname "$d")
            if ! runuser -u postgres -- test -x "$d"; then
                say "letting the postgres user traverse $d (chmod o+x)"
                chmod o+x "$d"
            fi
        done
    fi
}

start_pg() {
    if [ -n "${EMPIRIC_DB:-}" ]; then
        say "using the database in EMPIRIC_DB"
        return 0
    fi
    prepare_pg_dir
    if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
        say "creating a PostgreSQL $PG_VERSION cluster in ${PG_DIR#$ROOT/}"
        if [ "$(id -u)" -eq 0 ]; then
            runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres \
                --auth=trust -E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 \
                || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
        else
            "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 \
                --no-locale >"$PG_DIR/initdb.log" 2>&1 || die "initdb failed"
        fi
    fi
    if pg_ctl_as_postgres -D "$PG_DIR/data" status >/dev/null 2>&1; then
        say "PostgreSQL already running in ${PG_DIR#$ROOT/}"
    else
        say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        pg_ctl_as_postgres -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=200 -c fsync=off" \
            start >/dev/null || { tail -n 20 "$PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
        PG_STARTED=1
    fi
    local admin="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
    if ! psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = 'empiric'" | grep -q 1; then
        psql "$admin" -qc "CREATE DATABASE empiric" >/dev/null
    fi
    export EMPIRIC_DB="host=127.0.0.1 port=$PG_PORT user=postgres dbname=empiric"
    export EMPIRIC_TEST_DB=${EMPIRIC_TEST_DB:-$admin}
}

stop_pg() {
    if [ "$PG_STARTED" = 1 ]; then
        pg_ctl_as_postgres -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
        PG_STARTED=0
    fi
}

# ---- fuzzing (tests/fuzz) ---------------------------------------------------

FUZZ_DIR=$ROOT/build-fuzz

# fuzz_seconds DEFAULT: EMPIRIC_FUZZ_SECONDS, else DEFAULT; whole seconds.
fuzz_seconds() {
    local s=${EMPIRIC_FUZZ_SECONDS:-$1}
    [[ $s =~ ^[0-9]+$ ]] || die "EMPIRIC_FUZZ_SECONDS: expected whole seconds, got \"$s\""
    echo "$s"
}

# The harnesses: tests/fuzz/fuzz_NAME.c.
fuzz_names() {
    (cd "$ROOT/tests/fuzz" && ls fuzz_*.c) | sed 's/^fuzz_//; s/\.c$//'
}

# fuzz_build: the libFuzzer targets in build-fuzz (clang, ASan + UBSan).
fuzz_build() {
    say "building the fuzz targets in ${FUZZ_DIR#$ROOT/} (clang)"
    cmake -S "$ROOT" -B "$FUZZ_DIR" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DEMPIRIC_WERROR=ON -DEMPIRIC_FUZZ=ON -DEMPIRIC_TESTS=OFF -DEMPIRIC_BENCH=OFF >/dev/null
    cmake --build "$FUZZ_DIR" --target fuzz_all -j "$(nproc)"
}

# fuzz_one NAME SECONDS: run one harness (with tests/fuzz/NAME.dict and the
# flags in tests/fuzz/NAME.options where there are), its log in
# build-fuzz/fuzz-NAME.log, its exit status in build-fuzz/fuzz-NAME.rc. New
# inputs go to build-fuzz/corpus/NAME (kept between runs), a crashing one
# to build-fuzz/crashes/NAME/; seeds and regression inputs are only read.
fuzz_one() {
    local name=$1 secs=$2 rc=0
    local seeds=("$ROOT/tests/fuzz/corpus/$name") opts=()
    [ -d "$ROOT/tests/fuzz/regressions/$name" ] && seeds+=("$ROOT/tests/fuzz/regressions/$name")
    [ -f "$ROOT/tests/fuzz/$name.dict" ] && opts+=("-dict=$ROOT/tests/fuzz/$name.dict")
    [ -f "$ROOT/tests/fuzz/$name.options" ] &&
        opts+=($(grep -v '^#' "$ROOT/tests/fuzz/$name.options"))
    mkdir -p "$FUZZ_DIR/corpus/$name" "$FUZZ_DIR/crashes/$name"
    "$FUZZ_DIR/fuzz_$name" "$FUZZ_DIR/corpus/$name" "${seeds[@]}" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$FUZZ_DIR/crashes/$name/" "${opts[@]}" \
        >"$FUZZ_DIR/fuzz-$name.log" 2>&1 || rc=$?
    echo "$rc" >"$FUZZ_DIR/fuzz-$name.rc"
}

# fuzz_run SECONDS: every harness for SECONDS, as many at once as there are
# cores; one line each (executions, coverage). Returns 1 when any crashed
# or failed an invariant, after showing why. FUZZ_BENCH gets the figures as
# key=value pairs.
fuzz_run() {
    local secs=$1 name status=0 running=0
    local names=($(fuzz_names))
    FUZZ_BENCH=""
    # In batches of one per core: every run takes the same time.
    for name in "${names[@]}"; do
        rm -f "$FUZZ_DIR/fuzz-$name.rc"
        fuzz_one "$name" "$secs" &
        running=$((running + 1))
        if [ "$running" -ge "$(nproc)" ]; then
            wait
            running=0
        fi
    done
    wait
    for name in "${names[@]}"; do
        local log=$FUZZ_DIR/fuzz-$name.log rc execs rate last cov ft corp
        rc=$(cat "$FUZZ_DIR/fuzz-$name.rc" 2>/dev/null || echo 1)
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        last=$(grep -a -E '^#[0-9]+.* cov: ' "$log" | tail -n 1)
        cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
        ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
        corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
        if [ "$rc" = 0 ]; then
            printf 'fuzz %-7s %10s execs (%s/s) in %s s, coverage %s edges, %s features, corpus %s, no crash\n' \
                "$name" "${execs:-?}" "${rate:-?}" "$secs" "${cov:-?}" "${ft:-?}" "${corp:-?}"
        else
            status=1
            printf 'fuzz %-7s FAILED (exit %s); log %s\n' "$name" "$rc" "${log#$ROOT/}"
            grep -a -E 'ERROR: |invariant failed|runtime error|^no reply|^could not|^unexpected|^not JSON|Test unit written' \
                "$log" | head -n 8 | cut -c 1-300 | sed 's/^/    /'
            printf '    keep the input as tests/fuzz/regressions/%s/WHAT-IT-IS once fixed\n' "$name"
        fi
        FUZZ_BENCH+=" ${name}_execs=${execs:-0} ${name}_per_s=${rate:-0} ${name}_cov=${cov:-0} ${name}_ok=$([ "$rc" = 0 ] && echo 1 || echo 0)"
    done
    return $status
}

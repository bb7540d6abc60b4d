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
          libcurl4-openssl-dev libpq-dev libcmocka-dev libisal-dev postgresql-$PG_VERSION
          postgresql-client-$PG_VERSION python3 curl ca-certificates xz-utils tzdata chromium prometheus)

# Only for scripts/bench: the comparison targets and load tools.
BENCH_PACKAGES=(nginx-light prometheus-blackbox-exporter wrk stress-ng)

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

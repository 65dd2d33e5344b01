#!/usr/bin/env bash
# Entry point of the postgres fixture, keeping the official image's documented contract:
# - `postgres ARGS` (or just options) starts the server; anything else, or an option that only
#   prints something (--help, --version, --describe-config), is run as given.
# - Started as root, it makes the data directory the postgres user's and runs again as that user.
# - On an empty data directory ($PGDATA) it first runs initdb: superuser POSTGRES_USER (postgres),
#   password POSTGRES_PASSWORD, POSTGRES_INITDB_ARGS added; `host all all all METHOD` in pg_hba.conf
#   with POSTGRES_HOST_AUTH_METHOD (the server's password_encryption by default). Without a password
#   the method must be `trust`, or the container exits 1.
# - Then a temporary server, started with the same arguments but listening on the Unix socket only,
#   creates POSTGRES_DB (default: the user's name) and runs /docker-entrypoint-initdb.d/ in name order:
#   *.sql with psql (ON_ERROR_STOP), *.sh executed when executable, sourced otherwise. Any failure
#   stops the container with a non-zero status (the data directory is then initialized but
#   incomplete, and a later start does not run the scripts again, as with the official image).
# - Finally the server runs in the foreground with the given arguments (listening on `*`).
set -Eeo pipefail

say() { printf '%s: %s\n' "$0" "$*"; }

# Exported, as the official image does: the init scripts read them.
setup_env() {
    export POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-}"
    export POSTGRES_USER="${POSTGRES_USER:-postgres}"
    export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
    export POSTGRES_INITDB_ARGS="${POSTGRES_INITDB_ARGS:-}"
    POSTGRES_HOST_AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD:-}"
    initialized=
    if [ -s "$PGDATA/PG_VERSION" ]; then
        initialized=yes
    fi
}

own_directories() {
    mkdir -p "$PGDATA" /var/run/postgresql
    chmod 00700 "$PGDATA" || :
    chmod 03775 /var/run/postgresql || :
    if [ "$(id -u)" = 0 ]; then
        find "$PGDATA" /var/run/postgresql ! -user postgres -exec chown postgres '{}' +
    fi
}

require_password_or_trust() {
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        cat >&2 <<'MESSAGE'
Error: the database is uninitialized and the superuser has no password.
       Set POSTGRES_PASSWORD to a non-empty value (docker run -e POSTGRES_PASSWORD=...),
       or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without one.
MESSAGE
        exit 1
    fi
}

run_initdb() {
    # initdb reads the password from a file; an empty line is an empty password.
    eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"
}

# Network clients authenticate with the chosen method; the server's arguments (a config file, say)
# decide password_encryption, the default method.
allow_network_clients() {
    local method="$POSTGRES_HOST_AUTH_METHOD"
    if [ -z "$method" ]; then
        method="$(postgres -C password_encryption "$@")"
    fi
    printf '\nhost all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
}

# The temporary server takes the real server's arguments but no TCP connections: clients see the
# port only once initialization is over.
start_temporary_server() {
    local options
    options="$(printf '%q ' "$@" -c "listen_addresses=" -p "${PGPORT:-5432}")"
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -o "$options" -w start
}

stop_temporary_server() {
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
}

# Init-time SQL goes to the temporary server's socket, whatever PGHOST the container was given.
sql() {
    PGHOST='' PGHOSTADDR='' psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

create_database() {
    local exists
    exists="$(sql --dbname postgres --set db="$POSTGRES_DB" --tuples-only <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")"
    if [ -z "${exists// /}" ]; then
        sql --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
}

run_init_files() {
    local file
    for file in /docker-entrypoint-initdb.d/*; do
        case "$file" in
            *.sh)
                if [ -x "$file" ]; then
                    say "running $file"
                    "$file"
                else
                    say "sourcing $file"
                    # shellcheck disable=SC1090
                    . "$file"
                fi
                ;;
            *.sql)
                say "running $file"
                sql --dbname "$POSTGRES_DB" -f "$file"
                ;;
            */\*) ;;
            *) say "ignoring $file" ;;
        esac
    done
}

only_prints() {
    local arg
    for arg; do
        case "$arg" in
            '-?' | --help | --describe-config | -V | --version) return 0 ;;
        esac
    done
    return 1
}

main() {
    if [ "${1:0:1}" = - ]; then
        set -- postgres "$@"
    fi
    if [ "$1" != postgres ] || only_prints "$@"; then
        exec "$@"
    fi
    setup_env
    own_directories
    if [ "$(id -u)" = 0 ]; then
        exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
    fi
    if [ -z "$initialized" ]; then
        require_password_or_trust
        run_initdb
        shift
        allow_network_clients "$@"
        export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
        start_temporary_server "$@"
        create_database
        run_init_files
        stop_temporary_server
        unset PGPASSWORD
        say "PostgreSQL init process complete; ready for start up."
        set -- postgres "$@"
    else
        say "PostgreSQL database directory appears to contain a database; skipping initialization"
    fi
    exec "$@"
}

main "$@"

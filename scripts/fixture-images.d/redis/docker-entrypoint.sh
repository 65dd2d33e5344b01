#!/bin/sh
# Entry point of the redis fixture, keeping the official image's contract: arguments that start with
# an option or name a .conf file are arguments of redis-server; redis-server started as root owns
# /data and drops to the redis user; without a configuration file that says otherwise, the server is
# not in protected mode (the port is what the container publishes, nothing more).
set -eu

case "${1:-}" in
    -* | *.conf) set -- redis-server "$@" ;;
esac

if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . ! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "${1:-}" = redis-server ]; then
    protected=no
    if [ -f "${2:-}" ] && grep -q '^protected-mode' "$2"; then
        protected=
    fi
    if [ -n "$protected" ]; then
        set -- "$@" --protected-mode no
    fi
    # Files the server writes (AOF, snapshots) are for its user only, unless the caller set a umask.
    if [ "$(umask)" = 0022 ]; then
        umask 0077
    fi
fi

exec "$@"

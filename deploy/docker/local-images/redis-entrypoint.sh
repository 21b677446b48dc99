#!/usr/bin/env bash
# docker-entrypoint.sh for the local redis:7 image: the official image's behaviour, which
# deploy/compose.yaml relies on, on Debian's redis-server package.
#
# - `redis-server [ARGS]` (the default; a first argument starting with `-` or ending in
#   `.conf` means `redis-server ARGS`) runs as the `redis` user (uid 999) in /data.
# - Without a configuration file and without an explicit --protected-mode, protected mode is
#   off, as the official image builds it: compose reaches Redis from other containers over a
#   private network, which protected mode (no password, non-loopback client) would refuse.
# - Any other command runs as given (`podman exec -it redis redis-cli` works as usual).
set -Eeuo pipefail

if [[ "${1:0:1}" == - || "${1-}" == *.conf ]]; then
    set -- redis-server "$@"
fi

if [[ "${1-}" == redis-server ]]; then
    if [[ "$(id -u)" == 0 ]]; then
        chown redis:redis /data 2>/dev/null || true
        exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
    fi
    protected_mode_set=0
    for arg in "$@"; do
        [[ "$arg" == --protected-mode || "$arg" == *.conf ]] && protected_mode_set=1
    done
    if ((!protected_mode_set)); then
        set -- "$@" --protected-mode no
    fi
fi

exec "$@"

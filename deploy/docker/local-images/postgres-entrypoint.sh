#!/usr/bin/env bash
# docker-entrypoint.sh for the local postgres:15 image: the official image's contract, which
# deploy/compose.yaml relies on, on Debian's postgresql-15 package.
#
# - `postgres [ARGS]` (the default command; a first argument starting with `-` means
#   `postgres ARGS`) runs the server as the `postgres` user (uid 999) on $PGDATA
#   (/var/lib/postgresql/data, a volume); any other command runs as given.
# - On first start (an empty $PGDATA): initdb with POSTGRES_USER (default postgres) as the
#   superuser and POSTGRES_PASSWORD as its password (required, unless
#   POSTGRES_HOST_AUTH_METHOD=trust), encoding UTF8, plus POSTGRES_INITDB_ARGS; then, on a
#   temporary server that listens on the unix socket only (so that a TCP health check is not
#   green yet), create POSTGRES_DB (default: POSTGRES_USER) and run
#   /docker-entrypoint-initdb.d/* in name order: *.sh executed when executable and sourced
#   otherwise, *.sql and *.sql.gz through psql, stopping at the first error.
# - Every POSTGRES_* setting may instead come from a file named by NAME_FILE (compose secrets).
# - Clients from other containers authenticate with POSTGRES_HOST_AUTH_METHOD (default
#   scram-sha-256); the unix socket inside the container trusts local users, so that
#   `podman exec -it user-db psql -U user -d userdb` works as with the official image.
set -Eeuo pipefail

# file_env VAR [DEFAULT]: VAR from $VAR, or from the file $VAR_FILE, or DEFAULT.
file_env() {
    local var=$1 default=${2-} file_var="${1}_FILE" value
    if [[ -n "${!var-}" && -n "${!file_var-}" ]]; then
        echo "error: both $var and $file_var are set (they are exclusive)" >&2
        exit 1
    fi
    value=$default
    if [[ -n "${!var-}" ]]; then
        value=${!var}
    elif [[ -n "${!file_var-}" ]]; then
        value=$(<"${!file_var}")
    fi
    export "$var=$value"
    unset "$file_var"
}

# psql_init [ARGS]: psql on the temporary server as the superuser, stopping at the first error.
psql_init() {
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" "$@"
}

run_init_scripts() {
    local f
    for f in /docker-entrypoint-initdb.d/*; do
        [[ -e "$f" ]] || continue
        case $f in
        *.sh)
            if [[ -x "$f" ]]; then
                echo "docker-entrypoint: running $f"
                "$f"
            else
                echo "docker-entrypoint: sourcing $f"
                # shellcheck disable=SC1090
                . "$f"
            fi
            ;;
        *.sql) echo "docker-entrypoint: running $f"; psql_init -f "$f" ;;
        *.sql.gz) echo "docker-entrypoint: running $f"; gunzip -c "$f" | psql_init ;;
        *) echo "docker-entrypoint: ignoring $f" ;;
        esac
    done
}

init_database() {
    local auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256} pwfile
    if [[ -z "$POSTGRES_PASSWORD" && "$auth" != trust ]]; then
        cat >&2 <<'MSG'
error: the database is uninitialized and POSTGRES_PASSWORD is not set.
       Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a password for the superuser,
       or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without one.
MSG
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments, as in the official image
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host="$auth" $POSTGRES_INITDB_ARGS
    rm -f "$pwfile"
    printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

    # The temporary server: unix socket only, so no TCP client (nor health check) sees it.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p ${PGPORT:-5432}" start
    if [[ "$POSTGRES_DB" != postgres ]]; then
        psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
            --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    run_init_scripts
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "docker-entrypoint: initialization complete; starting the server"
}

if [[ "${1:0:1}" == - ]]; then
    set -- postgres "$@"
fi

if [[ "$1" == postgres ]]; then
    if [[ "$(id -u)" == 0 ]]; then
        # As root (the default): prepare the folders, then run this script again as postgres.
        mkdir -p "$PGDATA" /var/run/postgresql
        chown postgres:postgres "$PGDATA" /var/run/postgresql
        chmod 0700 "$PGDATA"
        chmod 3777 /var/run/postgresql
        exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
    fi
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
        init_database
    fi
    unset POSTGRES_PASSWORD
    exec "$@"
fi

exec "$@"

#!/bin/sh
# As the postgres image's entrypoint, for Debian's postgresql-15: on an empty PGDATA, initdb
# with POSTGRES_USER (superuser, default postgres) and POSTGRES_PASSWORD, create POSTGRES_DB,
# run /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh against it on a server that listens on
# its socket only, then start the real server with the given flags (`postgres -c ...`).
# Password authentication over the network (POSTGRES_HOST_AUTH_METHOD, scram-sha-256 by
# default), trust on the local socket.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [ "${1#-}" != "$1" ]; then
  set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$method" != trust ]; then
    echo "postgres: the database is uninitialized and POSTGRES_PASSWORD is not set" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of flags, as in the official image
  initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host="$method" ${POSTGRES_INITDB_ARGS:-} >&2
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  printf 'host all all all %s\n' "$method" >> "$PGDATA/pg_hba.conf"

  shift
  # The server's own flags (shared_preload_libraries, say) apply while the scripts run too.
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' $*" start >&2
  if [ "$db" != postgres ]; then
    echo 'CREATE DATABASE :"db";' | psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres --set db="$db" >&2
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) echo "running $f" >&2; . "$f" ;;
      *.sql) echo "running $f" >&2; psql -v ON_ERROR_STOP=1 --username "$user" --dbname "$db" -f "$f" >&2 ;;
      *.sql.gz) echo "running $f" >&2; gunzip -c "$f" | psql -v ON_ERROR_STOP=1 --username "$user" --dbname "$db" >&2 ;;
      *) ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >&2
  echo "postgres: init process complete; ready for start up" >&2
  set -- postgres "$@"
fi

exec "$@"

#!/bin/sh
# Writes /etc/pgbouncer/pgbouncer.ini and userlist.txt from the environment, with the
# variable names edoburu/pgbouncer reads (the ones this stack uses), unless a pgbouncer.ini
# was mounted. Then runs the command (pgbouncer).
set -eu
dir=/etc/pgbouncer

if [ -n "${DATABASE_URL:-}" ]; then
  # postgres://user:password@host:port/name, as dj-database-url reads it
  rest=${DATABASE_URL#*://}
  userinfo=${rest%@*}
  hostpart=${rest##*@}
  DB_USER=${userinfo%%:*}
  case "$userinfo" in *:*) DB_PASSWORD=${userinfo#*:} ;; esac
  DB_NAME=${hostpart#*/}
  hostport=${hostpart%%/*}
  DB_HOST=${hostport%%:*}
  case "$hostport" in *:*) DB_PORT=${hostport#*:} ;; esac
fi

if [ ! -f "$dir/pgbouncer.ini" ]; then
  : "${DB_HOST:?set DB_HOST (or DATABASE_URL)}"
  auth_type=${AUTH_TYPE:-md5}
  if [ -n "${DB_USER:-}" ] && [ -n "${DB_PASSWORD:-}" ]; then
    case "$auth_type" in
      plain|scram-sha-256) secret=$DB_PASSWORD ;;
      *) secret="md5$(printf '%s%s' "$DB_PASSWORD" "$DB_USER" | md5sum | cut -d' ' -f1)" ;;
    esac
    (umask 077; printf '"%s" "%s"\n' "$DB_USER" "$secret" > "$dir/userlist.txt")
  fi
  opt() { eval "value=\${$1:-}"; if [ -n "$value" ]; then printf '%s = %s\n' "$2" "$value"; fi; }
  {
    echo "[databases]"
    echo "${DB_NAME:-*} = host=$DB_HOST port=${DB_PORT:-5432}${DB_NAME:+ dbname=$DB_NAME}"
    echo
    echo "[pgbouncer]"
    echo "listen_addr = ${LISTEN_ADDR:-0.0.0.0}"
    echo "listen_port = ${LISTEN_PORT:-5432}"
    echo "unix_socket_dir ="
    echo "auth_type = $auth_type"
    echo "auth_file = $dir/userlist.txt"
    echo "admin_users = ${ADMIN_USERS:-postgres}"
    echo "ignore_startup_parameters = ${IGNORE_STARTUP_PARAMETERS:-extra_float_digits}"
    opt POOL_MODE pool_mode
    opt MAX_CLIENT_CONN max_client_conn
    opt DEFAULT_POOL_SIZE default_pool_size
    opt MIN_POOL_SIZE min_pool_size
    opt RESERVE_POOL_SIZE reserve_pool_size
    opt RESERVE_POOL_TIMEOUT reserve_pool_timeout
    opt MAX_DB_CONNECTIONS max_db_connections
    opt STATS_USERS stats_users
    opt SERVER_RESET_QUERY server_reset_query
    opt SERVER_RESET_QUERY_ALWAYS server_reset_query_always
    opt SERVER_IDLE_TIMEOUT server_idle_timeout
    opt SERVER_LIFETIME server_lifetime
    opt QUERY_WAIT_TIMEOUT query_wait_timeout
    opt IDLE_TRANSACTION_TIMEOUT idle_transaction_timeout
    opt LOG_CONNECTIONS log_connections
    opt LOG_DISCONNECTIONS log_disconnections
    opt STATS_PERIOD stats_period
  } > "$dir/pgbouncer.ini"
  echo "pgbouncer: wrote $dir/pgbouncer.ini (pool_mode ${POOL_MODE:-session})" >&2
fi

exec "$@"

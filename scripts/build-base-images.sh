#!/usr/bin/env bash
# Builds the compose stack's base images from Debian's packages, for machines that reach
# Debian's archive but no container image registry.
#
#   eval "$(scripts/build-base-images.sh)"     # build what is missing, export the overrides
#   docker-compose up -d                        # or `docker compose up -d`
#
# 1. `debootstrap` a minimal Debian bookworm from the mirror this host's apt uses and
#    `docker import` it as instaclone-local/debian:bookworm (skipped when that image exists;
#    --rebuild redoes it). The host's extra CA certificates (/usr/local/share/ca-certificates)
#    go into it, so HTTPS from inside (pip) trusts what the host trusts.
# 2. Build the derived images in deploy/images/*/ on it: the app's Python, PostgreSQL 15 with
#    pg_stat_statements, Redis, nginx, Prometheus, the PostgreSQL and node exporters, PgBouncer.
#    Each entrypoint behaves like the public image's, so they are drop-in replacements.
#    Docker's layer cache makes an unchanged rebuild take seconds.
# 3. Print `export NAME=image` lines (stdout; progress goes to stderr) naming the local images
#    for the variables docker-compose.yml reads. Grafana has no Debian package: it keeps its
#    public image, and is left out where that image is not present.
#
# Needs root (debootstrap chroots; run with sudo otherwise), debootstrap and a running dockerd.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${LOCAL_IMAGE_PREFIX:-instaclone-local}
SUITE=bookworm
BASE="$PREFIX/debian:$SUITE"
REBUILD=0
for arg in "$@"; do
  case "$arg" in
    --rebuild) REBUILD=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "build-base-images: $*" >&2; }
die() { log "$*"; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
command -v docker >/dev/null || die "docker is not installed (apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "the Docker daemon does not answer (start dockerd)"
# The classic builder: Debian's docker.io has no buildx plugin, and nothing here needs BuildKit.
export DOCKER_BUILDKIT=0

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# The mirror apt uses on this host (deb822 .sources or one-line .list), else Debian's default.
apt_mirror() {
  local suffix=$1 files uri
  files=$(ls /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  for file in $files; do
    case "$file" in
      *.sources) uri=$(awk -v s="$suffix" '
          /^URIs:/ { uris = $0; sub(/^URIs:[ \t]*/, "", uris) }
          /^Suites:/ && $0 ~ ("[ \t]bookworm" s "([ \t]|$)") { split(uris, u, /[ \t]+/); print u[1]; exit }
        ' "$file") ;;
      *) uri=$(awk -v s="$suffix" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { if ($(i + 1) == "bookworm" s) { print $i; exit } break } }' "$file") ;;
    esac
    if [ -n "$uri" ]; then echo "$uri"; return; fi
  done
}
MIRROR=${DEBIAN_MIRROR:-$(apt_mirror "")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-$(apt_mirror "-security")}

build_rootfs() {
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  local rootfs
  rootfs=$(mktemp -d /var/tmp/instaclone-rootfs.XXXXXX)
  # shellcheck disable=SC2064
  trap "$SUDO rm -rf '$rootfs'" EXIT
  log "debootstrap $SUITE from $MIRROR (a few minutes)"
  $SUDO debootstrap --variant=minbase --include=ca-certificates --components=main "$SUITE" "$rootfs" "$MIRROR" >&2
  {
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    if [ -n "$SECURITY_MIRROR" ]; then echo "deb $SECURITY_MIRROR $SUITE-security main"; fi
  } | $SUDO tee "$rootfs/etc/apt/sources.list" >/dev/null
  # No daemon starts inside a build (as in Debian's official images).
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$rootfs/usr/sbin/policy-rc.d" >/dev/null
  $SUDO chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    | $SUDO tee "$rootfs/etc/apt/apt.conf.d/90instaclone" >/dev/null
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    $SUDO cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    $SUDO chroot "$rootfs" update-ca-certificates >&2
  fi
  $SUDO chroot "$rootfs" apt-get clean
  $SUDO rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log "$rootfs"/tmp/*
  log "docker import $BASE"
  $SUDO tar --numeric-owner -C "$rootfs" -c . \
    | docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' - "$BASE" >&2
  $SUDO rm -rf "$rootfs"
  trap - EXIT
}

if [ "$REBUILD" = 1 ] || ! image_exists "$BASE"; then
  build_rootfs
else
  log "$BASE exists (--rebuild to debootstrap again)"
fi

# name:tag directory variable
IMAGES=(
  "python:3.11 python APP_BASE_IMAGE"
  "postgres:15 postgres POSTGRES_IMAGE"
  "redis:7 redis REDIS_IMAGE"
  "nginx:$SUITE nginx NGINX_IMAGE"
  "prometheus:$SUITE prometheus PROMETHEUS_IMAGE"
  "postgres-exporter:$SUITE postgres-exporter POSTGRES_EXPORTER_IMAGE"
  "node-exporter:$SUITE node-exporter NODE_EXPORTER_IMAGE"
  "pgbouncer:$SUITE pgbouncer PGBOUNCER_IMAGE"
)
exports=()
for entry in "${IMAGES[@]}"; do
  read -r tag directory variable <<<"$entry"
  log "docker build $PREFIX/$tag"
  no_cache=()
  if [ "$REBUILD" = 1 ]; then no_cache=(--no-cache); fi
  # (the newer docker CLI's notice that the classic builder is deprecated is left out)
  docker build -q "${no_cache[@]}" --build-arg "BASE_IMAGE=$BASE" -t "$PREFIX/$tag" "deploy/images/$directory" 2>&1 \
    | { grep -v -E '^(DEPRECATED: The legacy builder| +BuildKit is currently disabled| +environment-variable\.|$)' || true; } >&2
  exports+=("export $variable=$PREFIX/$tag")
done

# pip inside the app's build uses the index this host's pip uses, when one is set (a file://
# index cannot be reached from a container).
index=${PIP_INDEX_URL:-$(pip3 config get global.index-url 2>/dev/null || true)}
case "$index" in
  http://*|https://*) exports+=("export PIP_INDEX_URL=$index") ;;
esac

printf '%s\n' "${exports[@]}"

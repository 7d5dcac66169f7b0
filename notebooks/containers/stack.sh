#!/usr/bin/env bash
# `make up` / `make down`: the compose stack on whatever engine this machine has.
#
#   notebooks/containers/stack.sh up        build the images, start the stack, wait until every service is healthy
#   notebooks/containers/stack.sh down      stop and remove the containers and the network (VOLUMES=1: the volumes too)
#   notebooks/containers/stack.sh build     build the images only
#   notebooks/containers/stack.sh compose ARGS...   any compose command (ps, logs, stop mlflow, ...)
#   notebooks/containers/stack.sh engine    print the engine and its compose command
#
# Engine: a running Docker engine (`docker compose`); else Debian's podman, installed from Debian's packages
# when missing, configured by notebooks/containers/containers.conf (CONTAINERS_CONF, nothing in /etc is edited), with
# podman-compose from PyPI in .venv-compose. Images' bases are pulled where a registry answers, else
# built from Debian's packages (debootstrap) and tagged with the name the Dockerfile uses.
#
# Settings (environment or make variables): ENV_FILE (.env; made from .env.example with fresh secrets when
# missing), PROFILES (e.g. dev: JupyterLab), H2O_NODES (from ENV_FILE, default 1), VOLUMES=1 (down),
# COMPOSE_PROJECT_NAME (automl-stack), UP_TIMEOUT (seconds to wait for health, 1800).
set -euo pipefail
cd "$(dirname "$0")/../.."

ENV_FILE=${ENV_FILE:-.env}
PROJECT=${COMPOSE_PROJECT_NAME:-automl-stack}
UP_TIMEOUT=${UP_TIMEOUT:-1800}
BASE_IMAGE=docker.io/library/debian:bookworm-slim   # the Dockerfile's BASE_IMAGE
PODMAN_COMPOSE_VERSION=1.6.0
TOOLS_VENV=.venv-compose
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/notebooks/containers/containers.conf}

say() { printf '[stack] %s\n' "$*" >&2; }

# A value of ENV_FILE (the environment wins, as in compose), else the default given.
setting() {
  local name=$1 default=$2 line
  if [ -n "${!name:-}" ]; then printf '%s' "${!name}"; return; fi
  line=$(grep -E "^${name}=" "$ENV_FILE" 2>/dev/null | tail -n 1 || true)
  if [ -n "$line" ]; then printf '%s' "${line#*=}"; else printf '%s' "$default"; fi
}

ensure_env_file() {
  [ -f "$ENV_FILE" ] && return
  say "no $ENV_FILE: creating it from .env.example with fresh random secrets"
  local secret line
  while IFS= read -r line; do
    if [[ "$line" =~ ^([A-Z_]+)=change-me ]]; then
      secret=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
      printf '%s=%s\n' "${BASH_REMATCH[1]}" "$secret"
    else
      printf '%s\n' "$line"
    fi
  done < .env.example > "$ENV_FILE"
  chmod 600 "$ENV_FILE"
}

# ENGINE (docker|podman) and COMPOSE (the compose command as an array)
choose_engine() {
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    ENGINE=docker
    COMPOSE=(docker compose)
    return
  fi
  ENGINE=podman
  if ! command -v podman >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1 \
      || ! command -v iptables >/dev/null 2>&1; then
    say "no Docker engine: installing podman from Debian's packages"
    apt-get update -qq
    # runc: crun refuses hybrid cgroups; netavark + aardvark-dns (+ iptables): service names resolve
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      podman runc netavark aardvark-dns iptables debootstrap uidmap >/dev/null
  fi
  if [ ! -x "$TOOLS_VENV/bin/podman-compose" ]; then
    say "installing podman-compose $PODMAN_COMPOSE_VERSION into $TOOLS_VENV"
    python3 -m venv "$TOOLS_VENV"
    "$TOOLS_VENV/bin/pip" install --quiet "podman-compose==$PODMAN_COMPOSE_VERSION"
  fi
  COMPOSE=("$TOOLS_VENV/bin/podman-compose")
}

# compose with this project's name, env file and profiles
compose() {
  local profiles=() profile
  for profile in ${ACTIVE_PROFILES:-}; do profiles+=(--profile "$profile"); done
  "${COMPOSE[@]}" -p "$PROJECT" --env-file "$ENV_FILE" "${profiles[@]}" "$@"
}

active_profiles() {
  ACTIVE_PROFILES=${PROFILES:-}
  local nodes
  nodes=$(setting H2O_NODES 1)
  case "$nodes" in
    1) ;;
    2) ACTIVE_PROFILES="$ACTIVE_PROFILES h2o-2" ;;
    *) say "H2O_NODES=$nodes: docker-compose.yml defines nodes h2o and h2o-2 (add h2o-3... the same way)"; exit 2 ;;
  esac
  export H2O_NODES=$nodes
}

ensure_base_image() {
  podman image exists "$BASE_IMAGE" && return
  if podman pull -q "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
  say "cannot pull $BASE_IMAGE: building it from Debian's packages (debootstrap bookworm)"
  local root
  root=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$root" >/dev/null
  # slim as the official image is: no downloaded packages, package lists, docs, man pages or locales,
  # and later installs skip them too
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/usr/share/info/*
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
    > "$root/etc/dpkg/dpkg.cfg.d/slim"
  tar -C "$root" -c . | podman import -q - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
}

build() {
  local started=$SECONDS
  if [ "$ENGINE" = docker ]; then
    compose build
  else
    ensure_base_image
    # podman-compose ignores a service's build.network, and the default build network cannot resolve
    # names here: pass podman's own flags. A registry behind a TLS proxy needs the host's CA bundle for pip.
    local args="--network=host --pull=never"
    local cert=${PIP_CERT:-$(pip3 config get global.cert 2>/dev/null || true)}
    if [ -n "$cert" ] && [ -f "$cert" ]; then
      args="$args -v $cert:/run/host-ca.crt:ro --build-arg PIP_CERT=/run/host-ca.crt"
    fi
    # one build per image, one after the other: podman-compose builds every service at once, and each of
    # them would build the shared stages again (measured: 690 s instead of about 300)
    local service
    for service in trainer api; do   # the `stack` image, then the `api` image (it reuses stack's stages)
      compose --podman-build-args "$args" build "$service"
    done
  fi
  say "images built in $((SECONDS - started)) s"
}

# "NAME SERVICE" of every container of the project
containers() {
  local service='{{index .Labels "com.docker.compose.service"}}'   # podman: Labels is a map
  [ "$ENGINE" = docker ] && service='{{.Label "com.docker.compose.service"}}'
  $ENGINE ps -a --filter "label=com.docker.compose.project=$PROJECT" --format "{{.Names}} $service"
}

healthy() {
  if [ "$ENGINE" = docker ]; then
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = healthy ]
  else
    # podman 4.3 schedules healthchecks with systemd timers: without systemd, run the service's own check
    podman healthcheck run "$1" >/dev/null 2>&1
  fi
}

# the last line the container's healthcheck printed (what it saw: `python -m automlkit.healthcheck`)
last_check() {
  $ENGINE inspect -f '{{with .State.Health}}{{range .Log}}{{.Output}}{{"\n"}}{{end}}{{end}}' "$1" 2>/dev/null \
    | awk 'NF' | tail -n 1 | cut -c 1-200
}

wait_healthy() {
  local deadline=$((SECONDS + UP_TIMEOUT)) next_report=$SECONDS pending name service
  declare -A reported=() seen=()
  while :; do
    pending=()
    seen=()
    while read -r name service; do
      [ -n "$name" ] || continue
      if healthy "$name" </dev/null; then
        [ -n "${reported[$service]:-}" ] || { say "$service is healthy"; reported[$service]=1; }
      else
        pending+=("$service")
        seen[$service]=$(last_check "$name" </dev/null)
      fi
    done < <(containers)
    [ ${#reported[@]} -gt 0 ] && [ ${#pending[@]} -eq 0 ] && return 0
    if [ $SECONDS -ge $next_report ]; then   # every 30 s: who is pending, and what its check last saw
      for service in "${pending[@]}"; do say "pending: $service (${seen[$service]:-no check output yet})"; done
      next_report=$((SECONDS + 30))
    fi
    if [ $SECONDS -ge $deadline ]; then
      say "not healthy after ${UP_TIMEOUT} s: ${pending[*]} (see: make logs)"
      return 1
    fi
    sleep 5
  done
}

print_urls() {
  local bind
  bind=$(setting BIND_ADDRESS 127.0.0.1)
  [ "$bind" = 0.0.0.0 ] && bind=$(hostname -I 2>/dev/null | awk '{print $1}')
  echo
  echo "  MLflow UI   http://127.0.0.1:$(setting MLFLOW_PORT 5000)"
  echo "  API docs    http://$bind:$(setting API_PORT 8000)/docs"
  echo "  dashboard   http://$bind:$(setting DASHBOARD_PORT 8866)/"
  echo "  H2O Flow    http://127.0.0.1:$(setting H2O_PORT 54321)  ($H2O_NODES node(s))"
  case " ${ACTIVE_PROFILES} " in
    *" dev "*) echo "  JupyterLab  http://$bind:$(setting JUPYTER_PORT 8888)/lab?token=<JUPYTER_TOKEN in $ENV_FILE>" ;;
  esac
  echo "  ($ENGINE; stop with: make down)"
}

command=${1:-}
shift || true
case "$command" in
  up)
    ensure_env_file; choose_engine; active_profiles
    build
    say "starting the stack ($ENGINE, project $PROJECT, profiles:${ACTIVE_PROFILES:- none})"
    compose up -d
    say "waiting until every service is healthy (the first training runs now when there is no champion)"
    wait_healthy
    print_urls
    ;;
  down)
    [ -f "$ENV_FILE" ] || ENV_FILE=.env.example
    choose_engine
    # every profile, so that no optional service stays behind
    ACTIVE_PROFILES="dev h2o-2"
    # podman-compose stops every container at once: the API's drain and its monitoring flush need MLflow,
    # so the services that write to it stop first (each within its stop_grace_period), then the rest
    compose stop api dashboard trainer jupyterlab >/dev/null 2>&1 || true
    if [ "${VOLUMES:-0}" = 1 ]; then compose down -v; else compose down; fi
    ;;
  build) ensure_env_file; choose_engine; active_profiles; build ;;
  compose) ensure_env_file; choose_engine; active_profiles; compose "$@" ;;
  engine) choose_engine; echo "$ENGINE ${COMPOSE[*]}" ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac

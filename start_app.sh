#!/usr/bin/env bash
# genserve one-click start: checks the machine, starts the server in the background, waits until it
# is ready, prints its URLs.
#
#   ./start_app.sh [webui|api|worker] [--port N] [--host ADDR] [--timeout S] [--queues Q] [--quiet] [--debug]
#   ./start_app.sh stop | status | logs [--follow]
#
# webui (default): web UI + REST API; api: REST API only; worker: runs queued jobs from a shared
# store (GENSERVE_DATABASE_URL), answering only /healthz, /readyz and /metrics; with
# GENSERVE_EXECUTOR=celery it is a `genserve worker` on the broker's queues (--queues, default all).
# Logs: logs/app_YYYYmmdd_HHMMSS.log. The pid file is <data dir>/app.pid (stop uses it, never a
# kill by process name); beside it app.url holds the running server's URL, which status, logs and
# `genserve submit` use.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

ACTION=webui
PORT="${GENSERVE_PORT:-7860}"
HOST="${GENSERVE_HOST:-127.0.0.1}"
TIMEOUT=120
QUIET=0
QUEUES=""
DEBUG=0
FOLLOW=0
DATA_DIR="${GENSERVE_DATA_DIR:-$ROOT/.genserve}"
OUT_DIR="${GENSERVE_OUTPUT_DIR:-$ROOT/outputs}"
LOG_DIR="${GENSERVE_LOG_DIR:-$ROOT/logs}"
PID_FILE="$DATA_DIR/app.pid"
URL_FILE="$DATA_DIR/app.url"
VENV="$ROOT/.venv"

# the comment block at the top of this file, without its '#'
usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }
# colour only on a terminal (and never with NO_COLOR): logs and pipes get plain text
paint() { # paint FD CODE TEXT
  if [ -t "$1" ] && [ -z "${NO_COLOR:-}" ]; then printf '\033[%sm%s\033[0m' "$2" "$3"; else printf '%s' "$3"; fi
}
info() { [ "$QUIET" = 1 ] || printf '%s %s\n' "$(paint 1 '1;34' '[INFO]')" "$1"; }
ok() { [ "$QUIET" = 1 ] || printf '%s %s\n' "$(paint 1 '1;32' '[ OK ]')" "$1"; }
warn() { printf '%s %s\n' "$(paint 2 '1;33' '[WARN]')" "$1" >&2; }
fail() { printf '%s %s\n' "$(paint 2 '1;31' '[ERROR]')" "$1" >&2; exit "${2:-1}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    webui|api|worker|stop|status|logs) ACTION="$1" ;;
    --port) PORT="${2:?--port needs a number, e.g. --port 7861}"; shift ;;
    --port=*) PORT="${1#--port=}" ;;
    --host) HOST="${2:?--host needs an address, e.g. --host 0.0.0.0}"; shift ;;
    --host=*) HOST="${1#--host=}" ;;
    --timeout) TIMEOUT="${2:?--timeout needs seconds}"; shift ;;
    --queues) QUEUES="${2:?--queues needs queue names, e.g. --queues image-to-video,recognize}"; shift ;;
    --quiet|-q) QUIET=1 ;;
    --debug) DEBUG=1 ;;
    --follow|-f) FOLLOW=1 ;;
    -h|--help) usage; exit 0 ;;
    *) fail "unknown argument '$1'; see ./start_app.sh --help" 2 ;;
  esac
  shift
done
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] ||
  fail "--port must be a number from 1 to 65535, got '$PORT'" 2
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || fail "--timeout must be whole seconds, got '$TIMEOUT'" 2
[ "$DEBUG" = 1 ] && set -x

running_pid() {
  # the pid from the pid file, if that process is alive and is a genserve server
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "genserve" || return 1
  echo "$pid"
}

url_host() { case "$HOST" in 0.0.0.0|::|"") echo 127.0.0.1 ;; *) echo "$HOST" ;; esac; }
# the running server's URL as it was started (any --port or GENSERVE_PORT), else this call's
server_url() {
  if [ -s "$URL_FILE" ] && running_pid >/dev/null; then cat "$URL_FILE"; else echo "http://$(url_host):$PORT"; fi
}
ready() { curl -fsS -m 2 "${1:-$(server_url)}/readyz" >/dev/null 2>&1; }

do_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE" "$URL_FILE"
    info "not running"
    return 0
  fi
  info "stopping pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "pid $pid did not stop in 20 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE" "$URL_FILE"
  ok "stopped"
}

do_status() {
  local pid url
  if pid="$(running_pid)"; then
    url="$(server_url)"
    if ready "$url"; then
      echo "running: pid $pid, ready at $url"
      curl -fsS -m 2 "$url/readyz"
      echo
    else
      echo "running: pid $pid, not ready (yet) at $url"
      return 3
    fi
  else
    echo "not running"
    return 1
  fi
}

do_logs() {
  local latest
  latest="$(ls -1t "$LOG_DIR"/app_*.log 2>/dev/null | head -n 1 || true)"
  [ -n "$latest" ] || fail "no logs yet in $LOG_DIR; start the app first: ./start_app.sh"
  if running_pid >/dev/null; then echo "== $latest (server at $(server_url))"; else echo "== $latest"; fi
  if [ "$FOLLOW" = 1 ]; then tail -n 100 -f "$latest"; else tail -n 100 "$latest"; fi
}

explain_failure() {
  # known causes in the log, each with its fix
  local log="$1"
  if grep -q "port .* is taken" "$log"; then
    warn "the port is taken: stop that process or pass --port $((PORT + 1))"
  elif grep -qE "ModuleNotFoundError|No module named|needs the optional package" "$log"; then
    warn "a dependency is missing: run scripts/setup.sh (or pip install 'genserve[all]')"
  elif grep -qiE "out of memory|CUDA error: out of memory" "$log"; then
    warn "out of GPU memory: stop other GPU processes, or use a smaller resolution / a CPU backend"
  elif grep -qiE "not downloaded|snapshot|LocalEntryNotFoundError|model .* not found" "$log"; then
    warn "a model is not downloaded: run 'genserve models pull <name>' (see 'genserve backends')"
  fi
}

do_start() {
  local mode="$1" pid
  if pid="$(running_pid)"; then
    fail "genserve is already running (pid $pid); ./start_app.sh stop first, or ./start_app.sh status"
  fi
  info "genserve one-click start: mode $mode, port $PORT"

  # 1. environment: create it and install the project when absent
  if [ ! -x "$VENV/bin/genserve" ] || ! "$VENV/bin/python" -c "import genserve, fastapi, sqlalchemy" 2>/dev/null; then
    info "setting up the environment (scripts/setup.sh); this runs once"
    if [ "$QUIET" = 1 ]; then scripts/setup.sh >/dev/null 2>&1 || fail "setup failed; run scripts/setup.sh to see why"
    else scripts/setup.sh || fail "setup failed; see the messages above"; fi
  fi
  ok "environment: $VENV"

  # 2. Python
  "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    fail "genserve needs Python 3.11+; found $("$VENV/bin/python" --version 2>&1). Remove .venv and re-run with python3.11"
  ok "python: $("$VENV/bin/python" --version 2>&1)"

  # 3. the port: free, or name who holds it; checked as the server binds it (SO_REUSEADDR), so a port
  # in TIME-WAIT after a stop is free in both places
  local port_problem
  if ! port_problem="$("$VENV/bin/genserve" serve --check-port --host "$HOST" --port "$PORT" 2>&1)"; then
    port_problem="${port_problem##*genserve: error: }"
    fail "${port_problem#--port: }"
  fi
  ok "port $PORT is free"

  # 4. GPU or CPU
  if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    ok "GPU: $(nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader | paste -sd ';' -)"
  else
    info "no NVIDIA GPU found: jobs run on the CPU (weight-free backends run anywhere)"
  fi

  # 5. free disk where outputs go
  mkdir -p "$OUT_DIR" "$LOG_DIR" "$DATA_DIR"
  local free_mb
  free_mb="$(df -Pm "$OUT_DIR" | awk 'NR==2 {print $4}')"
  if [ "${free_mb:-0}" -lt 200 ]; then
    fail "only ${free_mb} MB free under $OUT_DIR; free some disk space (outputs are videos)"
  elif [ "$free_mb" -lt 2048 ]; then
    warn "only ${free_mb} MB free under $OUT_DIR"
  fi
  ok "disk: ${free_mb} MB free; outputs in $OUT_DIR"

  # 6. start in the background, with a pid file and a timestamped log
  local log_file
  log_file="$LOG_DIR/app_$(date +%Y%m%d_%H%M%S).log"
  {
    echo "[INFO] started $(date -Iseconds) in $ROOT: mode=$mode host=$HOST port=$PORT"
  } >>"$log_file"
  local args=(serve --mode "$mode" --host "$HOST" --port "$PORT")
  if [ "$mode" = worker ] && [ "${GENSERVE_EXECUTOR:-local}" = celery ]; then
    # a Celery worker: jobs from the broker; /metrics, /healthz and /readyz on --port
    args=(worker --metrics-port "$PORT")
    [ -n "$QUEUES" ] && args+=(--queues "$QUEUES")
  fi
  [ "$DEBUG" = 1 ] && args+=(--debug)
  GENSERVE_HOST="$HOST" GENSERVE_DATA_DIR="$DATA_DIR" GENSERVE_OUTPUT_DIR="$OUT_DIR" GENSERVE_LOG_FORMAT="${GENSERVE_LOG_FORMAT:-json}" \
    nohup "$VENV/bin/genserve" "${args[@]}" >>"$log_file" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo "http://$(url_host):$PORT" >"$URL_FILE"
  ok "started pid $pid; log: $log_file"

  # 7. wait for /readyz (bounded; no fixed sleep)
  local deadline=$((SECONDS + TIMEOUT))
  until ready; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE" "$URL_FILE"
      warn "the server exited while starting; last log lines:"
      tail -n 15 "$log_file" >&2
      explain_failure "$log_file"
      fail "start failed; full log: $log_file"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      warn "not ready after ${TIMEOUT} s (a model may still be loading); last log lines:"
      tail -n 15 "$log_file" >&2
      explain_failure "$log_file"
      fail "still not ready: wait and run ./start_app.sh status, raise --timeout, or ./start_app.sh stop" 3
    fi
    sleep 0.3
  done

  # 8. where to find it
  local local_url="http://$(url_host):$PORT"
  if [ "$QUIET" = 1 ]; then
    echo "$local_url"
    return 0
  fi
  ok "ready"
  echo "  local:    $local_url"
  if [ "$HOST" = "0.0.0.0" ] || [ "$HOST" = "::" ]; then
    local ip
    ip="$(hostname -I 2>/dev/null | awk '{print $1}' || true)"
    [ -n "$ip" ] && echo "  network:  http://$ip:$PORT"
  fi
  [ "$mode" = webui ] && echo "  web UI:   $local_url/"
  [ "$mode" != worker ] && echo "  API docs: $local_url/docs"
  echo "  stop:     ./start_app.sh stop    status: ./start_app.sh status    logs: ./start_app.sh logs"
}

case "$ACTION" in
  stop) do_stop ;;
  status) do_status ;;
  logs) do_logs ;;
  *) do_start "$ACTION" ;;
esac

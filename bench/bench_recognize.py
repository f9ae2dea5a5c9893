"""recognize on a 2048x1536 page: seconds per image, and genserve's overhead over a direct rapidocr call.

    .venv/bin/python bench/bench_recognize.py [--repeats 9] [--no-api] [--batch N]

The page: a heading and two columns of Chinese/English paragraphs (21 lines), rendered with
fonts-wqy-microhei. Measured in the same run, in rounds (each variant once per round, shuffled):

- **direct**: ``RapidOCR()(path)``, rapidocr's own defaults (it decodes the file and detects on the
  page scaled to 2000x1500, as genserve does);
- **direct, same work**: the same call on an engine given genserve's one change to the model work
  (``float32_detector_input``: the detector's input built in float32, the same values, faster) —
  the peer the overhead is measured against, so that change does not hide genserve's own costs;
- **run_job**: the whole job path in-process (validation, decode, orientation check, OCR, layout,
  output folder, result.json), backend warm, labels off and ``document=false`` (so both do the same
  model work);
- **API**: ``POST /api/v1/recognize`` (multipart upload) to a real ``genserve serve`` on 127.0.0.1,
  labels off, ``document=false``;
- **run_job + document**: recognize's default, the page also read as a document (the CDLA layout
  model where the layout extra is installed, then the document rules; reported, not in the ratio:
  more model work than the peer's) — the job the 3 s target is for;
- **run_job + labels**: run_job + document with EfficientNet-Lite0 labels on (reported);
- with ``--batch N``, **API batch of N**: one request carrying N copies of the page (one job),
  its time divided by N: the time per page of a batch, to compare with **API**.

Then each path's own work, free of the models' run-to-run noise: the same page through direct,
run_job and the API (in-process test client, so its figure includes the client's thread hops) with
rapidocr's model steps answered from a memo; the difference to direct is what genserve adds.

Targets: ≤ 3 s per image on this CPU (median of **run_job + document**,
recognize's default), and overhead ≤ 1.05 over **direct, same work**. These shared 2-core machines
swing a single run by ±10 % and noise only ever adds time, so the overhead verdict rests on the two
figures noise cannot inflate: the fastest run of each path (run_job and API over the peer's
fastest) and the memoized own work (as a share of the peer's fastest page). Each variant's median
and the quartiles of its per-round ratio to the peer are printed as well, so the spread is visible.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import tempfile
import time
import unicodedata
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
HEADING = "万物识别如何集成到生产环境 CI/CD 流水线部署案例"
LEFT = [
    "传统OCR只能识字目标检测只能框物体",
    "万物识别模型能同时完成图像理解文字识别",
    "和结构化信息提取三件事情效果稳定可靠",
    "它专为中文真实场景优化支持模糊倾斜",
    "低光照手写体和多语言混排的复杂版式",
    "在电商金融政务教育等业务中已验证可用",
    "不依赖云端接口调用可完全私有化部署",
    "输入输出设计天然适配工程化流程",
    "把它稳稳当当放进你的流水线里",
    "变成每天自动运行的生产服务",
]
RIGHT = [
    "Headless services for CI/CD pipelines",
    "One contract reached from three doors",
    "A command line that prints the JSON",
    "A REST API with multipart uploads",
    "Structured logs and Prometheus metrics",
    "Quality gates block a bad release",
    "Receipts: apples 8.50 and milk 12.00",
    "Total 36.80 paid on 2026-11-21 15:00",
    "Invoice number 1234-5678-90 approved",
    "Batch jobs scale out on GPU workers",
]


def render_page(path: Path) -> str:
    """The 2048x1536 test page; returns its text in reading order."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (2048, 1536), "white")
    draw = ImageDraw.Draw(img)
    draw.text((100, 80), HEADING, font=ImageFont.truetype(FONT, 64), fill="black")
    body = ImageFont.truetype(FONT, 44)
    texts = [HEADING]
    # lines 1.5x the font size apart; a paragraph break of one empty line, at a different height
    # in each column (as on a real page, so the gutter is what separates the columns)
    for column, x, first_paragraph in ((LEFT, 100, 6), (RIGHT, 1100, 4)):
        y = 260
        for i, line in enumerate(column):
            if i == first_paragraph:
                y += 66
            draw.text((x, y), line, font=body, fill="black")
            texts.append(line)
            y += 66
    img.save(path)
    return "".join(texts)


def cer(expected: str, got: str) -> float:
    a = unicodedata.normalize("NFKC", expected).replace(" ", "")
    b = unicodedata.normalize("NFKC", got).replace(" ", "")
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] / max(len(a), 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`genserve serve --mode api` on a free loopback port, stopped by ``stop``."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "GENSERVE_DATA_DIR": str(tmp / "data"), "GENSERVE_OUTPUT_DIR": str(tmp / "out")}
        self.log = (tmp / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "genserve"), "serve", "--mode", "api", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the server exited; see its log")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready in {timeout} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-api", action="store_true", help="skip the HTTP measurement")
    parser.add_argument("--batch", type=int, default=0, help="also time N pages in one API request")
    args = parser.parse_args()

    import httpx
    from rapidocr import RapidOCR

    from genserve.backends.ocr import float32_detector_input
    from genserve.config import Settings
    from genserve.jobs import JobRequest, run_job
    from genserve.jobs.runner import BackendCache

    tmp = Path(tempfile.mkdtemp(prefix="bench-recognize-"))
    page = tmp / "page.png"
    truth = render_page(page)
    settings = Settings(output_dir=tmp / "outputs", data_dir=tmp / "data")
    cache = BackendCache(1)
    direct_engine = RapidOCR(params={"Global.log_level": "error"})
    same_work_engine = RapidOCR(params={"Global.log_level": "error"})
    float32_detector_input(same_work_engine)
    server = None if args.no_api else Server(tmp)

    def direct(engine: Any) -> str:
        out: Any = engine(str(page))
        return "".join(out.txts or ())

    def job(labels: bool, document: bool = True) -> str:
        params = {"labels": labels, "document": document}
        request = JobRequest(task="recognize", inputs={"image": page}, params=params)
        result = run_job(request, settings=settings, cache=cache)
        assert result.status == "succeeded", result.message
        return "".join(b["text"] for b in result.model_dump()["text_blocks"])

    def api() -> str:
        assert server is not None
        with page.open("rb") as fh:
            r = httpx.post(
                f"{server.url}/api/v1/recognize",
                files={"image": fh},
                data={"labels": "false", "document": "false"},
                timeout=120,
            )
        r.raise_for_status()
        return "".join(b["text"] for b in r.json()["text_blocks"])

    runs: dict[str, Any] = {
        "direct": lambda: direct(direct_engine),
        "direct, same work": lambda: direct(same_work_engine),
        "run_job": lambda: job(False, document=False),
        "run_job + document": lambda: job(False),
        "run_job + labels": lambda: job(True),
    }

    def api_batch(n: int) -> str:
        assert server is not None
        data = page.read_bytes()
        files = [("image", (f"page-{i}.png", data, "image/png")) for i in range(n)]
        form = {"labels": "false", "document": "false"}
        r = httpx.post(f"{server.url}/api/v1/recognize", files=files, data=form, timeout=600)
        r.raise_for_status()
        items = r.json()["items"]
        assert [i["image_path"] for i in items] == [f"page-{i}.png" for i in range(n)]
        return "".join(b["text"] for b in items[-1]["text_blocks"])

    pages_per_call: dict[str, int] = {}
    if server is not None:
        server.wait_ready()
        runs["API"] = api
        if args.batch > 1:
            runs[f"API batch of {args.batch}"] = lambda: api_batch(args.batch)
            pages_per_call[f"API batch of {args.batch}"] = args.batch
    rng = random.Random(7)
    try:
        texts = {name: fn() for name, fn in runs.items()}  # warm-up: loads models, first-call costs
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            # one round: each variant once, in a shuffled order (no variant always follows another)
            order = list(runs)
            rng.shuffle(order)
            for name in order:
                t0 = time.perf_counter()
                runs[name]()
                times[name].append((time.perf_counter() - t0) / pages_per_call.get(name, 1))
    finally:
        if server is not None:
            server.stop()

    medians = {name: statistics.median(ts) for name, ts in times.items()}
    fastest = {name: min(ts) for name, ts in times.items()}
    if os.environ.get("BENCH_RAW"):
        print({name: [round(t, 3) for t in ts] for name, ts in times.items()})

    def round_ratios(name: str, peer: str) -> list[float]:
        return sorted(t / d for t, d in zip(times[name], times[peer], strict=True))

    def quartiles(values: list[float]) -> str:
        q = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        return f"x{q[1]:.3f} [{q[0]:.3f}-{q[2]:.3f}]"

    peer = "direct, same work"
    print(f"page 2048x1536, {len(truth)} characters, {args.repeats} rounds")
    print(
        f"  {'':<18} {'median':>8} {'fastest':>8}   per-round ratio to {peer}: median [quartiles]   page CER"
    )
    for name in times:
        # CER over the page in the order returned: direct rapidocr has no reading order across columns
        print(
            f"  {name:<18} {medians[name]:6.3f} s {fastest[name]:6.3f} s   "
            f"{quartiles(round_ratios(name, peer)):<28}   {cer(truth, texts[name]):.1%}"
        )
    change = fastest[peer] / fastest["direct"]
    print(f"  genserve's change to the model work: {peer} / direct = x{change:.3f} (fastest runs)")
    ok_speed = medians["run_job + document"] <= 3.0
    print(
        f"target <= 3 s per image: {'met' if ok_speed else 'NOT met'} "
        f"({medians['run_job + document']:.2f} s, median of run_job + document)"
    )
    own = fixed_work(page, tmp, same_work_engine, fastest[peer], repeats=max(15, args.repeats))
    # Noise on these machines only ever adds time, and swings a round by +-10 %: the fastest run of
    # each path is its cleanest end-to-end figure; the memoized run measures the added work itself.
    paths = [n for n in ("run_job", "API") if n in times]
    end_to_end = max(fastest[n] / fastest[peer] for n in paths)
    added = max(own.values())
    verdict = "met" if end_to_end <= 1.05 and added <= 0.05 else "NOT met"
    print(
        f"target overhead <= 1.05 over {peer}: {verdict} "
        f"(fastest runs x{end_to_end:.3f}; own work adds {added:.1%} of a page)"
    )


def fixed_work(page: Path, tmp: Path, engine: Any, page_seconds: float, repeats: int) -> dict[str, float]:
    """Each path's own work per page with the models' answer memoized (rapidocr's ``run_ocr_steps``):
    what genserve adds over a direct call, measured without the models' run-to-run noise."""
    with warnings.catch_warnings():  # starlette's note on its test client's transport
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from rapidocr import RapidOCR

    from genserve.api.app import create_app
    from genserve.config import Settings
    from genserve.jobs import JobRequest, run_job
    from genserve.jobs.runner import BackendCache

    real_steps = RapidOCR.run_ocr_steps
    memo: dict[tuple[int, ...], tuple[Any, dict[str, Any]]] = {}

    def memo_steps(self: Any, img: Any, op_record: dict[str, Any]) -> Any:
        if img.shape not in memo:
            out = real_steps(self, img, op_record)
            memo[img.shape] = (out, dict(op_record))
        out, record = memo[img.shape]
        op_record.update(record)  # the steps note their padding there for the final boxes
        return out

    settings = Settings(output_dir=tmp / "fixed-outputs", data_dir=tmp / "fixed-data")
    cache = BackendCache(1)

    def job(document: bool = False) -> None:
        params = {"labels": False, "document": document}
        request = JobRequest(task="recognize", inputs={"image": page}, params=params)
        assert run_job(request, settings=settings, cache=cache).status == "succeeded"

    RapidOCR.run_ocr_steps = memo_steps  # type: ignore[method-assign]
    try:
        with TestClient(create_app(settings, webui=False)) as client:

            def api() -> None:
                with page.open("rb") as fh:
                    files = {"image": ("page.png", fh, "image/png")}
                    form = {"labels": "false", "document": "false"}
                    r = client.post("/api/v1/recognize", files=files, data=form)
                assert r.status_code == 200, r.text

            runs = {
                "direct": lambda: engine(str(page)),
                "run_job": job,
                "API (in-process)": api,
                "run_job + document": lambda: job(document=True),
            }
            for fn in runs.values():
                fn()
            times: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(repeats):
                for name, fn in runs.items():
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
    finally:
        RapidOCR.run_ocr_steps = real_steps  # type: ignore[method-assign]
    own = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"each path's own work per page, models memoized ({repeats} rounds, medians):")
    for name, seconds in own.items():
        added = seconds - own["direct"]
        share = f"   adds {added * 1000:5.1f} ms = {added / page_seconds:.1%} of a page"
        print(f"  {name:<18} {seconds * 1000:6.1f} ms{share if name != 'direct' else ''}")
    # the document's layout model is model work the peer does not do: shown, not in the overhead
    return {
        name: (seconds - own["direct"]) / page_seconds
        for name, seconds in own.items()
        if name not in ("direct", "run_job + document")
    }


if __name__ == "__main__":
    main()

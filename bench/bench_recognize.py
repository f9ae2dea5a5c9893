"""recognize on a 2048x1536 page: seconds per image, and genserve's overhead over a direct rapidocr call.

    .venv/bin/python bench/bench_recognize.py [--repeats 9] [--no-api]

The page: a heading and two columns of Chinese/English paragraphs (21 lines), rendered with
fonts-wqy-microhei. Measured in the same run, in rounds (each variant once per round, shuffled):

- **direct**: ``RapidOCR()(path)``, rapidocr's own defaults (it decodes the file and detects on the
  page scaled to 2000x1500, as genserve does);
- **run_job**: the whole job path in-process (validation, decode, orientation check, OCR, layout,
  output folder, result.json), backend warm, labels off (so both do the same model work);
- **API**: ``POST /api/v1/recognize`` (multipart upload) to a real ``genserve serve`` on 127.0.0.1,
  labels off;
- **run_job + labels**: the same with EfficientNet-Lite0 labels on (reported, not in the ratio).

Targets (source document 003): ≤ 3 s per image on this CPU; overhead ≤ 1.05, taken as the median
over rounds of each round's run_job / direct and API / direct (the machine's speed drifts between rounds).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
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
    args = parser.parse_args()

    import httpx
    from rapidocr import RapidOCR

    from genserve.config import Settings
    from genserve.jobs import JobRequest, run_job
    from genserve.jobs.runner import BackendCache

    tmp = Path(tempfile.mkdtemp(prefix="bench-recognize-"))
    page = tmp / "page.png"
    truth = render_page(page)
    settings = Settings(output_dir=tmp / "outputs", data_dir=tmp / "data")
    cache = BackendCache(1)
    direct_engine = RapidOCR(params={"Global.log_level": "error"})
    server = None if args.no_api else Server(tmp)

    def direct() -> str:
        out: Any = direct_engine(str(page))
        return "".join(out.txts or ())

    def job(labels: bool) -> str:
        request = JobRequest(task="recognize", inputs={"image": page}, params={"labels": labels})
        result = run_job(request, settings=settings, cache=cache)
        assert result.status == "succeeded", result.message
        return "".join(b["text"] for b in result.model_dump()["text_blocks"])

    def api() -> str:
        assert server is not None
        with page.open("rb") as fh:
            r = httpx.post(
                f"{server.url}/api/v1/recognize", files={"image": fh}, data={"labels": "false"}, timeout=120
            )
        r.raise_for_status()
        return "".join(b["text"] for b in r.json()["text_blocks"])

    runs: dict[str, Any] = {
        "direct": direct,
        "run_job": lambda: job(False),
        "run_job + labels": lambda: job(True),
    }
    if server is not None:
        server.wait_ready()
        runs["API"] = api
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
                times[name].append(time.perf_counter() - t0)
    finally:
        if server is not None:
            server.stop()

    medians = {name: statistics.median(ts) for name, ts in times.items()}
    # the machine's speed drifts over a run: a ratio is taken within each round, then the median
    ratios = {
        name: statistics.median(t / d for t, d in zip(ts, times["direct"], strict=True))
        for name, ts in times.items()
    }
    print(f"page 2048x1536, {len(truth)} characters, {args.repeats} rounds, medians:")
    for name, seconds in medians.items():
        # CER over the page in the order returned: direct rapidocr has no reading order across columns
        print(
            f"  {name:<18} {seconds:6.3f} s   x{ratios[name]:.3f} of direct (median per-round ratio)"
            f"   page CER {cer(truth, texts[name]):.1%}"
        )
    ok_speed = medians["run_job"] <= 3.0
    overhead = max(ratios[n] for n in ("run_job", "API") if n in ratios)
    print(f"target <= 3 s per image: {'met' if ok_speed else 'NOT met'} ({medians['run_job']:.2f} s)")
    print(f"target overhead <= 1.05: {'met' if overhead <= 1.05 else 'NOT met'} (x{overhead:.3f})")


if __name__ == "__main__":
    sys.exit(main())

"""Recognition metrics: character error rate of the text read, recall of the expected labels."""

from __future__ import annotations

import unicodedata
from typing import Any

from genserve.gates.context import MeasureContext
from genserve.gates.registry import MetricSkipped, metric


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def normalize_text(text: str) -> str:
    """NFKC (full-width -> half-width), case-folded, whitespace removed: CER counts characters read."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def character_error_rate(expected: str, recognized: str) -> float:
    ref, hyp = normalize_text(expected), normalize_text(recognized)
    if not ref:
        raise MetricSkipped("the expected text is empty")
    return edit_distance(ref, hyp) / len(ref)


def recognized_text(result: dict[str, Any]) -> str:
    return "".join(str(b.get("text", "")) for b in result.get("text_blocks") or [])


def recognized_labels(result: dict[str, Any]) -> list[str]:
    objects = result.get("objects") or []
    ranked = sorted(objects, key=lambda o: -float(o.get("score", 0.0) or 0.0))
    return [str(o.get("label") or o.get("name") or "") for o in ranked]


@metric(
    "cer",
    unit="fraction",
    direction="lower",
    version="1",
    description="Character error rate: edit distance between the text read and the expected text "
    "(NFKC, case and whitespace ignored) / expected length",
    tasks=("recognize",),
)
def cer(ctx: MeasureContext) -> float:
    expected = ctx.expected.get("text")
    if expected is None:
        raise MetricSkipped("the asset has no expected text (expect: {text: ...})")
    got = recognized_text(ctx.result)
    ctx.note("cer", recognized=got[:200])
    return character_error_rate(str(expected), got)


@metric(
    "label_recall",
    unit="fraction",
    direction="higher",
    version="1",
    description="Recall@k: the fraction of expected labels among the top-k labels returned "
    "(k = the job's top_k)",
    tasks=("recognize",),
)
def label_recall(ctx: MeasureContext) -> float:
    expected = ctx.expected.get("labels")
    if not expected:
        raise MetricSkipped("the asset has no expected labels (expect: {labels: [...]})")
    k = int(ctx.params().get("top_k") or 5)
    top = {normalize_text(x) for x in recognized_labels(ctx.result)[:k]}
    found = [x for x in expected if normalize_text(str(x)) in top]
    ctx.note("label_recall", k=k, found=found, missing=[x for x in expected if x not in found])
    return len(found) / len(expected)

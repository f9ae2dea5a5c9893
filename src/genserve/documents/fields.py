"""Key fields: a label in the text ("合计", "Total", "开票日期", "Tel") and the typed value beside it.

:data:`FIELD_RULES` is the table: each field's type and its labels (regular expressions over the
normalized, case-folded row text), most specific first. A value is looked for to the right of its
label on the same row, then on the row below; among several labelled candidates of one field the
rule that comes first wins ("价税合计" before "合计"), then the one read first.

Fields found without labels: dates, times, phone numbers and unified social credit codes (their
check character must match) anywhere on the page; the merchant from the title region or the most
prominent line at the top.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from genserve.backends.layout import is_cjk
from genserve.documents import values
from genserve.documents.page import Page, Row


@dataclass(frozen=True)
class FieldRule:
    name: str
    kind: str  # amount | date | time | code | tax_id | phone | text
    labels: tuple[str, ...]  # regular expressions, most specific first


_NOT_SUB = r"(?<!sub)(?<!sub-)(?<!sub )"
FIELD_RULES: tuple[FieldRule, ...] = (
    FieldRule(
        "total",
        "amount",
        (
            r"价税合计",
            r"应付金额|应付总额|应付|应收|"
            r"amount due|balance due|total due|grand total|total amount|total payable",
            r"总计|总金额|总价|总额|合计金额|金额合计|合计|"
            + _NOT_SUB
            + r"\btotal\b(?! ?(?:qty|quantity|items?|count|savings))",
        ),
    ),
    FieldRule("subtotal", "amount", (r"小计|不含税金额|sub-? ?total",)),
    FieldRule(
        "tax",
        "amount",
        (
            r"(?<!纳)税额|税金|(?<!纳)增值税(?!发票|专用|普通|电子)|"
            r"\b(?:sales )?tax\b(?! ?(?:id|no|number|#|rate|reg))|\bvat\b(?! ?(?:no|reg|number|id|#))|"
            r"\bgst\b|\bhst\b",
        ),
    ),
    FieldRule("discount", "amount", (r"优惠|折扣|减免|立减|\bdiscount\b|\bcoupon\b|\bsavings?\b",)),
    FieldRule("tip", "amount", (r"小费|服务费|\btip\b|gratuity|service charge",)),
    FieldRule(
        "paid",
        "amount",
        (
            r"实付金额|实付|实收|已付|付款金额|微信支付|支付宝|现金|银行卡|刷卡|"
            r"\bcash\b|amount paid|\bpaid\b|\bvisa\b|mastercard|\bcard\b",
        ),
    ),
    FieldRule("change", "amount", (r"找零|找赎|\bchange\b",)),
    FieldRule(
        "date",
        "date",
        (
            r"开票日期|交易日期|消费日期|日期|交易时间|消费时间|时间|"
            r"invoice date|date of issue|issue date|\bdate\b|\bissued\b",
        ),
    ),
    FieldRule("due_date", "date", (r"到期日|付款期限|due date|payment due|\bdue\b",)),
    FieldRule("invoice_code", "code", (r"发票代码",)),
    FieldRule(
        "invoice_number",
        "code",
        (r"发票号码|发票号|票据号码|invoice (?:no|number|#)\.?|invoice ?#|\binv(?:oice)? ?(?:no|#)\.?",),
    ),
    FieldRule(
        "receipt_number",
        "code",
        (
            r"小票号|流水号|交易号|订单号|单据号|收据号|凭证号|票号|单号|"
            r"receipt (?:no|number|#)\.?|receipt ?#|"
            r"order (?:no|number|#)\.?|order ?#|transaction (?:no|id|#)\.?|\btrans(?:action)? ?#|\btxn\b|"
            r"check ?#|ticket (?:no|#)\.?",
        ),
    ),
    FieldRule(
        "tax_id",
        "tax_id",
        (
            r"纳税人识别号|统一社会信用代码|社会信用代码|信用代码|税号|"
            r"tax id|tax no\.?|\btin\b|vat (?:no|reg|number)\.?|\bein\b|\babn\b",
        ),
    ),
    FieldRule("phone", "phone", (r"联系电话|电话|手机|客服|热线|\btel\b\.?|telephone|\bphone\b|mobile",)),
    FieldRule(
        "merchant",
        "text",
        (
            r"销售方名称|销方名称|商户名称|收款单位|收款方|商户|店名|商家|"
            r"merchant|sold by|\bseller\b|\bvendor\b",
        ),
    ),
    FieldRule("buyer", "text", (r"购买方名称|购方名称|付款单位|bill to|billed to|\bcustomer\b",)),
)
RULES_BY_NAME = {rule.name: rule for rule in FIELD_RULES}
AMOUNT_FIELDS = tuple(r.name for r in FIELD_RULES if r.kind == "amount")
# words that name a kind of document rather than the business on it
GENERIC_TITLE = re.compile(
    r"发票|收据|小票|收银|菜单|账单|结账单|欢迎|谢谢|receipt|invoice|\bmenu\b|\bbill\b|welcome|thank", re.I
)
_SEPARATORS = " :：.#-·"
_LABEL_START = " :：(（[【|/·*"  # a Chinese label starts a block, or follows one of these


@dataclass
class Found:
    name: str
    value: Any
    kind: str
    row: int
    blocks: list[int]
    text: str
    label: str | None = None
    priority: int = 0
    extra: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "type": self.kind}
        out.update(self.extra or {})
        out.update(label=self.label, text=self.text, text_blocks=sorted(set(self.blocks)))
        return out


def _fold(text: str) -> str:
    return text.casefold()


@lru_cache(maxsize=512)
def loose(pattern: str) -> re.Pattern[str]:
    """The pattern with room for a space between two Chinese characters ("合 计" is "合计")."""
    return re.compile(re.sub(r"(?<=[\u3400-\u9fff])(?=[\u3400-\u9fff])", r"\\s?", pattern))


def label_matches(row: Row) -> list[tuple[FieldRule, int, re.Match[str]]]:
    """(rule, priority, match) for every field label in the row; a label inside a longer one
    ("合计" in "价税合计", "date" in "due date") counts once, for the longer."""
    folded = _fold(row.text)
    hits: list[tuple[FieldRule, int, re.Match[str]]] = []
    for rule in FIELD_RULES:
        for priority, pattern in enumerate(rule.labels):
            for m in loose(pattern).finditer(folded):
                if is_cjk(folded[m.start()]) and m.start() > 0 and folded[m.start() - 1] not in _LABEL_START:
                    continue  # "服务费" inside "技术服务费" is a name, not a label
                hits.append((rule, priority, m))
    hits.sort(key=lambda h: (-(h[2].end() - h[2].start()), h[2].start()))
    kept: list[tuple[FieldRule, int, re.Match[str]]] = []
    for hit in hits:
        m = hit[2]
        if not any(m.start() < k[2].end() and m.end() > k[2].start() for k in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: h[2].start())


def is_label_row(row: Row, names: tuple[str, ...] = AMOUNT_FIELDS) -> bool:
    return any(rule.name in names for rule, _, _ in label_matches(row))


def _values(kind: str, text: str, month_first: bool) -> list[values.Match]:
    if kind == "amount":
        return values.money(text) or values.amounts(text)
    if kind == "date":
        return values.dates(text, month_first)
    if kind == "time":
        return values.times(text)
    if kind == "phone":
        return values.phones(text)
    if kind == "tax_id":
        return values.tax_ids(text) or values.codes(text.upper())
    if kind == "code":
        return values.codes(text.upper())
    return []


def _text_value(text: str) -> values.Match | None:
    """The free text after a label (a name): up to the next label-like break, with letters in it."""
    stripped = text.lstrip(_SEPARATORS)
    offset = len(text) - len(stripped)
    value = stripped.strip()
    if sum(c.isalpha() or is_cjk(c) for c in value) < 2:
        return None
    return values.Match(value, offset, offset + len(stripped.rstrip()), value, {})


def page_currency(page_rows: list[Row]) -> tuple[str | None, str]:
    """The page's currency: the one printed most, else CNY on a Chinese page; and where it came from."""
    printed = Counter(
        m.extra["currency"] for row in page_rows for m in values.amounts(row.text) if m.extra["currency"]
    )
    if printed:
        return printed.most_common(1)[0][0], "page"
    chinese = sum(is_cjk(c) for row in page_rows for c in row.text)
    return ("CNY", "language") if chinese >= 4 else (None, "none")


def find_fields(page: Page, rows: list[Row] | None = None) -> dict[str, dict[str, Any]]:
    """The key fields of a page: name -> {value, type, label, text, text_blocks, ...}."""
    rows = page.rows() if rows is None else rows
    currency, currency_source = page_currency(rows)
    month_first = currency == "USD"
    candidates: list[Found] = []
    # 1. labelled values: to the right of the label on its row, else on the next row
    for r, row in enumerate(rows):
        labels = label_matches(row)
        for n, (rule, priority, label) in enumerate(labels):
            end = labels[n + 1][2].start() if n + 1 < len(labels) else len(row.text)
            found = _labelled_value(rule, row, r, label, end, rows, month_first)
            if found is not None:
                found.priority = priority
                candidates.append(found)
    # 2. unlabelled values anywhere: dates, times, phones, tax IDs (checked)
    for r, row in enumerate(rows):
        for kind, name in (("date", "date"), ("time", "time"), ("phone", "phone")):
            for m in _values(kind, row.text, month_first):
                candidates.append(
                    Found(
                        name,
                        m.value,
                        kind,
                        r,
                        row.blocks(m.start, m.end),
                        m.text,
                        priority=9,
                        extra=m.extra or None,
                    )
                )
        for m in values.tax_ids(row.text):
            if m.extra["valid"]:
                candidates.append(
                    Found("tax_id", m.value, "tax_id", r, row.blocks(m.start, m.end), m.text, priority=9)
                )
    # 3. the best candidate of each field: its rule's most specific label, then the first read
    fields: dict[str, dict[str, Any]] = {}
    by_name: dict[str, list[Found]] = {}
    for c in candidates:
        by_name.setdefault(c.name, []).append(c)
    for name, options in by_name.items():
        options.sort(key=lambda c: (c.priority, c.row))
        best = options[0]
        entry = best.as_dict()
        others = sorted({str(c.value) for c in options if c.value != best.value})
        if others and name in ("tax_id", "phone"):
            entry["others"] = others
        fields[name] = entry
    # 4. amounts carry the currency printed beside them, else the page's
    for name in AMOUNT_FIELDS:
        if name in fields and not fields[name].get("currency"):
            fields[name]["currency"] = currency
            fields[name]["currency_from"] = currency_source
        elif name in fields:
            fields[name]["currency_from"] = "printed"
        if name in fields:
            fields[name].pop("decimals", None)
            fields[name].pop("money", None)
    # 5. a date and a time on one row make a datetime; the time of the chosen date's row wins
    _join_date_time(fields, by_name)
    # 6. the merchant: labelled, else the title or the most prominent line at the top
    if "merchant" not in fields:
        merchant = _merchant(page, rows)
        if merchant is not None:
            fields["merchant"] = merchant
    return fields


def _labelled_value(
    rule: FieldRule,
    row: Row,
    r: int,
    m: re.Match[str],
    end: int,
    rows: list[Row],
    month_first: bool,
) -> Found | None:
    label = row.text[m.start() : m.end()]
    right = row.text[m.end() : end]
    label_blocks = row.blocks(m.start(), m.end())
    if rule.kind == "text":
        v = _text_value(right)
        if v is not None:
            return Found(
                rule.name,
                v.value,
                "text",
                r,
                label_blocks + row.blocks(m.end() + v.start, m.end() + v.end),
                v.text,
                label,
            )
        return None
    found = _values(rule.kind, right, month_first)
    if found:
        v = found[-1] if rule.kind == "amount" and "小写" in right else found[0]
        return Found(
            rule.name,
            v.value,
            rule.kind,
            r,
            label_blocks + row.blocks(m.end() + v.start, m.end() + v.end),
            f"{label} {v.text}".strip(),
            label,
            extra=v.extra or None,
        )
    # the label ends its row: the value may sit on the next row, below it
    if right.strip(_SEPARATORS) or r + 1 >= len(rows):
        return None
    below = rows[r + 1]
    if below.cy - row.cy > 2.5 * max(row.height, below.height):
        return None
    found = _values(rule.kind, below.text, month_first)
    if not found:
        return None
    v = found[0]
    return Found(
        rule.name,
        v.value,
        rule.kind,
        r,
        label_blocks + below.blocks(v.start, v.end),
        f"{label} {v.text}",
        label,
        extra=v.extra or None,
    )


def _join_date_time(fields: dict[str, dict[str, Any]], by_name: dict[str, list[Found]]) -> None:
    date = fields.get("date")
    if date is None:
        return
    rows_of_date = {c.row for c in by_name.get("date", []) if c.value == date["value"]}
    same_row = [c for c in by_name.get("time", []) if c.row in rows_of_date]
    if same_row:
        best = sorted(same_row, key=lambda c: (c.row, c.priority))[0]
        fields["time"] = best.as_dict()
    if "time" in fields:
        fields["datetime"] = {
            "value": f"{date['value']}T{fields['time']['value']}",
            "type": "datetime",
            "label": date.get("label"),
            "text": f"{date['text']} {fields['time']['text']}" if same_row else date["text"],
            "text_blocks": sorted(set(date["text_blocks"]) | set(fields["time"]["text_blocks"])),
        }


def _merchant(page: Page, rows: list[Row]) -> dict[str, Any] | None:
    """The business's name: the title region's text, else the most prominent line in the top quarter."""
    titles = [r for r in page.regions if r.get("type") == "title"]
    candidates: list[tuple[float, Row]] = []
    for region in titles:
        tokens = page.region_tokens(region)
        for row in page.rows(tokens):
            candidates.append((-1e9 + row.cy, row))  # titles first, the top one first
    if not candidates and rows:
        top = min(row.cy for row in rows)
        span = max(row.cy for row in rows) - top
        heights = statistics.median(row.height for row in rows)
        for row in rows:
            if row.cy - top <= 0.25 * span + heights:
                candidates.append((-row.height, row))  # the tallest text first
    for _, row in sorted(candidates, key=lambda c: c[0]):
        name = re.sub(r"^(?:欢迎光临|欢迎|welcome to)\s*", "", row.text, flags=re.I).strip(_SEPARATORS)
        letters = sum(c.isalpha() or is_cjk(c) for c in name)
        if letters < 2 or GENERIC_TITLE.search(name) or label_matches(row):
            continue
        if values.dates(name) or values.phones(name) or values.money(name):
            continue
        return {
            "value": name,
            "type": "text",
            "label": None,
            "text": row.text,
            "text_blocks": row.blocks(),
        }
    return None

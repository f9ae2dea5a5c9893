"""Line items from the geometry: a name and its numbers on one row, or in aligned columns.

With a header row ("商品 数量 单价 金额", "Item Qty Price Amount") each word below it goes to the
column whose header it sits under. Without one, a row's words are read left to right: words with
letters make the name, the numbers after it are the quantity, unit price and amount, told apart
by their form (``x2``, ``@3.50``, whole numbers, two decimals) and checked by
quantity x unit price = amount. A row holding only a name followed by a row holding only numbers
is one item ("Green tea" / "2 x 3.50   7.00"). A row with two priced names (a two-column menu)
gives two items. Rows with a field label (合计, Total, 找零, ...) are never items.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from genserve.backends.layout import is_cjk
from genserve.documents import values
from genserve.documents.fields import FIELD_RULES, label_matches, loose
from genserve.documents.page import Row, normalize

COLUMN_WORDS: dict[str, str] = {
    "name": r"商品名称|项目名称|货物或应税劳务、?服务名称|货物名称|商品|品名|名称|项目|菜品|菜名|"
    r"\bitems?\b|description|\bproducts?\b|\bname\b|\bgoods\b|\bservices?\b|\bdish\b",
    "quantity": r"数量|件数|\bqty\b\.?|quantity",
    "unit_price": r"单价|价格|售价|unit price|\bprice\b|\brate\b|\beach\b",
    "amount": r"金额|小计|\bamount\b|line total|\btotal\b|\bsubtotal\b",
    "unit": r"单位|\bunit\b(?! price)",
    "spec": r"规格型号|规格|型号",
    "tax_rate": r"税率|征收率|tax rate",
    "tax": r"(?<!纳)税额|\btax\b(?! rate)",
}
QTY_MARK = re.compile(r"^(?:[x×*]\s?(?P<a>\d+(?:\.\d+)?)|(?P<b>\d+(?:\.\d+)?)\s?[x×*])$", re.I)
UNIT_MARK = re.compile(r"^@\s?")
MAX_QUANTITY = 999
# a field label ends the items (合计, 小计, Total, 找零 ...), and no item is named like a field
STOP_FIELDS = tuple(r.name for r in FIELD_RULES if r.kind == "amount")
SKIP_FIELDS = tuple(r.name for r in FIELD_RULES)


@dataclass
class Word:
    text: str
    x0: float
    x1: float
    block: int

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2


@dataclass
class Item:
    name: str
    quantity: float | None = None
    unit_price: float | None = None
    amount: float | None = None
    blocks: list[int] = field(default_factory=list)
    row: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "quantity": _tidy(self.quantity),
            "unit_price": self.unit_price,
            "amount": self.amount,
        }
        out.update(self.extra)
        out["text_blocks"] = sorted(set(self.blocks))
        return out


def _tidy(x: float | None) -> float | int | None:
    return int(x) if x is not None and float(x).is_integer() else x


def _width(text: str) -> float:
    return sum(2.0 if is_cjk(c) or unicodedata.east_asian_width(c) in "WF" else 1.0 for c in text) or 1.0


def words(row: Row) -> list[Word]:
    """The row's blocks split at spaces, each word given its share of its block's width."""
    out = []
    for token in row.tokens:
        text = normalize(token.text)
        total = _width(text)
        for part in re.finditer(r"\S+", text):
            x0 = token.x0 + token.width * _width(text[: part.start()]) / total if part.start() else token.x0
            x1 = token.x0 + token.width * _width(text[: part.end()]) / total
            out.append(Word(part.group(0), x0, x1, token.index))
    return out


def _number(text: str) -> tuple[float, bool] | None:
    """(value, money-like) of a word that is a number, with or without a currency sign."""
    found = values.amounts(text)
    if len(found) == 1 and found[0].start == 0 and found[0].end == len(text):
        return float(found[0].value), bool(found[0].extra["money"])
    return None


def _has_name(text: str) -> bool:
    return any(c.isalpha() or is_cjk(c) for c in text)


# -- a header row ---------------------------------------------------------------------------


def header_columns(row: Row) -> dict[str, tuple[float, float]] | None:
    """Column name -> the header word's x range, when the row is a header (a name and a number
    column, or two number columns)."""
    found: dict[str, tuple[float, float]] = {}
    for word in words(row):
        folded = word.text.casefold().strip(":：")
        for column, pattern in COLUMN_WORDS.items():
            if column not in found and loose(pattern).fullmatch(folded):
                found[column] = (word.x0, word.x1)
                break
    numeric = {"quantity", "unit_price", "amount"} & set(found)
    if ("name" in found and numeric) or len(numeric) >= 2:
        return found
    return None


def _header_column(word: Word, columns: dict[str, tuple[float, float]]) -> str:
    """The column under whose header the word sits: the one it overlaps most, else the nearest;
    a word ending left of every number column belongs to the name."""
    others = [span for c, span in columns.items() if c != "name"]
    if "name" in columns and others and word.x1 <= min(x0 for x0, _ in others):
        return "name"
    return max(
        columns,
        key=lambda c: (
            min(word.x1, columns[c][1]) - max(word.x0, columns[c][0]),
            -abs(word.cx - sum(columns[c]) / 2),
        ),
    )


def _by_header(row: Row, columns: dict[str, tuple[float, float]], r: int) -> Item | None:
    cells: dict[str, list[Word]] = {}
    for word in words(row):
        cells.setdefault(_header_column(word, columns), []).append(word)
    name_words = cells.get("name") or []
    name = " ".join(w.text for w in name_words)
    if not _has_name(name):
        return None
    item = Item(name=_clean_name(name), row=r, blocks=[w.block for ws in cells.values() for w in ws])
    for column in ("quantity", "unit_price", "amount", "tax"):
        parsed = [_number(w.text) for w in cells.get(column, [])]
        nums = [p[0] for p in parsed if p is not None]
        if nums:
            value = nums[-1]
            if column == "quantity":
                item.quantity = value
            elif column == "unit_price":
                item.unit_price = value
            elif column == "amount":
                item.amount = value
            else:
                item.extra["tax"] = value
    for column in ("unit", "spec", "tax_rate"):
        if cells.get(column):
            item.extra[column] = " ".join(w.text for w in cells[column])
    if item.amount is None and item.unit_price is None:
        return None
    return _complete(item)


# -- rows without a header -------------------------------------------------------------------


def _free_items(row: Row, r: int) -> list[Item]:
    """Items of a row without a header: names followed by their numbers, left to right."""
    items: list[Item] = []
    name: list[Word] = []
    nums: list[tuple[str, float, bool, Word]] = []  # (role hint, value, money-like, word)

    def close() -> None:
        if name and nums:
            item = _from_numbers(" ".join(w.text for w in name), nums, r)
            if item is not None:
                item.blocks = [w.block for w in name] + [n[3].block for n in nums]
                items.append(item)

    for word in words(row):
        text = word.text
        qty = QTY_MARK.match(text)
        if qty:
            nums.append(("quantity", float(qty.group("a") or qty.group("b")), False, word))
            continue
        if text in ("x", "X", "×", "*") and nums:
            _, value, money, w = nums[-1]
            nums[-1] = ("quantity", value, money, w)
            continue
        unit = UNIT_MARK.match(text)
        parsed = _number(text[unit.end() :] if unit else text)
        if parsed is not None:
            nums.append(("unit_price" if unit else "", parsed[0], parsed[1], word))
            continue
        if not _has_name(text):
            continue  # punctuation, dot leaders
        if nums and any(n[2] for n in nums):  # a new name after a price: the next item
            close()
            name, nums = [], []
        name.append(word)
    close()
    return items


def _from_numbers(name: str, nums: list[tuple[str, float, bool, Word]], r: int) -> Item | None:
    money = [n for n in nums if n[2] or n[0] == "unit_price"]
    if not money:
        return None  # a name with a count or a code, no price
    item = Item(name=_clean_name(name), row=r)
    item.amount = money[-1][1]
    marked = [n for n in nums if n[0] == "quantity"]
    whole = [
        n for n in nums if not n[2] and n[0] == "" and float(n[1]).is_integer() and 0 < n[1] <= MAX_QUANTITY
    ]
    if marked:
        item.quantity = marked[0][1]
    elif whole:
        item.quantity = whole[0][1]
    priced = [n for n in money[:-1]]
    if priced:
        item.unit_price = priced[-1][1]
    elif any(n[0] == "unit_price" for n in money):
        item.unit_price, item.amount = money[-1][1], None
    return _complete(item)


def _complete(item: Item) -> Item:
    """Fill what the others imply and say whether quantity x unit price = amount."""
    q, u, a = item.quantity, item.unit_price, item.amount
    if q is not None and u is not None and a is None:
        item.amount = round(q * u, 2)
    elif u is not None and a is not None and q is None and u > 0:
        ratio = a / u
        if abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1:
            item.quantity = float(round(ratio))
    elif q is not None and a is not None and u is None and q > 0:
        item.unit_price = round(a / q, 2)
    q, u, a = item.quantity, item.unit_price, item.amount
    if q is not None and u is not None and a is not None:
        item.extra["consistent"] = abs(q * u - a) < 0.01 + 1e-9
    return item


def _clean_name(name: str) -> str:
    return re.sub(r"[\s.…·_-]+$", "", re.sub(r"^\d{1,3}[.、)]\s*", "", name)).strip()


def find_items(rows: list[Row]) -> list[Item]:
    """Line items of a page's rows, top to bottom."""
    items: list[Item] = []
    columns: dict[str, tuple[float, float]] | None = None
    pending_name: tuple[int, Row] | None = None
    for r, row in enumerate(rows):
        labels = label_matches(row)
        if any(rule.name in STOP_FIELDS for rule, _, _ in labels):
            if items:
                break  # totals end the items
            continue
        header = header_columns(row)
        if header is not None:
            columns, pending_name = header, None
            continue
        if labels and any(rule.name in SKIP_FIELDS for rule, _, _ in labels):
            continue  # 日期, 电话, 单号 ... rows
        found = [_by_header(row, columns, r)] if columns else _free_items(row, r)
        found = [f for f in found if f is not None]
        if not found and not columns:
            found = _continued(pending_name, row, r)
        if found:
            items.extend(found)
            pending_name = None
        elif _has_name(row.text) and not any(_number(w.text) for w in words(row)):
            pending_name = (r, row)
        else:
            pending_name = None
    return items


def _continued(pending: tuple[int, Row] | None, row: Row, r: int) -> list[Item]:
    """A row of numbers only, under a row holding only a name: one item on two rows."""
    if pending is None or _has_name(re.sub(r"[x×*@]", "", row.text, flags=re.I)):
        return []
    prev_r, prev = pending
    if prev_r != r - 1 or row.cy - prev.cy > 2.5 * max(row.height, prev.height):
        return []
    merged = _free_items(Row(prev.tokens + row.tokens), prev_r)
    return merged[:1]


def sum_check(items: list[Item], fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Do the items' amounts add up to the subtotal (when printed) or the total?"""
    amounts = [i.amount for i in items if i.amount is not None]
    check: dict[str, Any] = {"items_sum": round(sum(amounts), 2) if amounts else None}
    target_name = "subtotal" if "subtotal" in fields else "total"
    target = fields.get(target_name, {}).get("value")
    if amounts and isinstance(target, int | float):
        check["compared_with"] = target_name
        check["sum_matches"] = abs(round(sum(amounts), 2) - float(target)) < 0.005
    else:
        check["sum_matches"] = None
    # subtotal + tax + tip - discount = total, when a subtotal is printed
    parts = {k: fields.get(k, {}).get("value") for k in ("subtotal", "tax", "tip", "discount", "total")}
    if isinstance(parts["subtotal"], int | float) and isinstance(parts["total"], int | float):
        expected = (
            float(parts["subtotal"])
            + float(parts["tax"] or 0)
            + float(parts["tip"] or 0)
            - abs(float(parts["discount"] or 0))
        )
        check["totals_add_up"] = abs(expected - float(parts["total"])) < 0.005
    return check

"""Typed values in text: amounts with currency, dates, times, tax IDs, phone numbers.

Every finder takes normalized text (:func:`genserve.documents.page.normalize`: NFKC, so full-width
digits and ``￥`` are plain) and returns matches with their character span, so a caller can tell
which text blocks a value came from. Dates come back as ISO 8601 (``2026-01-21``), times as
``15:00:00``, amounts as numbers with an ISO 4217 currency where one is printed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

CURRENCY_SIGNS = {
    "¥": "CNY",
    "元": "CNY",
    "圆": "CNY",
    "RMB": "CNY",
    "CNY": "CNY",
    "$": "USD",
    "USD": "USD",
    "US$": "USD",
    "€": "EUR",
    "EUR": "EUR",
    "£": "GBP",
    "GBP": "GBP",
    "HK$": "HKD",
    "HKD": "HKD",
}
_PREFIX = r"(?P<pre>US\$|HK\$|RMB|CNY|USD|EUR|GBP|HKD|[¥$€£])?"
# a number with a decimal part (12.00, 1,234.50, 8,50) or a whole number; signs and spaces allowed
# between the currency and the digits
_NUMBER = r"(?P<neg>-)?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
_SUFFIX = r"(?P<post>元|圆|RMB|CNY|USD|EUR|GBP)?"
AMOUNT_RE = re.compile(rf"(?<![A-Za-z0-9.,:/-]){_PREFIX}\s?{_NUMBER}(?![\d:/%]|\.\d|-\d){_SUFFIX}")


@dataclass
class Match:
    value: Any
    start: int
    end: int
    text: str
    extra: dict[str, Any]


def parse_number(text: str) -> float | None:
    """'1,234.50' -> 1234.5; '8,50' (a decimal comma) -> 8.5; '36' -> 36.0."""
    t = text.strip()
    if re.fullmatch(r"\d+,\d{1,2}", t):
        t = t.replace(",", ".")
    t = t.replace(",", "")
    try:
        return float(t)
    except ValueError:
        return None


def amounts(text: str) -> list[Match]:
    """Numbers that can be money: with a currency sign or word, or with two decimals."""
    found = []
    for m in AMOUNT_RE.finditer(text):
        value = parse_number(m.group("num"))
        if value is None:
            continue
        sign = m.group("pre") or m.group("post")
        decimals = re.search(r"[.,](\d{1,2})$", m.group("num"))
        found.append(
            Match(
                value=-value if m.group("neg") else value,
                start=m.start(),
                end=m.end(),
                text=m.group(0),
                extra={
                    "currency": CURRENCY_SIGNS.get(sign) if sign else None,
                    "decimals": len(decimals.group(1)) if decimals else 0,
                    "money": bool(sign) or (decimals is not None and len(decimals.group(1)) == 2),
                },
            )
        )
    return found


def money(text: str) -> list[Match]:
    return [m for m in amounts(text) if m.extra["money"]]


# -- dates and times -------------------------------------------------------------------------

MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<mon>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
DATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "ymd",
        re.compile(
            r"(?<!\d)(?P<y>(?:19|20)\d{2})\s?[-/.年]\s?(?P<m>\d{1,2})\s?[-/.月]\s?(?P<d>\d{1,2})(?:\s?日|号)?(?!\d)"
        ),
    ),
    ("dmy", re.compile(r"(?<![\d/.-])(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-](?P<y>(?:19|20)\d{2})(?!\d)")),
    (
        "mdy_name",
        re.compile(
            rf"(?i)(?<![a-z]){_MONTH}\s?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s?(?P<y>(?:19|20)\d{{2}})(?!\d)"
        ),
    ),
    (
        "dmy_name",
        re.compile(
            rf"(?i)(?<!\d)(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s?{_MONTH},?\s?(?P<y>(?:19|20)\d{{2}})(?!\d)"
        ),
    ),
    (
        "ymd_compact",
        re.compile(
            r"(?<!\d)(?P<y>20\d{2})(?P<m>0[1-9]|1[0-2])(?P<d>0[1-9]|[12]\d|3[01])(?=\s?\d{1,2}:\d{2})"
        ),
    ),
)


def _date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def dates(text: str, month_first: bool = False) -> list[Match]:
    """Dates as ISO strings. ``a/b/yyyy`` is day-first unless a part rules it out, or
    ``month_first`` (a page priced in US dollars) says otherwise; an ambiguous one says so."""
    found: list[Match] = []
    taken: list[tuple[int, int]] = []
    for style, pattern in DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < e and m.end() > s for s, e in taken):
                continue
            g = m.groupdict()
            ambiguous = False
            if style in ("ymd", "ymd_compact"):
                date = _date(int(g["y"]), int(g["m"]), int(g["d"]))
            elif style == "dmy":
                a, b = int(g["a"]), int(g["b"])
                ambiguous = a <= 12 and b <= 12 and a != b
                day_first = (a > 12) or (not month_first and b <= 12)
                date = _date(int(g["y"]), b, a) if day_first else _date(int(g["y"]), a, b)
            else:
                date = _date(int(g["y"]), MONTHS[g["mon"].lower()], int(g["d"]))
            if date is None:
                continue
            taken.append((m.start(), m.end()))
            extra = {"ambiguous": True} if ambiguous else {}
            found.append(Match(date.isoformat(), m.start(), m.end(), m.group(0), extra))
    return sorted(found, key=lambda x: x.start)


CN_NUMBERS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}


def cn_number(text: str) -> int | None:
    """'3' -> 3, '十二' -> 12, '二十' -> 20, '三十五' -> 35 (hours and minutes)."""
    if text.isdigit():
        return int(text)
    if not text or any(c not in CN_NUMBERS and c != "十" for c in text):
        return None
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (CN_NUMBERS[tens] if tens else 1) * 10 + (CN_NUMBERS[ones] if ones else 0)
    return CN_NUMBERS[text] if len(text) == 1 else None


_CN_DIGITS = "零一二两三四五六七八九十"
TIME_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "clock",
        re.compile(
            r"(?<![\d:.])(?P<h>[01]?\d|2[0-3])\s?[:：]\s?(?P<m>[0-5]\d)(?:\s?[:：]\s?(?P<s>[0-5]\d))?"
            r"(?!\d)(?:\s?(?P<ampm>[AaPp]\.?[Mm]\.?))?"
        ),
    ),
    (
        "cn",
        re.compile(
            rf"(?P<part>凌晨|早上|上午|中午|下午|傍晚|晚上)?(?P<h>\d{{1,2}}|[{_CN_DIGITS}]{{1,3}})\s?[点时]"
            rf"(?:\s?(?P<half>半)|\s?(?P<m>\d{{1,2}}|[{_CN_DIGITS}]{{1,3}})\s?分?)?"
        ),
    ),
    ("ampm", re.compile(r"(?<![\d:])(?P<h>1[0-2]|0?[1-9])\s?(?P<ampm>[AaPp]\.?[Mm]\.?)(?![a-z])")),
)
_AFTERNOON = ("下午", "傍晚", "晚上")


def times(text: str) -> list[Match]:
    """Times of day as ``HH:MM:SS``: 15:00, 3:05 PM, 下午3点, 下午三点半, 15时30分."""
    found: list[Match] = []
    taken: list[tuple[int, int]] = []
    for style, pattern in TIME_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < e and m.end() > s for s, e in taken):
                continue
            g = m.groupdict()
            hour = cn_number(g["h"])
            if hour is None:
                continue
            if style == "cn":
                if not g["h"].isdigit() and g.get("part") is None and not g.get("m") and not g.get("half"):
                    continue  # "快一点" (a little faster) is no time of day: words need 上午/下午 or minutes
                minute = 30 if g.get("half") else (cn_number(g["m"]) if g.get("m") else 0)
                if g.get("part") in _AFTERNOON and hour < 12:
                    hour += 12
                second = 0
            else:
                minute = int(g.get("m") or 0)
                second = int(g.get("s") or 0)
            ampm = (g.get("ampm") or "").lower().replace(".", "")
            if ampm == "pm" and hour < 12:
                hour += 12
            elif ampm == "am" and hour == 12:
                hour = 0
            if minute is None or not (0 <= hour <= 23 and 0 <= minute <= 59):
                continue
            taken.append((m.start(), m.end()))
            found.append(Match(f"{hour:02d}:{minute:02d}:{second:02d}", m.start(), m.end(), m.group(0), {}))
    return sorted(found, key=lambda x: x.start)


# -- identifiers ----------------------------------------------------------------------------

# NOTE: the unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from this
# alphabet (no I, O, S, V, Z), the last a check character (weighted sum mod 31).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_RE = re.compile(r"(?<![0-9A-Z])[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Z])")
RESIDENT_ID_RE = re.compile(
    r"(?<!\d)\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dX](?![\dX])"
)


def uscc_valid(code: str) -> bool:
    """The check character of a unified social credit code is right."""
    if len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return False
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(code[:17], USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31] == code[17]


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def resident_id_valid(number: str) -> bool:
    """ISO 7064 MOD 11-2 check digit of an 18-digit resident identity card number."""
    if len(number) != 18:
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17]


def tax_ids(text: str) -> list[Match]:
    """Unified social credit codes (checked); ``valid`` says whether the check character matches."""
    return [
        Match(m.group(0), m.start(), m.end(), m.group(0), {"valid": uscc_valid(m.group(0))})
        for m in USCC_RE.finditer(text.upper())
        if not m.group(0).isdigit() or uscc_valid(m.group(0))
    ]


PHONE_PATTERNS = (
    re.compile(r"(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)"),  # Chinese mobile
    re.compile(r"(?<![\d-])0\d{2,3}[ -]?\d{7,8}(?![\d-])"),  # Chinese landline with area code
    re.compile(r"(?<!\d)[48]00[ -]?\d{3}[ -]?\d{4}(?!\d)"),  # 400 / 800 service numbers
    re.compile(r"(?<![\d-])(?:\+?1[ -]?)?\(?\d{3}\)?[ -.]\d{3}[ -.]\d{4}(?!\d)"),  # North American
    re.compile(r"(?<![\d-])\+\d{1,3}[ -]\d{1,4}(?:[ -]\d{2,4}){2,3}(?!\d)"),  # international
)


def phones(text: str) -> list[Match]:
    found: list[Match] = []
    for pattern in PHONE_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < f.end and m.end() > f.start for f in found):
                continue
            found.append(Match(m.group(0).strip(), m.start(), m.end(), m.group(0), {}))
    return sorted(found, key=lambda x: x.start)


CODE_RE = re.compile(r"(?<![0-9A-Za-z])(?:No\.?\s?)?#?\s?(?P<code>[A-Z0-9][A-Z0-9-]{3,31})(?![0-9A-Za-z])")


def codes(text: str) -> list[Match]:
    """Document numbers: 4-32 capital letters, digits and dashes, at least half of them digits."""
    found = []
    for m in CODE_RE.finditer(text):
        code = m.group("code").strip("-")
        if sum(c.isdigit() for c in code) * 2 >= len(code) and len(code) >= 4:
            found.append(Match(code, m.start("code"), m.end("code"), code, {}))
    return found

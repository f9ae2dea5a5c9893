"""The document type from a table of rules: keywords (Chinese and English) and layout cues, weighed.

:data:`TYPE_RULES` is the table; a new type is one more row. A rule scores the sum of the weights
of its keywords found in the page's text (each once) and of its layout cues that hold (cues are
facts :mod:`genserve.documents.understand` measures: line items, a total, a table, numbered
questions, ...); a cue can weigh against a type (``prose``: many lines of sentences are an article,
however many totals they mention). The best-scoring rule wins when it reaches :data:`MIN_SCORE`;
otherwise the page is ``other``. The score returned is that sum squashed into 0-1
(``s / (s + 3)``), and the evidence lists what counted.

NOTE: the weights are set by hand on rendered receipts, invoices, menus, exam papers, tables, ID
cards and signs (tests/integration/test_recognize_documents.py); a keyword that names the
document ("发票", "菜单", "试卷") weighs most.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

MIN_SCORE = 2.0


@dataclass(frozen=True)
class TypeRule:
    type: str
    name_zh: str
    keywords: Mapping[str, float]  # regular expression (case-folded text) -> weight
    cues: Mapping[str, float] = field(default_factory=dict)  # layout cue -> weight


TYPE_RULES: tuple[TypeRule, ...] = (
    TypeRule(
        "receipt",
        "小票",
        {
            r"小票|购物凭证|消费凭证|收银小票|电脑小票": 3.0,
            r"收据|收款收据": 2.0,
            r"收银员|收银台|收银|款台|pos机?": 1.5,
            r"找零|找赎|实收|实付": 1.5,
            r"谢谢惠顾|欢迎再次光临|欢迎光临|谢谢光临|多谢惠顾": 1.5,
            r"会员|积分": 0.5,
            r"\breceipt\b": 3.0,
            r"\bcashier\b|\bchange\b|\bcash\b|\bvisa\b|mastercard|\bpaid\b": 1.0,
            r"thank you|come again|thanks for shopping": 1.5,
            r"\bsubtotal\b|\btotal\b|合计|总计": 0.5,
            r"超市|便利店|商店|\bstore\b|\bmarket\b|\bmart\b": 0.5,
        },
        {"line_items": 1.0, "total": 1.0, "sum_matches": 1.0, "narrow_page": 1.0, "prose": -3.0},
    ),
    TypeRule(
        "invoice",
        "发票",
        {
            r"发票": 3.0,
            r"增值税|价税合计|开票日期|开票人|发票代码|发票号码|纳税人识别号|统一社会信用代码": 2.0,
            r"购买方|销售方|购方|销方|税率|税额|复核|收款人": 1.0,
            r"\binvoice\b": 3.0,
            r"bill to|billed to|ship to|due date|payment terms|invoice date|"
            r"\bvat\b|tax id|\bterms\b|remit": 1.5,
            r"\bsubtotal\b|\btax\b|amount due|balance due": 0.5,
        },
        {"line_items": 0.5, "total": 0.5, "tax_id": 1.0, "invoice_number": 1.0, "prose": -3.0},
    ),
    TypeRule(
        "menu",
        "菜单",
        {
            r"菜单|菜谱|价目表|价目": 3.0,
            r"招牌|凉菜|热菜|主食|汤类|小吃|饮品|酒水|甜品|套餐|特色菜|推荐菜|例汤|米饭": 1.0,
            r"\bmenu\b": 3.0,
            r"appetizers?|starters?|main courses?|\bmains\b|entrees?|desserts?|beverages|\bdrinks\b|"
            r"\bsides\b|specials|soups?|salads?|chef": 1.0,
        },
        {"prices_without_total": 2.0, "prose": -3.0},
    ),
    TypeRule(
        "exam_paper",
        "试卷",
        {
            r"试卷|试题|考试|测验|期中|期末|单元测试|模拟卷": 3.0,
            r"选择题|填空题|判断题|解答题|计算题|简答题|应用题|阅读理解|作文": 2.0,
            r"姓名|班级|学号|考号|得分|总分|分数|评卷人|满分": 1.0,
            r"\bexam(?:ination)?\b|\bquiz\b|\btest\b|midterm|final exam": 3.0,
            r"multiple choice|fill in the blanks?|true or false|short answer|\bquestions?\b": 1.5,
            r"\bname\b|\bclass\b|\bscore\b|\bmarks?\b|\bpoints\b|\bgrade\b": 0.5,
        },
        {"numbered_questions": 2.0, "choice_options": 1.5, "answer_blanks": 1.0},
    ),
    TypeRule(
        "table",
        "表格",
        {
            r"报表|统计表|明细表|汇总表|一览表|对账单|流水|财务|营收|利润|资产|负债|同比|环比|季度|月度": 1.0,
            r"\bq[1-4]\b|revenue|profit|quarter|balance sheet|statement|ytd|year over year|\bsheet\b": 1.0,
        },
        {"table": 2.0, "numeric_table": 1.5, "prose": -3.0},
    ),
    TypeRule(
        "id_card",
        "证件",
        {
            r"身份证|居民身份|公民身份号码|工作证|学生证|员工证|驾驶证|护照|通行证|社保卡|会员卡": 3.0,
            r"性别|民族|出生|住址|签发机关|有效期限?|籍贯|部门|职务|工号": 1.0,
            r"\bid card\b|identity card|passport|driver'?s licen[cs]e|employee id|student id|staff id": 3.0,
            r"date of birth|\bdob\b|\bsex\b|nationality|\bexpir(?:y|es|ation)\b|issued by": 1.0,
        },
        {"id_number": 2.5, "card_shape": 1.0, "prose": -3.0},
    ),
    TypeRule(
        "sign",
        "标牌/场景",
        {
            r"出口|入口|禁止|请勿|小心|注意|当心|安全出口|停车场|洗手间|卫生间|营业中|营业时间|欢迎": 1.0,
            r"\bexit\b|entrance|\bno\b (?:parking|smoking|entry)|caution|warning|\bopen\b|\bclosed\b|"
            r"restroom|toilet|\bstop\b|welcome": 1.0,
        },
        {"few_lines": 1.5},
    ),
)


@lru_cache(maxsize=512)
def _pattern(expression: str) -> re.Pattern[str]:
    return re.compile(expression)


def classify(text: str, cues: Mapping[str, Any], rules: Sequence[TypeRule] = TYPE_RULES) -> dict[str, Any]:
    """``{type, type_zh, score, evidence, candidates}`` for a page's text and layout cues.

    ``cues`` maps a cue name to a fact: a true value (or a positive number) counts; a dict
    ``{"value": ..., "detail": ...}`` carries what to show as evidence.
    """
    folded = text.casefold()
    scored = []
    for rule in rules:
        evidence: list[dict[str, Any]] = []
        total = 0.0
        for expression, weight in rule.keywords.items():
            m = _pattern(expression).search(folded)
            if m:
                total += weight
                evidence.append({"kind": "keyword", "text": m.group(0), "weight": weight})
        for cue, weight in rule.cues.items():
            fact = cues.get(cue)
            value = fact.get("value") if isinstance(fact, dict) else fact
            if value:
                total += weight
                item: dict[str, Any] = {"kind": "layout", "cue": cue, "weight": weight}
                if isinstance(fact, dict) and fact.get("detail") is not None:
                    item["detail"] = fact["detail"]
                evidence.append(item)
        scored.append((total, rule, evidence))
    scored.sort(key=lambda s: -s[0])
    candidates = [{"type": r.type, "score": _squash(t)} for t, r, _ in scored[:3] if t > 0]
    best_total, best, evidence = scored[0] if scored else (0.0, None, [])
    if best is None or best_total < MIN_SCORE:
        return {
            "type": "other",
            "type_zh": "其他",
            "score": round(1 - _squash(best_total), 3),
            "evidence": evidence if best is not None and best_total > 0 else [],
            "candidates": candidates,
        }
    return {
        "type": best.type,
        "type_zh": best.name_zh,
        "score": _squash(best_total),
        "evidence": evidence,
        "candidates": candidates,
    }


def _squash(total: float) -> float:
    return round(total / (total + 3.0), 3)

"""Document understanding without a model: values, fields, items, tables and types from text boxes."""

from __future__ import annotations

import math

import pytest

from genserve.documents import Page, Token, understand
from genserve.documents import values as v
from genserve.documents.fields import find_fields
from genserve.documents.items import find_items, sum_check
from genserve.documents.tables import find_tables
from genserve.documents.types import TYPE_RULES, TypeRule, classify


def tok(i: int, text: str, x0: float, y0: float, x1: float, y1: float, region: int | None = None) -> Token:
    return Token(i, text, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], region)


def page_of(rows: list[list[tuple[float, str]]], width: int = 800, line: float = 50, px: float = 30) -> Page:
    """A page from rows of (x, text) cells; each cell's width from its length."""
    tokens = []
    for r, cells in enumerate(rows):
        y = 40 + r * line
        for x, text in cells:
            w = sum(px if ord(c) > 0x2E80 else px * 0.55 for c in text)
            tokens.append(tok(len(tokens), text, x, y, x + w, y + px))
    return Page(width, int(40 + len(rows) * line + 40), tokens)


def tilt(page: Page, degrees: float) -> Page:
    """The same page turned ``degrees`` clockwise about its centre (boxes turned with it)."""
    a = math.radians(degrees)
    cx, cy = page.width / 2, page.height / 2
    tokens = []
    for t in page.tokens:
        pts = [
            [
                cx + (x - cx) * math.cos(a) - (y - cy) * math.sin(a),
                cy + (x - cx) * math.sin(a) + (y - cy) * math.cos(a),
            ]
            for x, y in t.box
        ]
        tokens.append(Token(t.index, t.text, pts, t.region))
    return Page(page.width, page.height, tokens, skew=degrees)


RECEIPT = [
    [(300, "华联超市")],
    [(40, "电话: 010-65432188")],
    [(40, "单号: 20260121-0087")],
    [(40, "日期: 2026-01-21 15:02")],
    [(40, "商品"), (330, "数量"), (450, "单价"), (620, "金额")],
    [(40, "苹果"), (350, "1"), (450, "8.50"), (620, "8.50")],
    [(40, "牛奶"), (350, "1"), (450, "12.00"), (620, "12.00")],
    [(40, "面包"), (350, "2"), (450, "6.00"), (620, "12.00")],
    [(40, "矿泉水"), (350, "2"), (450, "2.15"), (620, "4.30")],
    [(40, "合 计"), (600, "¥36.80")],
    [(40, "现金"), (620, "50.00")],
    [(40, "找零"), (620, "13.20")],
    [(200, "谢谢惠顾 欢迎再次光临")],
]


# -- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "month_first", "iso"),
    [
        ("2026-01-21", False, "2026-01-21"),
        ("2026年1月21日", False, "2026-01-21"),
        ("2026/01/21 15:02", False, "2026-01-21"),
        ("21/01/2026", False, "2026-01-21"),
        ("01/21/2026", False, "2026-01-21"),  # 21 cannot be a month
        ("03/04/2026", True, "2026-03-04"),  # a page in US dollars reads month first
        ("03/04/2026", False, "2026-04-03"),
        ("Jan 21, 2026", False, "2026-01-21"),
        ("21 January 2026", False, "2026-01-21"),
        ("日期:2025/03/1008:25:00", False, None),  # glued to its time: see the page-level test
    ],
)
def test_dates_are_iso(text: str, month_first: bool, iso: str | None) -> None:
    found = v.dates(text, month_first)
    if iso is None:
        return
    assert [m.value for m in found] == [iso]


def test_a_date_glued_to_its_time_is_read() -> None:
    page = page_of([[(40, "日期:2025/03/1008:25:00")]])
    fields = find_fields(page)
    assert fields["date"]["value"] == "2025-03-10" and fields["time"]["value"] == "08:25:00"


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("15:00", "15:00:00"),
        ("15:02:33", "15:02:33"),
        ("3:05 PM", "15:05:00"),
        ("12:30 am", "00:30:00"),
        ("下午3点", "15:00:00"),
        ("下午三点半", "15:30:00"),
        ("上午10点15分", "10:15:00"),
        ("15时30分", "15:30:00"),
        ("9 PM", "21:00:00"),
    ],
)
def test_times(text: str, iso: str) -> None:
    assert [m.value for m in v.times(text)] == [iso]


def test_words_that_are_not_times() -> None:
    assert v.times("快一点") == [] and v.times("24小时营业") == []


@pytest.mark.parametrize(
    ("text", "amounts"),
    [
        ("合计 ¥36.80", [(36.8, "CNY")]),
        ("合计36.80元", [(36.8, "CNY")]),
        ("Total $1,234.50", [(1234.5, "USD")]),
        ("RMB 99", [(99.0, "CNY")]),
        ("Summe 8,50 €", [(8.5, None)]),
        ("2026-01-21 15:02 13%", []),
        ("010-65432188", []),
    ],
)
def test_money(text: str, amounts: list[tuple[float, str | None]]) -> None:
    assert [(m.value, m.extra["currency"]) for m in v.money(text)] == amounts


def test_unified_social_credit_code_check_character() -> None:
    code = "91350100M000100Y43"  # a published example (GB 32100-2015 check character)
    assert v.uscc_valid(code)
    assert not v.uscc_valid(code[:-1] + "4")
    assert v.uscc_check_char(code[:17]) == code[17]
    assert [m.value for m in v.tax_ids(f"税号: {code}")] == [code]


def test_phones() -> None:
    assert [m.value for m in v.phones("电话: 010-65432188 手机 13812345678")] == [
        "010-65432188",
        "13812345678",
    ]
    assert [m.value for m in v.phones("Tel (555) 123-4567")] == ["(555) 123-4567"]
    assert v.phones("2026-01-21") == []


# -- a receipt ---------------------------------------------------------------------------------


def test_receipt_fields_items_and_type() -> None:
    doc = understand(page_of(RECEIPT))
    assert doc["type"] == "receipt" and doc["type_zh"] == "小票" and 0.5 < doc["score"] <= 1
    assert {"kind": "keyword", "text": "找零", "weight": 1.5} in doc["evidence"]
    assert any(e.get("cue") == "sum_matches" for e in doc["evidence"])
    f = doc["fields"]
    assert f["total"]["value"] == 36.8 and f["total"]["currency"] == "CNY"
    assert f["total"]["currency_from"] == "printed" and f["total"]["label"] == "合 计"
    assert f["total"]["text_blocks"] == [24, 25]  # the label's block and the amount's
    assert f["date"]["value"] == "2026-01-21" and f["time"]["value"] == "15:02:00"
    assert f["datetime"]["value"] == "2026-01-21T15:02:00"
    assert f["receipt_number"]["value"] == "20260121-0087"
    assert f["phone"]["value"] == "010-65432188"
    assert f["merchant"]["value"] == "华联超市"
    assert (f["paid"]["value"], f["change"]["value"]) == (50.0, 13.2)
    assert [(i["name"], i["quantity"], i["unit_price"], i["amount"]) for i in doc["items"]] == [
        ("苹果", 1, 8.5, 8.5),
        ("牛奶", 1, 12.0, 12.0),
        ("面包", 2, 6.0, 12.0),
        ("矿泉水", 2, 2.15, 4.3),
    ]
    assert doc["items"][0]["text_blocks"] == [8, 9, 10, 11]
    assert doc["checks"] == {"items_sum": 36.8, "compared_with": "total", "sum_matches": True}


def test_a_total_changed_by_one_digit_fails_the_sum_check() -> None:
    rows = [list(r) for r in RECEIPT]
    rows[9] = [(40, "合计"), (600, "¥36.30")]
    doc = understand(page_of(rows))
    assert doc["fields"]["total"]["value"] == 36.3
    assert doc["checks"]["sum_matches"] is False and doc["checks"]["items_sum"] == 36.8


@pytest.mark.parametrize("degrees", [-6.0, 5.0])
def test_a_tilted_receipt_keeps_its_rows(degrees: float) -> None:
    doc = understand(tilt(page_of(RECEIPT), degrees))
    assert doc["fields"]["total"]["value"] == 36.8
    assert [i["amount"] for i in doc["items"]] == [8.5, 12.0, 12.0, 4.3]


def test_english_receipt_without_a_header() -> None:
    rows = [
        [(250, "CORNER MARKET")],
        [(40, "Date: 01/21/2026 3:05 PM")],
        [(40, "Apples 2 @ 1.25"), (620, "2.50")],
        [(40, "Milk"), (620, "3.99")],
        [(40, "Green tea")],
        [(80, "3 x 1.10"), (620, "3.30")],
        [(40, "Subtotal"), (620, "9.79")],
        [(40, "Tax 8%"), (620, "0.78")],
        [(40, "TOTAL"), (600, "$10.57")],
        [(40, "Cash"), (620, "20.00")],
        [(40, "Change"), (620, "9.43")],
        [(150, "THANK YOU FOR SHOPPING")],
    ]
    doc = understand(page_of(rows))
    f = doc["fields"]
    assert doc["type"] == "receipt"
    assert (f["total"]["value"], f["total"]["currency"]) == (10.57, "USD")
    assert (f["subtotal"]["value"], f["tax"]["value"]) == (9.79, 0.78)
    assert (f["date"]["value"], f["time"]["value"]) == ("2026-01-21", "15:05:00")
    assert [(i["name"], i["quantity"], i["unit_price"], i["amount"]) for i in doc["items"]] == [
        ("Apples", 2, 1.25, 2.5),
        ("Milk", None, None, 3.99),
        ("Green tea", 3, 1.1, 3.3),
    ]
    assert doc["checks"] == {
        "items_sum": 9.79,
        "compared_with": "subtotal",
        "sum_matches": True,
        "totals_add_up": True,
    }


# -- invoices, menus, tables, exam papers, cards, signs ---------------------------------------


def test_chinese_invoice() -> None:
    code = "91350100M000100Y43"
    rows = [
        [(250, "电子发票（普通发票）")],
        [(500, "发票号码: 26442000000012345678")],
        [(500, "开票日期: 2026年01月21日")],
        [(40, "项目名称"), (400, "数量"), (520, "单价"), (680, "金额")],
        [(40, "技术服务费"), (410, "1"), (520, "1200.00"), (680, "1200.00")],
        [(40, "打印纸"), (410, "2"), (520, "25.00"), (680, "50.00")],
        [(40, "价税合计（大写）"), (380, "（小写）"), (660, "¥1250.00")],
        [(40, f"销售方名称: 上海云帆科技有限公司 纳税人识别号: {code}")],
    ]
    doc = understand(page_of(rows, width=1000))
    f = doc["fields"]
    assert doc["type"] == "invoice"
    assert f["total"]["value"] == 1250.0 and f["total"]["label"] == "价税合计"
    assert f["date"]["value"] == "2026-01-21"
    assert f["invoice_number"]["value"] == "26442000000012345678"
    assert f["tax_id"]["value"] == code
    assert f["merchant"]["value"] == "上海云帆科技有限公司"
    assert [i["name"] for i in doc["items"]] == ["技术服务费", "打印纸"]  # "服务费" is no label here
    assert doc["checks"]["sum_matches"] is True


def test_two_column_menu_rows_give_two_items_each() -> None:
    rows = [
        [(330, "菜单")],
        [(40, "热菜")],
        [(40, "宫保鸡丁"), (300, "¥38"), (420, "鱼香肉丝"), (700, "¥32")],
        [(40, "麻婆豆腐"), (300, "¥22"), (420, "红烧肉"), (700, "¥48")],
        [(40, "主食")],
        [(40, "扬州炒饭"), (300, "¥18"), (420, "牛肉面"), (700, "¥26")],
    ]
    doc = understand(page_of(rows))
    assert doc["type"] == "menu"
    assert [(i["name"], i["unit_price"], i["amount"]) for i in doc["items"]][:3] == [
        ("宫保鸡丁", 38.0, None),
        ("鱼香肉丝", 32.0, None),
        ("麻婆豆腐", 22.0, None),
    ]
    assert len(doc["items"]) == 6 and doc["checks"] == {}


def test_table_with_headers_left_and_figures_right() -> None:
    rows = [
        [(40, "2025年度营收统计表")],
        [(60, "季度"), (300, "收入"), (540, "成本"), (780, "利润")],
        [(200, "Q1"), (400, "31,490"), (640, "15,140"), (880, "16,350")],
        [(200, "Q2"), (400, "22,680"), (660, "7,780"), (880, "14,900")],
        [(200, "Q3"), (400, "87,030"), (640, "28,730"), (880, "58,300")],
    ]
    page = page_of(rows, width=1100)
    tables = find_tables(page)
    assert len(tables) == 1 and tables[0].source == "geometry"
    assert tables[0].rows == [
        ["季度", "收入", "成本", "利润"],
        ["Q1", "31,490", "15,140", "16,350"],
        ["Q2", "22,680", "7,780", "14,900"],
        ["Q3", "87,030", "28,730", "58,300"],
    ]
    assert tables[0].csv().splitlines()[1] == 'Q1,"31,490","15,140","16,350"'
    doc = understand(page)
    assert doc["type"] == "table" and doc["tables"][0]["n_cols"] == 4 and doc["items"] == []


def test_a_table_region_of_the_model_is_rebuilt_inside_it() -> None:
    rows = [[(40, "Name"), (400, "Score")], [(40, "Li Lei"), (400, "92")], [(40, "Han Meimei"), (400, "88")]]
    page = page_of(rows)
    for t in page.tokens:
        t.region = 0
    page.regions = [
        {"index": 0, "type": "table", "text_blocks": [t.index for t in page.tokens], "source": "model"}
    ]
    tables = find_tables(page)
    assert tables[0].source == "model" and tables[0].region == 0
    assert tables[0].rows == [["Name", "Score"], ["Li Lei", "92"], ["Han Meimei", "88"]]


def test_exam_paper() -> None:
    rows = [
        [(200, "七年级数学期末考试试卷")],
        [(40, "姓名: ______"), (400, "班级: ______")],
        [(40, "一、选择题")],
        [(40, "1. 计算 3 × 4 的结果是（  ）")],
        [(80, "A. 12"), (240, "B. 7"), (400, "C. 13"), (560, "D. 1")],
        [(40, "2. 下列数中最大的是（  ）")],
        [(40, "3. 一个正方形的边长是6厘米")],
    ]
    doc = understand(page_of(rows))
    assert doc["type"] == "exam_paper" and doc["items"] == []
    cues = {e.get("cue") for e in doc["evidence"]}
    assert {"numbered_questions", "choice_options", "answer_blanks"} <= cues


def test_id_card_and_sign_and_other() -> None:
    card = page_of(
        [[(40, "姓名 张三")], [(40, "性别 男 民族 汉")], [(40, "公民身份号码 11010519491231002X")]], width=860
    )
    card.height = 540
    assert understand(card)["type"] == "id_card"
    sign = page_of([[(100, "安全出口")], [(100, "EXIT")]])
    assert understand(sign)["type"] == "sign"
    plain = understand(page_of([[(40, "Hello")]]))
    assert plain["type"] == "other" and plain["fields"] == {} and plain["items"] == []


def test_the_type_table_takes_new_rules() -> None:
    boarding = TypeRule("boarding_pass", "登机牌", {r"登机牌|boarding pass": 3.0, r"航班|flight|gate": 1.0})
    text = "登机牌 BOARDING PASS\n航班 CA1234 Gate 12"
    assert classify(text, {}, TYPE_RULES)["type"] != "boarding_pass"
    found = classify(text, {}, (*TYPE_RULES, boarding))
    assert found["type"] == "boarding_pass" and found["type_zh"] == "登机牌"
    assert [e["text"] for e in found["evidence"]] == ["登机牌", "航班"]


def test_sum_check_against_subtotal_and_totals() -> None:
    items = find_items(page_of([[(40, "A"), (500, "1.00")], [(40, "B"), (500, "2.00")]]).rows())
    fields = {"subtotal": {"value": 3.0}, "tax": {"value": 0.3}, "total": {"value": 3.4}}
    assert sum_check(items, fields) == {
        "items_sum": 3.0,
        "compared_with": "subtotal",
        "sum_matches": True,
        "totals_add_up": False,
    }

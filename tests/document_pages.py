"""Documents rendered on the fly: receipts, invoices, menus, exam papers, tables, two-column pages,
in Chinese and English, with the values printed on them, and the degradations a camera adds.

Every document is drawn from a seed (merchant, items, prices, date and its format vary), so the
pages a test reads are not in the repository and the rules cannot have been fitted to one page.
Used by tests/integration/test_recognize_documents.py and bench/bench_documents.py.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
MONO_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
SANS_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@dataclass
class Doc:
    """A rendered page and what is printed on it."""

    kind: str
    image: Image.Image
    text: str  # every line, top to bottom
    expect: dict[str, Any] = field(default_factory=dict)  # type, total, date, time, items, table, ...


class Canvas:
    def __init__(self, size: tuple[int, int], font: Path, px: int) -> None:
        self.image = Image.new("RGB", size, "white")
        self.draw = ImageDraw.Draw(self.image)
        self.fontpath = font
        self.px = px
        self.lines: list[str] = []

    def font(self, px: int | None = None, path: Path | None = None) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(path or self.fontpath), px or self.px)

    def text(self, xy: tuple[float, float], text: str, px: int | None = None, anchor: str = "la") -> None:
        self.draw.text(xy, text, font=self.font(px), fill="black", anchor=anchor)

    def row(self, y: float, cells: list[tuple[float, str, str]], px: int | None = None) -> None:
        """Cells at x positions: (x, text, anchor) with anchor 'la' (left) or 'ra' (right aligned)."""
        for x, text, anchor in cells:
            self.text((x, y), text, px, anchor)
        self.lines.append(" ".join(t for _, t, _ in cells))

    def line(self, y: float, x0: float, x1: float) -> None:
        self.draw.line((x0, y, x1, y), fill="black", width=2)


def money(x: float) -> str:
    return f"{x:.2f}"


# -- receipts ---------------------------------------------------------------------------------

ZH_SHOPS = ["华联超市", "永辉超市", "物美便利店", "联华超市", "家乐福超市", "百佳超市", "好邻居便利店"]
ZH_GOODS = [
    ("苹果", 8.5),
    ("牛奶", 12.0),
    ("面包", 6.0),
    ("矿泉水", 2.15),
    ("鸡蛋", 13.8),
    ("酸奶", 4.5),
    ("香蕉", 5.6),
    ("大米", 39.9),
    ("食用油", 59.0),
    ("可乐", 3.0),
    ("薯片", 7.5),
    ("纸巾", 15.9),
]
EN_SHOPS = ["CORNER MARKET", "FRESH FOODS", "GREEN GROCER", "CITY MART", "SUNRISE DELI"]
EN_GOODS = [
    ("Apples", 1.25),
    ("Milk", 3.99),
    ("Bread", 2.49),
    ("Eggs", 4.29),
    ("Coffee", 8.99),
    ("Bananas", 0.59),
    ("Orange Juice", 4.49),
    ("Cheese", 5.75),
    ("Yogurt", 1.10),
    ("Pasta", 1.89),
]


def _date(rng: random.Random) -> dt.datetime:
    day = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(0, 700))
    return dt.datetime(day.year, day.month, day.day, rng.randrange(8, 22), rng.randrange(0, 60))


def _pick_items(
    rng: random.Random, goods: list[tuple[str, float]], n: int
) -> list[tuple[str, int, float, float]]:
    chosen = rng.sample(goods, n)
    return [
        (name, q, price, round(q * price, 2))
        for (name, price), q in ((g, rng.choice((1, 1, 2, 3))) for g in chosen)
    ]


def receipt_zh(
    seed: int, items: list[tuple[str, int, float, float]] | None = None, when: dt.datetime | None = None
) -> Doc:
    rng = random.Random(seed)
    items = items or _pick_items(rng, ZH_GOODS, rng.randint(3, 5))
    when = when or _date(rng)
    shop = rng.choice(ZH_SHOPS)
    total = round(sum(a for *_, a in items), 2)
    date_text = rng.choice(
        [
            when.strftime("%Y-%m-%d %H:%M"),
            when.strftime("%Y/%m/%d %H:%M:%S"),
            f"{when.year}年{when.month}月{when.day}日 {when.hour}:{when.minute:02d}",
        ]
    )
    c = Canvas((760, 300 + 58 * (len(items) + 9)), CJK_FONT, 32)
    y = 40.0
    c.row(y, [(380, shop, "ma")], px=48)
    y += 90
    number = f"{when:%Y%m%d}{rng.randrange(1000, 9999)}"
    phone = f"0{rng.randrange(10, 99)}-{rng.randrange(60000000, 89999999)}"
    c.row(y, [(40, f"电话: {phone}", "la")])
    y += 52
    c.row(y, [(40, f"单号: {number}", "la")])
    y += 52
    c.row(y, [(40, f"日期: {date_text}", "la")])
    y += 56
    c.line(y, 40, 720)
    y += 18
    c.row(y, [(40, "商品", "la"), (390, "数量", "ra"), (540, "单价", "ra"), (720, "金额", "ra")])
    y += 54
    for name, q, price, amount in items:
        c.row(
            y, [(40, name, "la"), (390, str(q), "ra"), (540, money(price), "ra"), (720, money(amount), "ra")]
        )
        y += 54
    c.line(y, 40, 720)
    y += 18
    c.row(y, [(40, "合计", "la"), (720, f"¥{money(total)}", "ra")])
    y += 54
    cash = float(((int(total) // 50) + 1) * 50)
    c.row(y, [(40, "现金", "la"), (720, money(cash), "ra")])
    y += 54
    c.row(y, [(40, "找零", "la"), (720, money(cash - total), "ra")])
    y += 70
    c.row(y, [(380, "谢谢惠顾 欢迎再次光临", "ma")])
    return Doc(
        "receipt_zh",
        c.image,
        "\n".join(c.lines),
        {
            "type": "receipt",
            "total": total,
            "currency": "CNY",
            "date": when.date().isoformat(),
            "time": when.strftime("%H:%M:00") if ":%S" not in date_text else when.strftime("%H:%M:%S"),
            "merchant": shop,
            "receipt_number": number,
            "phone": phone,
            "items": [{"name": n, "quantity": q, "unit_price": p, "amount": a} for n, q, p, a in items],
        },
    )


def seed_receipt() -> Doc:
    """The reference receipt: 苹果 ¥8.50, 牛奶 ¥12.00, a total of 36.80, at three in the afternoon."""
    items = [("苹果", 1, 8.5, 8.5), ("牛奶", 1, 12.0, 12.0), ("面包", 2, 6.0, 12.0), ("矿泉水", 2, 2.15, 4.3)]
    return receipt_zh(3, items, dt.datetime(2026, 1, 21, 15, 0))


def receipt_en(seed: int) -> Doc:
    rng = random.Random(seed)
    items = _pick_items(rng, EN_GOODS, rng.randint(3, 5))
    when = _date(rng)
    shop = rng.choice(EN_SHOPS)
    subtotal = round(sum(a for *_, a in items), 2)
    tax = round(subtotal * 0.08, 2)
    total = round(subtotal + tax, 2)
    hour12 = when.hour % 12 or 12
    date_text = rng.choice(
        [
            f"{when:%m/%d/%Y} {hour12}:{when.minute:02d} {'PM' if when.hour >= 12 else 'AM'}",
            f"{when:%b} {when.day}, {when.year} {when:%H:%M}",
        ]
    )
    c = Canvas((760, 320 + 56 * (len(items) + 9)), MONO_FONT, 28)
    y = 40.0
    c.row(y, [(380, shop, "ma")], px=40)
    y += 70
    phone = f"({rng.randrange(200, 999)}) {rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}"
    c.row(y, [(380, f"Tel {phone}", "ma")])
    y += 50
    number = f"{rng.randrange(100000, 999999)}"
    c.row(y, [(40, f"Receipt #{number}", "la")])
    y += 50
    c.row(y, [(40, f"Date: {date_text}", "la")])
    y += 60
    for name, q, price, amount in items:
        left = name if q == 1 else f"{name} {q} @ {money(price)}"
        c.row(y, [(40, left, "la"), (720, money(amount), "ra")])
        y += 50
    y += 10
    c.line(y, 40, 720)
    y += 18
    c.row(y, [(40, "Subtotal", "la"), (720, money(subtotal), "ra")])
    y += 50
    c.row(y, [(40, "Tax 8%", "la"), (720, money(tax), "ra")])
    y += 50
    c.row(y, [(40, "TOTAL", "la"), (720, f"${money(total)}", "ra")], px=32)
    y += 56
    cash = float(((int(total) // 20) + 1) * 20)
    c.row(y, [(40, "Cash", "la"), (720, money(cash), "ra")])
    y += 50
    c.row(y, [(40, "Change", "la"), (720, money(cash - total), "ra")])
    y += 70
    c.row(y, [(380, "THANK YOU FOR SHOPPING", "ma")])
    return Doc(
        "receipt_en",
        c.image,
        "\n".join(c.lines),
        {
            "type": "receipt",
            "total": total,
            "subtotal": subtotal,
            "currency": "USD",
            "date": when.date().isoformat(),
            "time": when.strftime("%H:%M:00"),
            "merchant": shop,
            "items": [
                {"name": n, "quantity": q, "unit_price": p if q > 1 else None, "amount": a}
                for n, q, p, a in items
            ],
        },
    )


# -- invoices ---------------------------------------------------------------------------------

ZH_SELLERS = [
    "上海云帆科技有限公司",
    "北京百川文化传媒有限公司",
    "杭州青禾餐饮管理有限公司",
    "深圳星河电子有限公司",
]
ZH_SERVICES = [
    ("技术服务费", 1200.0),
    ("办公用品", 86.5),
    ("打印纸", 25.0),
    ("会议服务", 800.0),
    ("软件授权", 2999.0),
    ("墨盒", 158.0),
]
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc(rng: random.Random) -> str:
    """A unified social credit code with a right check character."""
    from genserve.documents.values import uscc_check_char

    body = "91" + f"{rng.randrange(110000, 659999)}" + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc_check_char(body)


def invoice_zh(seed: int) -> Doc:
    rng = random.Random(seed)
    items = [
        (n, q, p, round(q * p, 2))
        for (n, p), q in ((g, rng.randint(1, 4)) for g in rng.sample(ZH_SERVICES, rng.randint(2, 4)))
    ]
    when = _date(rng)
    seller = rng.choice(ZH_SELLERS)
    seller_id, buyer_id = uscc(rng), uscc(rng)
    total = round(sum(a for *_, a in items), 2)
    number = f"{rng.randrange(10**19, 10**20 - 1)}"
    c = Canvas((1400, 1000), CJK_FONT, 28)
    y = 40.0
    c.row(y, [(700, "电子发票（普通发票）", "ma")], px=44)
    y += 80
    c.row(y, [(900, f"发票号码: {number}", "la")])
    y += 44
    c.row(y, [(900, f"开票日期: {when.year}年{when.month:02d}月{when.day:02d}日", "la")])
    y += 60
    c.row(y, [(60, "购买方名称: 广州明远贸易有限公司", "la")])
    y += 44
    c.row(y, [(60, f"纳税人识别号: {buyer_id}", "la")])
    y += 60
    c.line(y, 60, 1340)
    y += 16
    c.row(y, [(60, "项目名称", "la"), (760, "数量", "ra"), (1000, "单价", "ra"), (1320, "金额", "ra")])
    y += 48
    for name, q, price, amount in items:
        c.row(
            y,
            [(60, name, "la"), (760, str(q), "ra"), (1000, money(price), "ra"), (1320, money(amount), "ra")],
        )
        y += 48
    c.line(y, 60, 1340)
    y += 16
    c.row(y, [(60, "价税合计（大写）", "la"), (760, "（小写）", "la"), (1320, f"¥{money(total)}", "ra")])
    y += 64
    c.row(y, [(60, f"销售方名称: {seller}", "la")])
    y += 44
    c.row(y, [(60, f"纳税人识别号: {seller_id}", "la")])
    y += 44
    c.row(y, [(60, "开票人: 王芳", "la")])
    return Doc(
        "invoice_zh",
        c.image.crop((0, 0, 1400, int(y + 80))),
        "\n".join(c.lines),
        {
            "type": "invoice",
            "total": total,
            "currency": "CNY",
            "date": when.date().isoformat(),
            "invoice_number": number,
            "tax_id": buyer_id,
            "tax_ids": {buyer_id, seller_id},
            "merchant": seller,
            "items": [{"name": n, "quantity": q, "unit_price": p, "amount": a} for n, q, p, a in items],
        },
    )


EN_SERVICES = [
    ("Consulting hours", 150.0),
    ("Website hosting", 29.99),
    ("Design review", 450.0),
    ("Support plan", 99.0),
    ("Training session", 320.0),
]


def invoice_en(seed: int) -> Doc:
    rng = random.Random(seed)
    items = [
        (n, q, p, round(q * p, 2))
        for (n, p), q in ((g, rng.randint(1, 5)) for g in rng.sample(EN_SERVICES, rng.randint(2, 4)))
    ]
    when = _date(rng)
    subtotal = round(sum(a for *_, a in items), 2)
    tax = round(subtotal * 0.1, 2)
    total = round(subtotal + tax, 2)
    number = f"INV-{when.year}-{rng.randrange(1000, 9999)}"
    c = Canvas((1400, 1000), SANS_FONT, 26)
    y = 40.0
    c.row(y, [(60, "INVOICE", "la")], px=48)
    y += 90
    c.row(y, [(60, "Northwind Studio LLC", "la"), (900, f"Invoice No: {number}", "la")])
    y += 42
    c.row(
        y, [(60, "12 Harbor Street, Portland", "la"), (900, f"Date: {when:%B} {when.day}, {when.year}", "la")]
    )
    y += 42
    due = when + dt.timedelta(days=30)
    c.row(
        y, [(60, "Bill To: Acme Corporation", "la"), (900, f"Due Date: {due:%B} {due.day}, {due.year}", "la")]
    )
    y += 70
    c.line(y, 60, 1340)
    y += 14
    c.row(
        y, [(60, "Description", "la"), (760, "Qty", "ra"), (1020, "Unit Price", "ra"), (1320, "Amount", "ra")]
    )
    y += 46
    for name, q, price, amount in items:
        c.row(
            y,
            [(60, name, "la"), (760, str(q), "ra"), (1020, money(price), "ra"), (1320, money(amount), "ra")],
        )
        y += 46
    c.line(y, 60, 1340)
    y += 16
    c.row(y, [(900, "Subtotal", "la"), (1320, money(subtotal), "ra")])
    y += 44
    c.row(y, [(900, "Tax 10%", "la"), (1320, money(tax), "ra")])
    y += 44
    c.row(y, [(900, "Total Due", "la"), (1320, f"${money(total)}", "ra")])
    y += 60
    c.row(y, [(60, "Payment terms: 30 days", "la")])
    return Doc(
        "invoice_en",
        c.image.crop((0, 0, 1400, int(y + 70))),
        "\n".join(c.lines),
        {
            "type": "invoice",
            "total": total,
            "subtotal": subtotal,
            "currency": "USD",
            "date": when.date().isoformat(),
            "invoice_number": number,
            "items": [{"name": n, "quantity": q, "unit_price": p, "amount": a} for n, q, p, a in items],
        },
    )


# -- menus, exam papers, tables, two columns ----------------------------------------------------

ZH_DISHES = {
    "凉菜": [("拍黄瓜", 12.0), ("凉拌木耳", 16.0), ("夫妻肺片", 32.0)],
    "热菜": [("宫保鸡丁", 38.0), ("鱼香肉丝", 32.0), ("麻婆豆腐", 22.0), ("红烧肉", 48.0)],
    "主食": [("米饭", 3.0), ("扬州炒饭", 18.0), ("牛肉面", 26.0)],
}
EN_DISHES = {
    "Starters": [("Tomato Soup", 6.5), ("Caesar Salad", 8.75), ("Garlic Bread", 4.25)],
    "Mains": [("Grilled Salmon", 19.5), ("Beef Burger", 14.0), ("Mushroom Risotto", 15.25)],
    "Desserts": [("Apple Pie", 6.0), ("Ice Cream", 4.5)],
}


def menu(seed: int, lang: str = "zh") -> Doc:
    rng = random.Random(seed)
    dishes = ZH_DISHES if lang == "zh" else EN_DISHES
    c = Canvas((900, 1300), CJK_FONT if lang == "zh" else SANS_FONT, 32)
    y = 50.0
    c.row(y, [(450, "菜单" if lang == "zh" else "MENU", "ma")], px=56)
    y += 110
    items = []
    for section, entries in dishes.items():
        c.row(y, [(80, section, "la")], px=38)
        y += 66
        for name, price in rng.sample(entries, len(entries)):
            c.row(y, [(120, name, "la"), (800, f"¥{price:.0f}" if lang == "zh" else money(price), "ra")])
            items.append({"name": name, "quantity": None, "unit_price": price, "amount": None})
            y += 56
        y += 24
    return Doc(
        f"menu_{lang}",
        c.image.crop((0, 0, 900, int(y + 40))),
        "\n".join(c.lines),
        {"type": "menu", "items": items},
    )


def exam_zh(seed: int) -> Doc:
    rng = random.Random(seed)
    c = Canvas((1240, 1100), CJK_FONT, 30)
    y = 50.0
    c.row(y, [(620, "2025-2026学年第一学期期末考试", "ma")], px=40)
    y += 64
    c.row(y, [(620, "七年级数学试卷", "ma")], px=40)
    y += 80
    c.row(y, [(80, "姓名: ________", "la"), (480, "班级: ________", "la"), (880, "得分: ______", "la")])
    y += 70
    c.row(y, [(80, "一、选择题（每小题5分，共20分）", "la")])
    y += 56
    for n in range(1, 4):
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        c.row(y, [(80, f"{n}. 计算 {a} × {b} 的结果是（  ）", "la")])
        y += 50
        opts = [a * b, a * b + 1, a + b, a * b - 2]
        rng.shuffle(opts)
        c.row(
            y,
            [
                (120, f"A. {opts[0]}", "la"),
                (400, f"B. {opts[1]}", "la"),
                (680, f"C. {opts[2]}", "la"),
                (960, f"D. {opts[3]}", "la"),
            ],
        )
        y += 60
    c.row(y, [(80, "二、填空题（每小题5分，共10分）", "la")])
    y += 56
    c.row(y, [(80, "4. 一个正方形的边长是6厘米，它的面积是______平方厘米。", "la")])
    y += 56
    return Doc("exam_zh", c.image.crop((0, 0, 1240, int(y + 60))), "\n".join(c.lines), {"type": "exam_paper"})


def table_page(seed: int, lang: str = "zh") -> Doc:
    """A spreadsheet screenshot: a header row and four rows of figures, in a ruled grid."""
    rng = random.Random(seed)
    header = ["季度", "收入", "成本", "利润"] if lang == "zh" else ["Quarter", "Revenue", "Cost", "Profit"]
    rows = [header]
    for q in range(1, 5):
        revenue = rng.randrange(1200, 9000) * 10
        cost = rng.randrange(400, revenue // 20) * 10
        rows.append([f"Q{q}", f"{revenue:,}", f"{cost:,}", f"{revenue - cost:,}"])
    c = Canvas((1200, 560), CJK_FONT if lang == "zh" else SANS_FONT, 30)
    c.row(30, [(60, "2025年度营收统计表" if lang == "zh" else "Revenue statement 2025", "la")], px=38)
    x = [60, 320, 600, 880, 1140]
    top = 110
    h = 70
    for r, cells in enumerate(rows):
        y = top + r * h
        c.row(
            y + 18,
            [(x[k + 1] - 30, cell, "ra") if r else (x[k] + 24, cell, "la") for k, cell in enumerate(cells)],
        )
    for r in range(len(rows) + 1):
        c.draw.line((x[0], top + r * h, x[-1], top + r * h), fill=(120, 120, 120), width=2)
    for xv in x:
        c.draw.line((xv, top, xv, top + len(rows) * h), fill=(120, 120, 120), width=2)
    return Doc(f"table_{lang}", c.image, "\n".join(c.lines), {"type": "table", "table": rows})


def two_columns() -> Doc:
    """A heading over two columns of prose: the left column is read before the right one."""
    left = [
        "传统OCR只能识字目标检测只能框物体",
        "万物识别模型能同时完成图像理解",
        "和结构化信息提取三件事情效果可靠",
        "它专为中文真实场景优化支持模糊倾斜",
        "低光照手写体和多语言混排的复杂版式",
    ]
    right = [
        "Headless services for pipelines",
        "One contract reached from three doors",
        "A command line that prints the JSON",
        "A REST API with multipart uploads",
        "Structured logs and metrics for all",
    ]
    c = Canvas((1600, 760), CJK_FONT, 34)
    c.row(60, [(80, "万物识别如何集成到生产环境", "la")], px=52)
    for k, (a, b) in enumerate(zip(left, right, strict=True)):
        y = 200 + k * 52
        c.text((80, y), a)
        c.text((860, y), b)
    return Doc(
        "two_columns",
        c.image,
        "\n".join(["万物识别如何集成到生产环境", *left, *right]),
        {"type": "other", "order": [left, right]},
    )


GENERATORS: dict[str, Callable[[int], Doc]] = {
    "receipt_zh": receipt_zh,
    "receipt_en": receipt_en,
    "invoice_zh": invoice_zh,
    "invoice_en": invoice_en,
    "menu_zh": lambda s: menu(s, "zh"),
    "menu_en": lambda s: menu(s, "en"),
    "exam_zh": exam_zh,
    "table_zh": lambda s: table_page(s, "zh"),
    "table_en": lambda s: table_page(s, "en"),
}


# -- what a camera and a scanner do to a page ---------------------------------------------------


def rotate(img: Image.Image, degrees: float) -> Image.Image:
    return img.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")


def blur(img: Image.Image, radius: float = 1.2) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius))


def low_contrast(img: Image.Image, factor: float = 0.35) -> Image.Image:
    """Grey text on a grey page: the contrast cut to ``factor``, the page darkened a little."""
    return ImageEnhance.Brightness(ImageEnhance.Contrast(img).enhance(factor)).enhance(0.92)


def jpeg(img: Image.Image, quality: int = 25) -> Image.Image:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def perspective(img: Image.Image, strength: float = 0.06) -> Image.Image:
    """The page photographed from slightly below: its top edge narrower than its bottom."""
    w, h = img.size
    pad = int(w * strength)
    canvas = Image.new("RGB", (w + 2 * pad, h + 2 * pad), "white")
    canvas.paste(img, (pad, pad))
    W, H = canvas.size
    # the source quad (corners of the page seen in perspective) mapped onto the output rectangle
    src = [(pad * 0.0, 0.0), (W, 0.0), (W - pad * 2.0, H), (pad * 2.0, H)]
    dst = [(0, 0), (W, 0), (W, H), (0, H)]
    coeffs = _perspective_coeffs(dst, src)
    return canvas.transform(
        (W, H), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC, fillcolor="white"
    )


def _perspective_coeffs(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    import numpy as np

    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.array(rows, dtype=float)
    b = np.array([c for p in src for c in p], dtype=float)
    return [float(v) for v in np.linalg.solve(a, b)]


DEGRADATIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "clean": lambda img: img,
    "rotated 5°": lambda img: rotate(img, 5),
    "rotated -3°": lambda img: rotate(img, -3),
    "blurred": blur,
    "low contrast": low_contrast,
    "JPEG q25": jpeg,
    "perspective": perspective,
}

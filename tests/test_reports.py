"""Reports: a scorecard as an Excel workbook and a PDF board pack, checked against a
hand-scored scorecard; the `report` command's errors; nobody exports what they cannot see."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.http import Http404
from openpyxl import load_workbook
from pypdf import PdfReader

from crm_scorecard.errors import Invalid, NotFound
from crm_scorecard.reports import excel
from crm_scorecard.reports.content import report_build
from crm_scorecard.reports.exports import report_export, report_render
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.comments import comment_add
from crm_scorecard.scorecards.models import Indicator
from crm_scorecard.scorecards.services import scorecard_import

pytestmark = pytest.mark.django_db

# Names people typed that a spreadsheet would read as formulas, or HTML would read as tags.
CARD = {
    "name": "Board card",
    "mission": "Serve well",
    "perspectives": [
        {
            "name": "Financial",
            "weight": 2,
            "goals": [
                {
                    "name": "Grow revenue",
                    "indicators": [
                        {
                            "name": "Revenue",
                            "unit": "currency",
                            "values": {"2025-12": 500000, "2026-01": 597141.47},
                            "baseline": 400000,
                            "target": 800000,
                        },
                        {
                            "name": "=Win rate",
                            "unit": "percent",
                            "values": {"2026-01": 0.7},
                            "baseline": 0.4,
                            "target": 0.8,
                        },
                    ],
                }
            ],
        },
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "+Keep customers",
                    "indicators": [
                        {
                            "name": "Handling time",
                            "unit": "seconds",
                            "values": {"2025-11": 300, "2026-01": 245},
                            "optimization": "minimize",
                            "baseline": 400,
                            "target": 200,
                        },
                        {
                            "name": "@Complaints",
                            "unit": "count",
                            "optimization": "minimize",
                            "baseline": 50,
                            "target": 10,
                        },
                    ],
                }
            ],
        },
        {
            "name": "Learning",
            "goals": [
                {
                    "name": "-Skilled",
                    "indicators": [
                        {
                            "name": "Training <hours> & more",
                            "unit": "hours",
                            "values": {"2026-01": 18},
                            "baseline": 0,
                            "target": 20,
                        }
                    ],
                }
            ],
        },
    ],
    "links": [
        {"from": "-Skilled", "to": "Grow revenue"},
        {"from": "+Keep customers", "to": "Grow revenue"},
    ],
}

# Scored by hand for 2026-01 (scores: maximize (v - baseline) / (target - baseline),
# minimize (baseline - v) / (baseline - target); containers: weighted means of what has data)
REVENUE = (597141.47 - 400000) / 400000  # 0.4928536750 red
WIN_RATE = (0.7 - 0.4) / 0.4  # 0.75 yellow
HANDLING = (400 - 245) / 200  # 0.775 yellow
TRAINING = 18 / 20  # 0.9 green
GROW = (REVENUE + WIN_RATE) / 2  # 0.6214268375 yellow
OVERALL = (2 * GROW + HANDLING + TRAINING) / 4  # 0.7294634188 yellow

TREE = [  # kind, name, value, target, score, status, absolute weight
    ("Perspective", "Financial", None, None, GROW, "yellow", 0.5),
    ("Goal", "Grow revenue", None, None, GROW, "yellow", 0.5),
    ("Indicator", "Revenue", 597141.47, 800000, REVENUE, "red", 0.25),
    ("Indicator", "=Win rate", 0.7, 0.8, WIN_RATE, "yellow", 0.25),
    ("Perspective", "Customer", None, None, HANDLING, "yellow", 0.25),
    ("Goal", "+Keep customers", None, None, HANDLING, "yellow", 0.25),
    ("Indicator", "Handling time", timedelta(seconds=245), timedelta(seconds=200), HANDLING,
     "yellow", 0.125),
    ("Indicator", "@Complaints", "no data", 10, "no data", "grey", 0.125),
    ("Perspective", "Learning", None, None, TRAINING, "green", 0.25),
    ("Goal", "-Skilled", None, None, TRAINING, "green", 0.25),
    ("Indicator", "Training <hours> & more", 18, 20, TRAINING, "green", 0.25),
]  # fmt: skip
FILLS = {"green": "16A34A", "yellow": "EAB308", "red": "DC2626", "grey": "9CA3AF"}


@pytest.fixture
def card(org, settings):
    settings.CRM_CURRENCY = "EUR"
    return scorecard_import(card=files.parse(CARD), department=org.sales)


def _xlsx(org, card):
    export = report_export(user=org.sales_manager, pk=card.pk, fmt="xlsx", period="2026-01")
    return export, load_workbook(io.BytesIO(export.content))


def test_workbook_tree_holds_the_scored_numbers_formats_and_stop_light_fills(org, card):
    # Given the Sales scorecard, scored by hand for January
    # When the Sales manager exports it as a workbook
    export, wb = _xlsx(org, card)
    # Then it is named for the scorecard, department and period
    assert export.filename == "board-card-sales-2026-01.xlsx"
    ws = wb["Scorecard"]
    assert [ws.cell(r, 1).value for r in range(1, 4)] == ["Board card", "Department", "Period"]
    assert ws["B2"].value == "Sales" and ws["B3"].value == "2026-01"
    assert ws["B5"].value == pytest.approx(OVERALL) and ws["B5"].number_format == "0%"
    assert ws["C5"].value == "yellow" and ws["C5"].fill.fgColor.rgb.endswith("EAB308")
    # And each row of the tree is the hand-scored node, numbers as numbers
    header = excel.TREE_FIRST_ROW
    assert [c.value for c in ws[header]][:8] == excel.TREE_COLUMNS[:8]
    for offset, (kind, name, value, target, score, status, weight) in enumerate(TREE, start=1):
        row = header + offset
        assert ws.cell(row, 1).value == kind
        assert ws.cell(row, 2).value == name
        assert ws.cell(row, 3).value == (
            pytest.approx(value) if isinstance(value, float) else value
        )
        assert ws.cell(row, 4).value == target
        assert ws.cell(row, 5).value == (
            pytest.approx(score) if isinstance(score, float) else score
        )
        assert ws.cell(row, 6).value == status
        assert ws.cell(row, 6).fill.fgColor.rgb.endswith(FILLS[status]), name
        assert ws.cell(row, 8).value == pytest.approx(weight)
    assert ws.max_row == header + len(TREE)
    # And each weight as entered, beside its share of the whole
    assert [ws.cell(header + i, 7).value for i in (1, 5, 9)] == [2, 1, 1]
    # And number formats follow each indicator's unit
    formats = {ws.cell(r, 2).value: ws.cell(r, 3).number_format for r in range(header + 1, 19)}
    assert formats["Revenue"] == '"€"#,##0'
    assert formats["=Win rate"] == "0.0%"
    assert formats["Handling time"] == "[m]:ss"
    assert formats["Training <hours> & more"] == '#,##0.0" h"'
    assert ws.cell(header + 3, 5).number_format == "0%"
    # And a container says which children have no data
    assert ws.cell(header + 6, 12).value == "@Complaints"


def test_workbook_keeps_typed_names_as_text_never_formulas(org, card):
    # Given names starting with =, +, - and @
    # When the workbook is exported
    export, wb = _xlsx(org, card)
    # Then each is a text cell, marked as text, and no sheet holds a formula at all
    ws = wb["Scorecard"]
    cells = {c.value: c for c in ws["B"] if isinstance(c.value, str)}
    for name in ("=Win rate", "+Keep customers", "-Skilled", "@Complaints"):
        assert cells[name].data_type == "s"
        assert cells[name].quotePrefix
    with zipfile.ZipFile(io.BytesIO(export.content)) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)


def test_workbook_history_and_fix_first(org, card):
    # Given the scorecard
    # When it is exported for January
    _, wb = _xlsx(org, card)
    # Then the history sheet has twelve months to January, a value and a target row each
    ws = wb["History"]
    months = [c.value for c in ws[1]][4:]
    assert months[0] == "2025-02" and months[-1] == "2026-01" and len(months) == 12
    rows = {(ws.cell(r, 3).value, ws.cell(r, 4).value): r for r in range(2, ws.max_row + 1)}
    assert len(rows) == 2 * 5
    revenue = [ws.cell(rows[("Revenue", "value")], c).value for c in range(5, 17)]
    assert revenue == ["no data"] * 10 + [500000, 597141.47]
    assert [ws.cell(rows[("Revenue", "target")], c).value for c in range(5, 17)] == [800000] * 12
    handling = [ws.cell(rows[("Handling time", "value")], c).value for c in range(5, 17)]
    assert handling[9:] == [timedelta(seconds=300), "no data", timedelta(seconds=245)]
    assert ws.cell(rows[("Revenue", "value")], 1).value == "Financial"
    assert ws.cell(rows[("Revenue", "value")], 2).value == "Grow revenue"
    # And what to fix first ranks by absolute weight × (1 − score)
    fix = wb["Fix first"]
    ranked = [(fix.cell(r, 2).value, fix.cell(r, 5).value) for r in range(2, fix.max_row + 1)]
    assert [n for n, _ in ranked] == [
        "Revenue",
        "=Win rate",
        "Handling time",
        "Training <hours> & more",
    ]
    assert [g for _, g in ranked] == pytest.approx(
        [0.25 * (1 - REVENUE), 0.25 * 0.25, 0.125 * (1 - HANDLING), 0.25 * (1 - TRAINING)]
    )
    assert "Breakdowns" not in wb.sheetnames


def test_workbook_carries_comments_as_a_sheet_and_as_notes_on_the_values(org, card):
    # Given two comments on Revenue's December (one typed like a formula) and none elsewhere
    revenue = Indicator.objects.get(goal__perspective__scorecard=card, name="Revenue")
    comment_add(indicator=revenue, period="2025-12", text="=Launch week", author=org.sales_manager)
    comment_add(indicator=revenue, period="2025-12", text="Big deal", author=org.sales_analyst)
    # When the workbook is exported for January
    _, wb = _xlsx(org, card)
    # Then the comments sheet lists both, oldest first, each typed text kept as text
    ws = wb["Comments"]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert [r[2:5] for r in rows] == [
        ["Revenue", "2025-12", "=Launch week"],
        ["Revenue", "2025-12", "Big deal"],
    ]
    assert ws.cell(2, 5).data_type == "s" and ws.cell(2, 5).quotePrefix
    # And December's revenue value carries them as a cell note, other months none
    history = wb["History"]
    row = next(r for r in range(2, history.max_row + 1) if history.cell(r, 3).value == "Revenue")
    months = [c.value for c in history[1]]
    december = months.index("2025-12") + 1
    note = history.cell(row, december).comment
    assert note is not None and note.text.splitlines()[0].startswith("=Launch week — ")
    assert len(note.text.splitlines()) == 2
    assert history.cell(row, december + 1).comment is None
    assert history.cell(row + 1, december).comment is None  # the target row


def test_pdf_board_pack_pages_and_text(org, card):
    # Given the scorecard
    # When the Sales manager exports the board pack for January
    export = report_export(user=org.sales_manager, pk=card.pk, fmt="pdf", period="2026-01")
    # Then it is a PDF: cover, overview, tree, strategy map, diamond, one page per perspective
    assert export.content_type == "application/pdf" and export.content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(export.content))
    pages = [p.extract_text() for p in reader.pages]
    assert len(pages) == 8
    assert "Board card" in pages[0] and "Sales" in pages[0] and "January 2026" in pages[0]
    assert "Generated at" in pages[0] and "73%" in pages[0]
    # And every page after the cover is numbered
    for number, text in enumerate(pages[1:], start=2):
        assert f"Page {number} of 8" in text
    assert "What to fix first" in pages[1] and "Revenue" in pages[1]
    # And the tree shows values in their units, targets, scores and stop-lights
    tree = pages[2]
    for text in ("€597,141", "€800,000", "70%", "80%", "4:05", "3:20", "18 h", "49%", "78%"):
        assert text in tree, text
    assert "no data" in tree and "red" in tree and "green" in tree
    # And typed names arrive as written, not as markup
    assert "Training <hours> & more" in tree and "=Win rate" in tree
    assert "Strategy map" in pages[3] and "-Skilled" in pages[3]
    assert "Diamond chart" in pages[4]
    assert "Financial" in pages[5] and "Customer" in pages[6] and "Learning" in pages[7]
    # And a duration's chart ticks at whole minutes (200–400 s: 3:00 to 7:00 in 1-minute steps)
    assert all(t in pages[6] for t in ("3:00", "4:00", "5:00", "6:00", "7:00"))


def test_default_period_is_the_month_pages_open_on(org, card):
    # Given no period asked for
    # When the report is built
    report = report_build(scorecard=card, user=org.sales_manager)
    # Then it is the latest complete month, as the pages open on
    from crm_scorecard.scorecards.selectors import latest_period

    assert report.period == latest_period()


def test_a_user_of_another_department_is_refused(org, card):
    # Given the Sales scorecard
    # When Customer Service's manager, or a Field Sales agent below Sales, asks for it
    for outsider in (org.service_manager, org.field_agent):
        # Then it answers as if it did not exist
        with pytest.raises((Http404, NotFound)):
            report_export(user=outsider, pk=card.pk, fmt="pdf", period="2026-01")
    # And the executive may export it
    assert report_export(user=org.executive, pk=card.pk, fmt="xlsx", period="2026-01").content


def test_bad_format_period_and_dimension_are_refused(org, card):
    # Given the scorecard
    # When asked for an unknown format, a future month or an unknown breakdown
    # Then each is refused, naming the field and the reason
    with pytest.raises(Invalid, match="format: 'docx'"):
        report_export(user=org.sales_manager, pk=card.pk, fmt="docx")
    with pytest.raises(Invalid, match="period: 2999-01 is in the future"):
        report_export(user=org.sales_manager, pk=card.pk, fmt="pdf", period="2999-01")
    with pytest.raises(Invalid, match="period: 'January'"):
        report_render(scorecard=card, user=None, fmt="pdf", period="January")
    with pytest.raises(Invalid, match="breakdown: unknown dimension 'colour'"):
        report_render(scorecard=card, user=None, fmt="xlsx", breakdowns=["colour"])


# ---- the command ---------------------------------------------------------------------------


def _report(*args: str) -> str:
    out = io.StringIO()
    call_command("report", *args, stdout=out)
    return out.getvalue()


def test_command_writes_the_workbook_and_the_board_pack(org, card, tmp_path):
    # Given the scorecard
    # When the command exports it as the Sales manager, in both formats
    xlsx, pdf = tmp_path / "card.xlsx", tmp_path / "card.pdf"
    common = ["Board card", "--department", "sales", "--period", "2026-1", "--as", "sales-manager"]
    assert "written" in _report(*common, "--format", "xlsx", "-o", str(xlsx))
    _report(*common, "--format", "pdf", "-o", str(pdf))
    # Then the files hold the scored scorecard
    ws = load_workbook(xlsx)["Scorecard"]
    assert ws["B3"].value == "2026-01" and ws["B5"].value == pytest.approx(OVERALL)
    assert len(PdfReader(pdf).pages) == 8


def test_command_refuses_what_the_user_cannot_see(org, card, tmp_path):
    # Given the Sales scorecard
    # When Customer Service's manager asks for it
    out = tmp_path / "x.pdf"
    with pytest.raises(CommandError, match="No scorecard named 'Board card' that service-manager"):
        _report("Board card", "--format", "pdf", "-o", str(out), "--as", "service-manager")
    # And naming its department does not tell them the department exists
    with pytest.raises(CommandError, match="no department named 'Sales' that service-manager"):
        _report("Board card", "--department", "Sales", "--format", "pdf", "--as", "service-manager")
    # Then nothing was written
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Nope", "--format", "pdf"], "No scorecard named 'Nope'"),
        (["Board card", "--department", "Nowhere", "--format", "pdf"], "no department named"),
        (
            ["Board card", "--period", "2026-13", "--format", "pdf"],
            "argument --period: period '2026-13' must look like",
        ),
        (["Board card", "--period", "2999-01", "--format", "xlsx"], "2999-01 is in the future"),
        (["Board card", "--format", "xlsx", "--as", "nobody"], "--as: no user named 'nobody'"),
    ],
)
def test_command_errors_are_clear(org, card, tmp_path, args, message):
    # Given the scorecard
    # When the command is given something unknown
    # Then it says what and where
    with pytest.raises(CommandError, match=message):
        _report(*args, "-o", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_command_says_a_scorecard_cannot_be_scored(org, card, tmp_path):
    # Given a scorecard whose indicator's baseline equals its target (an edit past the checks)
    Indicator.objects.filter(name="Revenue", goal__perspective__scorecard=card).update(
        target=400000
    )
    # When it is exported
    # Then the command says it cannot be scored, and why
    with pytest.raises(CommandError, match=r"'Board card' cannot be scored: .*Revenue"):
        _report("Board card", "--format", "pdf", "-o", str(tmp_path / "out.pdf"))


# ---- breakdowns ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the engine reads committed rows, over its own connection
def test_breakdowns_hold_only_what_the_reader_may_see(tmp_path):
    from crm_scorecard.accounts.models import Level

    from . import metrics_data
    from .factories import UserFactory

    # Given the tiny company (February revenue: M-Sales' customers bought Devices for 300,
    # an M-Service customer Devices for 70; no accessories) and an M-Sales scorecard with a
    # company-wide revenue indicator
    departments = metrics_data.build()
    card = scorecard_import(
        card=files.parse(
            {
                "name": "Revenue card",
                "perspectives": [
                    {
                        "name": "Financial",
                        "goals": [
                            {
                                "name": "Sell",
                                "indicators": [
                                    {
                                        "name": "Revenue",
                                        "metric": "revenue",
                                        "scope": "company",
                                        "baseline": 0,
                                        "target": 1000,
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ),
        department=departments["sales"],
    )
    manager = UserFactory(
        username="m-manager", level=Level.MANAGER, departments=[departments["sales"]]
    )
    boss = UserFactory(username="m-boss", level=Level.EXECUTIVE)

    # When its manager and an executive export February broken down by product category
    def breakdown(user):
        export = report_export(
            user=user, pk=card.pk, fmt="xlsx", period="2026-02", breakdowns=["product_category"]
        )
        ws = load_workbook(io.BytesIO(export.content))["Breakdowns"]
        return [tuple(ws.cell(r, c).value for c in range(1, 5)) for r in range(2, ws.max_row + 1)]

    # Then the manager's holds only their department's sales, the executive's the company's
    assert breakdown(manager) == [
        ("Revenue", "product_category", "Accessories", 0),
        ("Revenue", "product_category", "Devices", 300),
    ]
    assert breakdown(boss) == [
        ("Revenue", "product_category", "Accessories", 0),
        ("Revenue", "product_category", "Devices", 370),
    ]
    # And the board pack lists them too
    pack = report_export(
        user=manager, pk=card.pk, fmt="pdf", period="2026-02", breakdowns=["product_category"]
    )
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pack.content)).pages)
    assert "Revenue by product_category" in text and "€300" in text and "€370" not in text


def test_a_small_scorecard_with_sub_goals_still_makes_a_whole_pack(org):
    # Given one perspective whose goal has a sub-goal, and only manual values
    small = scorecard_import(
        card=files.parse(
            {
                "name": "Small card",
                "perspectives": [
                    {
                        "name": "Only",
                        "goals": [
                            {
                                "name": "Top",
                                "indicators": [
                                    {"name": "A", "values": {"2026-01": 5}, "baseline": 0,
                                     "target": 10}
                                ],
                                "goals": [
                                    {
                                        "name": "Under",
                                        "indicators": [
                                            {"name": "B", "values": {"2026-01": 10},
                                             "baseline": 0, "target": 10}
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ),
        department=org.service,
    )  # fmt: skip
    # When its manager exports both formats for January
    pack = report_export(user=org.service_manager, pk=small.pk, fmt="pdf", period="2026-01")
    book = report_export(user=org.service_manager, pk=small.pk, fmt="xlsx", period="2026-01")
    # Then the pack says why it has no diamond chart, and shows the sub-goal's indicator
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(pack.content)).pages]
    assert len(pages) == 6
    assert "needs three or more perspectives; this scorecard has 1" in pages[4]
    assert "B" in pages[5] and "Under" in pages[5]
    # And the workbook nests the sub-goal under its goal: A 50%, B 100%, Top (A + Under) 75%
    ws = load_workbook(io.BytesIO(book.content))["Scorecard"]
    rows = [
        (
            ws.cell(r, 1).value,
            ws.cell(r, 2).value,
            ws.cell(r, 2).alignment.indent,
            ws.cell(r, 5).value,
        )
        for r in range(excel.TREE_FIRST_ROW + 1, ws.max_row + 1)
    ]
    assert rows == [
        ("Perspective", "Only", 0, 0.75),
        ("Goal", "Top", 2, 0.75),
        ("Indicator", "A", 4, 0.5),
        ("Goal", "Under", 4, 1.0),
        ("Indicator", "B", 6, 1.0),
    ]


def test_strategy_map_draws_each_link_around_the_boxes_between(org, card):
    from crm_scorecard.reports import charts

    # Given the scorecard: -Skilled (Learning) and +Keep customers (Customer) drive Grow
    # revenue (Financial); all three goals stand in one column
    report = report_build(scorecard=card, user=org.sales_manager, period="2026-01")
    # When its strategy map is drawn
    svg = charts.strategy_map(report.result, report.evaluation.card.goal_links)
    # Then there are two arrowheads: Customer → Financial straight, Learning → Financial
    # curved around the Customer box instead of through it
    assert svg.count(' Z" fill="#1f2937"') == 2
    assert svg.count("<line ") == 1 and svg.count(" C ") == 1
    assert ">-Skilled</text>" in svg
    # And a name that looks like markup is drawn as text
    radar = charts.diamond(["<b>R&D</b>", "B", "C"], [0.5, None, 1.0], [None, None, None])
    assert "&lt;b&gt;R&amp;D&lt;/b&gt;" in radar and "<b>" not in radar


def _csv(content: bytes) -> list[list[str]]:
    import csv

    assert content.startswith(b"\xef\xbb\xbf")  # a BOM, so spreadsheet programs read UTF-8
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_csv_tables_hold_raw_numbers_and_defuse_typed_formulas(org, card):
    # Given the scorecard
    # When its tree and history are exported as CSV
    tree = report_export(user=org.sales_manager, pk=card.pk, fmt="csv", period="2026-01")
    history = report_export(
        user=org.sales_manager, pk=card.pk, fmt="csv", period="2026-01", table="history"
    )
    # Then each is named for its table
    assert tree.filename == "board-card-sales-2026-01-tree.csv"
    assert history.filename == "board-card-sales-2026-01-history.csv"
    rows = _csv(tree.content)
    header, body = rows[0], rows[1:]
    by_name = {r[header.index("name")]: dict(zip(header, r, strict=True)) for r in body}
    # And numbers are raw, at full precision, with their unit beside them
    revenue = by_name["Revenue"]
    assert float(revenue["value"]) == 597141.47 and revenue["unit"] == "currency"
    assert float(revenue["score"]) == pytest.approx(REVENUE) and revenue["status"] == "red"
    assert float(by_name["Handling time"]["value"]) == 245
    # And no data is written out, never empty or 0
    assert by_name["'@Complaints"]["value"] == "no data"
    assert by_name["'@Complaints"]["score"] == "no data"
    # And typed text that a spreadsheet would run as a formula starts with an apostrophe
    assert {"'=Win rate", "'+Keep customers", "'-Skilled", "'@Complaints"} <= set(by_name)
    assert by_name["Revenue"]["goal"] == "Grow revenue"
    assert by_name["'=Win rate"]["perspective"] == "Financial"
    # And the history has a row per indicator and month
    rows = _csv(history.content)
    assert rows[0] == ["perspective", "goal", "indicator", "period", "value", "target", "unit"]
    assert len(rows) == 1 + 5 * 12
    assert [
        "Financial",
        "Grow revenue",
        "Revenue",
        "2025-12",
        "500000",
        "800000",
        "currency",
    ] in rows
    assert [
        "Financial",
        "Grow revenue",
        "Revenue",
        "2025-11",
        "no data",
        "800000",
        "currency",
    ] in rows


def test_command_writes_a_csv_table_and_refuses_an_unknown_one(org, card, tmp_path):
    # Given the scorecard
    # When the command writes its fix-first table
    out = tmp_path / "fix.csv"
    _report("Board card", "--format", "csv", "--table", "fix-first", "--period", "2026-01",
            "-o", str(out))  # fmt: skip
    # Then it ranks the indicators by gain
    rows = _csv(out.read_bytes())
    assert [r[1] for r in rows[1:]] == ["Revenue", "'=Win rate", "Handling time",
                                       "Training <hours> & more"]  # fmt: skip
    assert float(rows[1][4]) == pytest.approx(0.25 * (1 - REVENUE))
    # And an unknown table is refused by name
    with pytest.raises(Invalid, match="table: 'charts' is not one of"):
        report_render(scorecard=card, user=None, fmt="csv", table="charts")


def test_a_server_without_pango_says_what_to_install(monkeypatch):
    # Given a server where WeasyPrint is installed but the Pango library is not
    import builtins

    real_import = builtins.__import__

    def no_pango(name, *args, **kwargs):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pango)
    # When a board pack is asked for, then the refusal names what to install
    from crm_scorecard.errors import Invalid
    from crm_scorecard.reports import pdf

    with pytest.raises(Invalid, match=r"apt-get install libpango-1\.0-0"):
        pdf.document(None)  # type: ignore[arg-type]

"""What the web pages enforce against hostile input: user text is only ever text (Django's
escaping, json_script, and charts whose tooltips are built as DOM text), a strict
Content-Security-Policy, scorecard uploads refused before they can cost much, download
names that cannot break their header, error pages that say nothing, and stop-lights that
are not told by colour alone. The browser test opens every page showing names that are
script payloads and hovers every chart."""

from __future__ import annotations

import os
import re
import time
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse

from crm_scorecard.accounts.models import Level
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Goal, Indicator, Scorecard
from crm_scorecard.scorecards.services import scorecard_import

from .browser import ARTIFACTS, CHROMIUM, FLAGS
from .factories import DepartmentFactory, UserFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop; see test_browser

pytestmark = pytest.mark.django_db

P1 = '"><img src=x onerror=alert(1)>'
P2 = "<script>alert(2)</script>"
P3 = "</script><svg onload=alert(3)>"
PAYLOADS = [P1, P2, P3]


def indicator(name: str, values: dict[str, float], baseline: float, target: float) -> dict:
    return {"name": name, "values": values, "baseline": baseline, "target": target}


# Every name a person can give is a payload: scorecard, mission, perspectives, goals,
# indicators. Goal P1 has three indicators, so it has a diamond chart of its own.
HOSTILE = {
    "name": P1,
    "mission": P2,
    "perspectives": [
        {
            "name": P1,
            "goals": [
                {
                    "name": P1,
                    "indicators": [
                        indicator(P1, {"2025-12": 0.6, "2026-01": 0.95}, 0.5, 0.9),
                        indicator(P2, {"2025-12": 5, "2026-01": 10}, -20, 30),
                        indicator(P3, {"2025-12": 1, "2026-01": 2}, 0, 20),
                    ],
                }
            ],
        },
        {
            "name": P2,
            "goals": [{"name": P2, "indicators": [indicator(P2, {"2026-01": 12}, 0, 20)]}],
        },
        {
            "name": P3,
            "goals": [{"name": P3, "indicators": [indicator(P3, {"2026-01": 5}, 0, 20)]}],
        },
    ],
    "links": [{"from": P3, "to": P2}, {"from": P2, "to": P1}],
}


@pytest.fixture
def hostile(org) -> Scorecard:
    return scorecard_import(card=files.parse(HOSTILE), department=org.service)


def page_urls(card: Scorecard) -> dict[str, str]:
    goals = list(Goal.objects.filter(perspective__scorecard=card).order_by("pk"))
    indicators = list(Indicator.objects.filter(goal__perspective__scorecard=card).order_by("pk"))
    period = "?period=2026-01"
    urls = {
        "home": "/",
        "scorecard": f"/scorecards/{card.pk}/{period}",
        "map": f"/scorecards/{card.pk}/map/{period}",
        "diamond": f"/scorecards/{card.pk}/diamond/{period}",
        "diamond-goal": f"/scorecards/{card.pk}/diamond/{period}&node=goal:{goals[0].pk}",
    }
    urls |= {
        f"goal-{i}": f"/scorecards/{card.pk}/goals/{g.pk}/{period}" for i, g in enumerate(goals)
    }
    urls |= {f"indicator-{i}": f"/indicators/{x.pk}/{period}" for i, x in enumerate(indicators)}
    return urls


# ---- server side: headers and markup ------------------------------------------------------------


class Markup(HTMLParser):
    """Collects what a Content-Security-Policy without 'unsafe-inline' would refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts: list[str] = []
        self.script_nonces: list[str | None] = []
        self.handlers: list[str] = []
        self.styles: list[str] = []
        self._in_inline = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = dict(attrs)
        self.handlers += [f"{tag} {k}" for k, _ in attrs if k.startswith("on")]
        if "style" in given:
            self.styles.append(f"{tag} style={given['style']}")
        if tag == "style":
            self.styles.append("<style> element")
        if tag == "script":
            if "src" in given:
                self.script_nonces.append(given.get("nonce"))
            elif given.get("type") != "application/json":
                self._in_inline = True

    def handle_data(self, data: str) -> None:
        if self._in_inline:
            self.inline_scripts.append(data.strip()[:60])
            self._in_inline = False


def test_every_page_answers_with_a_strict_content_security_policy(client, org, hostile):
    # Given a signed-in manager
    client.force_login(org.service_manager)
    for name, url in page_urls(hostile).items():
        # When a page is opened
        response = client.get(url)
        # Then it carries the policy, with a fresh nonce and nothing unsafe
        assert response.status_code == 200, name
        policy = response["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'self'"
        assert re.fullmatch(r"'self' 'nonce-[\w-]+'", directives["script-src"]), policy
        assert re.fullmatch(r"'self' 'nonce-[\w-]+'", directives["style-src"]), policy
        assert directives["img-src"] == "'self' data:"
        assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
        assert directives["frame-ancestors"] == "'none'" and directives["form-action"] == "'self'"
        assert "unsafe" not in policy


def test_pages_carry_no_inline_script_handler_or_style(client, org, hostile):
    # Given a signed-in manager and a scorecard whose names are script payloads
    client.force_login(org.service_manager)
    urls = page_urls(hostile) | {"import": reverse("scorecard-import"), "new": "/scorecards/new/"}
    for name, url in urls.items():
        # When a page is opened
        response = client.get(url)
        html = response.content.decode()
        markup = Markup()
        markup.feed(html)
        nonce = re.search(r"'nonce-([\w-]+)'", response["Content-Security-Policy"])
        # Then its scripts are files carrying the request's nonce, and data is JSON
        assert markup.inline_scripts == [], (name, markup.inline_scripts)
        assert nonce and set(markup.script_nonces) == {nonce.group(1)}, name
        # And no element has an event handler or a style attribute
        assert markup.handlers == [] and markup.styles == [], (name, markup.handlers, markup.styles)
        # And no payload reached the page unescaped, inside or outside a script
        for payload in PAYLOADS:
            assert payload not in html, (name, payload)


# ---- uploads ------------------------------------------------------------------------------------

ALIAS_BOMB = (
    "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10))
    + "name: Bomb\nperspectives: [{name: Boom, goals: *l9}]\n"
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (ALIAS_BOMB, "line 1: YAML anchors and aliases (&amp;name, *name) are not allowed"),
        ("name: Deep\nmission: " + "[" * 20_000 + "]" * 20_000, "nested more than 20 levels"),
        ("name: Big\n" + "#" * files.MAX_BYTES, "the file is too big (the limit is 1 MiB"),
        (
            "name: Many\nperspectives:\n  - name: P\n    goals:\n"
            + "".join(f"      - name: G{i}\n" for i in range(501)),
            "too big: 501 goals (the limit is 500)",
        ),
        ("name: [unclosed", "not valid YAML"),
        (b"name: \xff\xfe", "not UTF-8 text"),
    ],
    ids=["alias-bomb", "deep", "too-big", "too-many-goals", "not-yaml", "not-utf8"],
)
def test_web_import_refuses_hostile_files_with_a_form_error(client, org, content, message):
    # Given a manager on the import form
    client.force_login(org.service_manager)
    data = content.encode() if isinstance(content, str) else content
    started = time.monotonic()
    # When they upload the file
    response = client.post(
        reverse("scorecard-import"),
        {"file": SimpleUploadedFile("card.yaml", data), "department": org.service.pk},
    )
    # Then the form answers 400 naming the problem, and nothing is written
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Scorecard.objects.count() == 0 and Goal.objects.count() == 0
    assert time.monotonic() - started < 10  # sanity bound; each takes well under a second


# ---- downloads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "filename"),
    [
        ("Line\nbreak", "line-break.yaml"),
        ('Say "hi"', 'say-"hi".yaml'),
        ("Semi; colon", "semi;-colon.yaml"),
        ("Ünïcødé kårt", "ünïcødé-kårt.yaml"),
        ("Tab\tand\r\nreturn\x1b[31m", "tab-and-return-[31m.yaml"),
        ("../../etc/passwd", "..-..-etc-passwd.yaml"),
    ],
)
def test_export_file_name_is_safe_for_any_scorecard_name(client, org, name, filename):
    # Given a scorecard whose name has characters that break a header
    card = scorecard_import(card=files.parse({"name": name}), department=org.service)
    client.force_login(org.service_manager)
    # When it is exported
    response = client.get(reverse("scorecard-export", args=[card.pk]))
    # Then it downloads, as an attachment named after it
    assert response.status_code == 200
    header = response["Content-Disposition"]
    assert "\n" not in header and "\r" not in header
    parsed = EmailMessage()
    parsed["Content-Disposition"] = header
    assert parsed.get_content_disposition() == "attachment"
    assert parsed.get_filename() == filename


# ---- error pages --------------------------------------------------------------------------------


def test_out_of_scope_scorecard_answers_404_in_the_layout(client, org, hostile):
    # Given a Sales manager and Customer Service's scorecard
    client.force_login(org.sales_manager)
    # When they open it
    response = client.get(reverse("scorecard-detail", args=[hostile.pk]))
    # Then it is not found, on the styled page with the navigation
    assert response.status_code == 404
    assert "404.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert '<nav aria-label="Main">' in html and "Page not found" in html
    assert 'href="/static/web/app.css"' in html
    # And it says nothing about the scorecard, or the reason it was refused
    assert "&lt;img" not in html and "No such scorecard" not in html


def test_refused_action_answers_403_in_the_layout(client, org):
    # Given an analyst, who may not create scorecards
    client.force_login(org.sales_analyst)
    # When they open the new-scorecard page
    response = client.get(reverse("scorecard-new"))
    # Then it is refused on the styled page with the navigation, without the reason's text
    assert response.status_code == 403
    html = response.content.decode()
    assert '<nav aria-label="Main">' in html and "Not allowed" in html
    assert "Only managers create scorecards" not in html


def test_domain_not_found_from_a_selector_answers_404_in_the_layout(client, org, monkeypatch):
    # Given the customer 360's selector finding nothing, as the domain says it (NotFound)
    from crm_scorecard.crm import selectors
    from crm_scorecard.errors import NotFound

    def missing(**_):
        raise NotFound("No such customer: <b>C-1</b>")

    monkeypatch.setattr(selectors, "customer_360", missing)
    client.force_login(org.service_agent)
    # When the page is opened
    response = client.get(reverse("customer-detail", args=["C-1"]))
    # Then it is the 404 page, which says nothing of what was asked for
    assert response.status_code == 404
    html = response.content.decode()
    assert '<nav aria-label="Main">' in html and "Page not found" in html
    assert "C-1" not in html


def test_domain_invalid_from_a_selector_answers_400_with_the_reason_as_text(
    client, org, monkeypatch
):
    # Given the customer 360's selector refusing the request, with a reason holding markup
    from crm_scorecard.crm import selectors
    from crm_scorecard.errors import Invalid

    def refused(**_):
        raise Invalid("Customer <script>alert(1)</script> & co cannot be shown")

    monkeypatch.setattr(selectors, "customer_360", refused)
    client.force_login(org.service_agent)
    # When the page is opened
    response = client.get(reverse("customer-detail", args=["C-1"]))
    # Then it is the 400 page in the layout, the reason shown as text, never as markup
    assert response.status_code == 400
    assert "400.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert '<nav aria-label="Main">' in html
    assert "Customer &lt;script&gt;alert(1)&lt;/script&gt; &amp; co cannot be shown" in html
    assert "<script>alert(1)" not in html


def test_domain_invalid_reaches_the_api_unchanged_by_the_page_mapping(client, org, monkeypatch):
    # Given the same refusal behind the API's customer endpoint
    from crm_scorecard.crm import selectors
    from crm_scorecard.errors import Invalid

    def refused(**_):
        raise Invalid("No <b>way</b>")

    monkeypatch.setattr(selectors, "customer_360", refused)
    client.force_login(org.service_agent)
    # When the API is asked
    response = client.get("/api/customers/C-1")
    # Then the pages' mapping leaves it to the API's own: 422 with the reason as JSON
    assert response.status_code == 422
    assert response.json() == {"detail": "No <b>way</b>"}


# ---- stop-lights --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "shape", "word"),
    [
        ("green", "●", "On target"),
        ("yellow", "▲", "Watch"),
        ("red", "■", "Off target"),
        ("grey", "○", "No data"),
    ],
)
def test_stop_light_has_a_shape_and_a_word(status, shape, word):
    # Given a status, when its stop-light is drawn
    html = render_to_string("web/_light.html", {"status": status})
    # Then it shows a shape and a word as well as the colour
    assert f'<span class="light {status}" aria-hidden="true">{shape}</span>' in html
    assert f'<span class="status-word">{word}</span>' in html


def test_scorecard_rows_tell_status_in_words(client, org, hostile):
    # Given the hostile scorecard (goal P1 scores 0.5-1: its indicators are 1.0, 0.6, 0.1)
    client.force_login(org.service_manager)
    # When its dashboard is opened
    html = client.get(page_urls(hostile)["scorecard"]).content.decode()
    # Then every row's stop-light carries its word, and each status seen has its own
    rows = re.findall(
        r'<tr class="(?:perspective|goal|indicator)" data-status="(\w+)">(.*?)</tr>', html, re.S
    )
    words = {"green": "On target", "yellow": "Watch", "red": "Off target", "grey": "No data"}
    assert len(rows) == 11
    for status, row in rows:
        assert f'<span class="status-word">{words[status]}</span>' in row, status
    assert {"green", "red"} <= {status for status, _ in rows}


# ---- in a browser -------------------------------------------------------------------------------

HOVER_EVERY_POINT = """
(id) => {
  const el = document.getElementById(id);
  const chart = echarts.getInstanceByDom(el);
  const seen = [];
  const look = () => {
    const tip = el.querySelector(".chart-tip");
    if (tip) { seen.push(tip.textContent); }
    if (el.querySelector("img, script, svg, iframe, object")) { seen.push("ELEMENT INJECTED"); }
  };
  chart.getModel().eachSeries((series) => {
    const seriesIndex = series.componentIndex;
    for (let i = 0; i < series.getData().count(); i++) {
      chart.dispatchAction({type: "showTip", seriesIndex, dataIndex: i});
      look();
    }
  });
  chart.dispatchAction({type: "hideTip"});
  return seen;
}
"""

TIP_TEXT = """
(id) => {
  const el = document.getElementById(id);
  const tip = el.querySelector(".chart-tip");
  return el.querySelector("img, script, svg, iframe, object") ? "ELEMENT INJECTED" : (tip ? tip.textContent : "");
}
"""

NODE_PIXELS = """
(id) => {
  const chart = echarts.getInstanceByDom(document.getElementById(id));
  const points = [];
  chart.getModel().eachSeries((series) => {
    const data = series.getData();
    for (let i = 0; i < data.count(); i++) {
      const layout = data.getItemLayout(i);
      if (!Array.isArray(layout)) { continue; }
      // a graph node is one [x, y]; a radar's series is one per axis
      (Array.isArray(layout[0]) ? layout : [layout]).forEach((p) => points.push(p));
    }
    // a graph's arrows: the middle of each (quadratic) curve
    const edges = series.getEdgeData ? series.getEdgeData() : null;
    for (let i = 0; edges && i < edges.count(); i++) {
      const [a, b, c] = edges.getItemLayout(i);
      const m = c || [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      points.push([0.25 * a[0] + 0.5 * m[0] + 0.25 * b[0], 0.25 * a[1] + 0.5 * m[1] + 0.25 * b[1]]);
    }
  });
  return points;
}
"""


@pytest.fixture
def guarded_page():
    """A chromium page that records every dialog, CSP violation and script error."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM}: apt-get install chromium")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.problems = []  # type: ignore[attr-defined]

        def dialog(d):
            page.problems.append(f"dialog: {d.message}")  # type: ignore[attr-defined]
            d.dismiss()

        def console(msg):
            if "Refused to" in msg.text or "Content Security Policy" in msg.text:
                page.problems.append(f"CSP: {msg.text}")  # type: ignore[attr-defined]

        page.on("dialog", dialog)
        page.on("console", console)
        page.on("pageerror", lambda exc: page.problems.append(f"error: {exc}"))  # type: ignore[attr-defined]
        # Violations are also events in the page, which a console filter could miss.
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) => console.error("
            "'Refused to (securitypolicyviolation) ' + e.violatedDirective + ' ' + e.blockedURI"
            " + ' at ' + e.sourceFile + ':' + e.lineNumber + ':' + e.columnNumber));"
        )
        yield page
        browser.close()


@pytest.mark.django_db(transaction=True)
def test_script_payloads_stay_text_on_every_page_and_chart(live_server, guarded_page):
    # Given a manager and a scorecard whose every name is a script payload
    service = DepartmentFactory(name="Service")
    card = scorecard_import(card=files.parse(HOSTILE), department=service)
    user = UserFactory(username="boss", level=Level.MANAGER, departments=[service])
    user.set_password("a-long-secret-1")
    user.save()
    page = guarded_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "a-long-secret-1")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    tips: dict[str, list[str]] = {}
    for name, path in page_urls(card).items():
        # When each page showing the names is opened
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        charts = page.eval_on_selector_all(
            "#gauge, #radar, #map, #history-chart", "els => els.map(e => e.id)"
        )
        for chart in charts:
            page.wait_for_selector(f"#{chart}[data-rendered] canvas")
            # And every point of every chart is hovered, by the chart's API and by the mouse
            tips[f"{name}/{chart}"] = page.evaluate(HOVER_EVERY_POINT, chart)
            box = page.locator(f"#{chart}").bounding_box()
            assert box is not None
            for x, y in page.evaluate(NODE_PIXELS, chart):
                page.mouse.move(box["x"] + x, box["y"] + y)
                tips[f"{name}/{chart}"].append(page.evaluate(TIP_TEXT, chart))
            for dx in range(5, int(box["width"]), 40):
                for dy in range(5, int(box["height"]), 40):
                    page.mouse.move(box["x"] + dx, box["y"] + dy)
            assert page.locator(f"#{chart} img, #{chart} script, #{chart} svg").count() == 0
        if name in ("scorecard", "map"):
            page.screenshot(path=str(ARTIFACTS / f"security-{name}.png"), full_page=True)
        # Then no script ran, nothing was refused by the policy, and no error was thrown
        assert page.problems == [], (name, page.problems)  # type: ignore[attr-defined]
        # And no payload became an element
        assert (
            page.locator(
                "main img, main svg:not(.spark), main script:not([src]):not([type='application/json'])"
            ).count()
            == 0
        )
    # And the names are shown as literal text: headings, tree, lists and chart tooltips
    page.goto(f"{live_server.url}{page_urls(card)['scorecard']}")
    assert page.locator("h1").inner_text() == P1
    tree = page.locator("#tree").inner_text()
    assert all(p in tree for p in PAYLOADS)
    page.goto(f"{live_server.url}{page_urls(card)['map']}")
    assert all(page.locator("ul.plain a", has_text=p).count() == 1 for p in PAYLOADS)
    page.wait_for_selector("#map[data-rendered] canvas")
    page.evaluate(
        "echarts.getInstanceByDom(document.getElementById('map'))"
        ".dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 0})"
    )
    assert page.locator("#map .chart-tip").inner_text().startswith(P1)
    page.screenshot(path=str(ARTIFACTS / "security-map-tooltip.png"))
    map_tips = " ".join(tips["map/map"])
    assert all(p in map_tips for p in PAYLOADS), map_tips
    assert f"{P3} → {P2}" in map_tips and f"{P2} → {P1}" in map_tips
    assert all(p in " ".join(tips["diamond/radar"]) for p in PAYLOADS)
    assert all(p in " ".join(tips["diamond-goal/radar"]) for p in PAYLOADS)
    assert all("ELEMENT INJECTED" not in t for seen in tips.values() for t in seen)
    assert page.problems == []  # type: ignore[attr-defined]
    connection.close()

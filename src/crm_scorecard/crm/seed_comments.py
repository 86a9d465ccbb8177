"""What the synthetic company's customers write: feedback comments and complaint descriptions
around the themes a real business hears about again and again (late parcels, double charges,
faulty devices, long waits on the phone, a friendly agent, ...).

Each theme belongs to the department of the demo company that would act on it, is praise or a
grievance (praise comes with a high rating, grievances with a low one), and is the subject of
some complaint categories. Customers say the same thing in many ways: each theme has
templates with slots, several dozen distinct sentences in all, so that grouping the comments
has real work to do and the affinity board shows something a manager recognises."""

from __future__ import annotations

import itertools
import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

WORD = re.compile(r"\b\w\w+\b")  # a word as the grouping's TF-IDF counts one


def words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


@dataclass(frozen=True)
class CommentTheme:
    """A recurring thing customers write about."""

    name: str  # what a manager would call it on the affinity board
    department: str  # the demo company's department that acts on it
    praise: bool  # praise comes with a rating of 4 or 5, a grievance with 1 to 3
    share: float  # how often it comes up, relative to the other themes of its tone
    templates: tuple[str, ...]
    slots: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Complaint categories whose descriptions are about this theme (none: praise).
    categories: tuple[str, ...] = ()

    def say(self, rng: random.Random) -> str:
        """One way a customer puts it."""
        template = rng.choice(self.templates)
        return template.format(**{name: rng.choice(self.slots[name]) for name in _fields(template)})

    def sentences(self) -> list[str]:
        """Every sentence the theme can produce."""
        found: list[str] = []
        for template in self.templates:
            names = _fields(template)
            for values in itertools.product(*(self.slots[n] for n in names)):
                found.append(template.format(**dict(zip(names, values, strict=True))))
        return found

    @cached_property
    def vocabulary(self) -> set[str]:
        return set().union(*(words(s) for s in self.sentences()))


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


TIMES = ("twice", "three times", "four times")
DEVICES = ("tablet", "smartphone", "charger", "wireless dock", "Tablet Pro")
WEEKS = ("two weeks", "three weeks", "a month", "six weeks")

COMMENT_THEMES: tuple[CommentTheme, ...] = (
    # ---- grievances ---------------------------------------------------------------------------
    CommentTheme(
        name="Late or damaged deliveries",
        department="Sales",
        praise=False,
        share=0.2,
        categories=("other",),
        templates=(
            "Parcel delivery was {late} late.",
            "My parcel arrived {late} after the promised delivery date.",
            "Still waiting for my parcel, the delivery tracking has not moved for {late}.",
            "The courier left my parcel {where} and the box was crushed.",
            "The parcel was damaged on delivery, the {box} torn open.",
            "The courier missed the delivery {times} and never rang the bell.",
        ),
        slots={
            "late": ("a week", "ten days", "two weeks", "three days"),
            "where": ("in the rain", "outside the front door", "with a neighbour"),
            "box": ("box", "packaging", "wrapping"),
            "times": TIMES,
        },
    ),
    CommentTheme(
        name="Billing errors and double charges",
        department="Inside Sales",
        praise=False,
        share=0.16,
        categories=("billing",),
        templates=(
            "I was charged {times} for the same invoice.",
            "My invoice shows the wrong amount, I was charged {amount} too much.",
            "Billing charged my credit card {amount} I do not recognise.",
            "The direct debit was charged {times} this month.",
            "My invoice still charges me for a {plan} I cancelled.",
            "Another billing mistake on my invoice, {amount} too much.",
        ),
        slots={
            "times": TIMES,
            "amount": ("€20", "€35", "€49", "€119"),
            "plan": ("support plan", "subscription", "security licence"),
        },
    ),
    CommentTheme(
        name="Faulty products",
        department="Service Desk",
        praise=False,
        share=0.16,
        categories=("product",),
        templates=(
            "My {device} stopped working after {period}.",
            "Faulty {device}, it keeps {fault}.",
            "The {device} is faulty and keeps {fault}.",
            "My new {device} stopped working, it keeps {fault}.",
            "The screen of my {device} is faulty, it went black after {period}.",
        ),
        slots={
            "device": DEVICES,
            "period": ("a week", "two days", "a month", "three weeks"),
            "fault": ("switching itself off", "freezing", "overheating", "restarting"),
        },
    ),
    CommentTheme(
        name="Warranty claims and repairs",
        department="Service Desk",
        praise=False,
        share=0.08,
        categories=("warranty",),
        templates=(
            "My warranty claim was {refused} although the {device} is under a year old.",
            "The warranty repair has taken {weeks} so far.",
            "The {device} came back from warranty repair with the same fault.",
            "Nobody can tell me the status of my warranty repair after {weeks}.",
            "Still no replacement {device} under the warranty after {weeks}.",
        ),
        slots={
            "refused": ("refused", "rejected", "turned down"),
            "device": DEVICES,
            "weeks": WEEKS,
        },
    ),
    CommentTheme(
        name="Long waits on the phone",
        department="Call Centre",
        praise=False,
        share=0.16,
        categories=("service",),
        templates=(
            "I waited {minutes} minutes on hold before anyone answered.",
            "Your hotline kept me on hold for {minutes} minutes.",
            "{minutes} minutes on hold at the hotline, {awful}.",
            "Waiting time on the hotline is {awful}, {minutes} minutes on hold.",
            "I was on hold for {minutes} minutes and then the call dropped.",
        ),
        slots={
            "minutes": ("20", "25", "40", "45"),
            "awful": ("awful", "ridiculous", "far too long"),
        },
    ),
    CommentTheme(
        name="Rude or unhelpful staff",
        department="Customer Service",
        praise=False,
        share=0.08,
        categories=("service",),
        templates=(
            "The {person} I spoke to was rude and {unhelpful}.",
            "Rude {person}, {unhelpful} and hung up on me.",
            "I felt talked down to by a rude {person}.",
            "The {person} was {unhelpful} and rude from the start.",
        ),
        slots={
            "person": ("adviser", "staff member", "team leader"),
            "unhelpful": ("unhelpful", "dismissive", "impatient"),
        },
    ),
    CommentTheme(
        name="App and website problems",
        department="Digital Marketing",
        praise=False,
        share=0.1,
        categories=("assistance",),
        templates=(
            "The {app} crashes with an error every time I try to {action}.",
            "I cannot log in to the {app}, it shows {error}.",
            "The {app} shows {error} when I try to {action}.",
            "The {app} is so slow and full of errors that I gave up trying to {action}.",
        ),
        slots={
            "app": ("app", "website", "mobile app", "customer portal"),
            "action": ("pay", "update my address", "change my plan", "log in"),
            "error": ("an error", "error 500", "a session expired error"),
        },
    ),
    CommentTheme(
        name="Returns and refunds",
        department="Customer Service",
        praise=False,
        share=0.1,
        categories=("other",),
        templates=(
            "I returned the {item} {weeks} ago and still have no refund.",
            "My refund for the returned {item} has not come through.",
            "The returns label never came, so I cannot return the {item} for a refund.",
            "They refused the return and refund of an unopened {item}.",
            "Still waiting for my refund {weeks} after I returned the {item}.",
        ),
        slots={"item": DEVICES, "weeks": WEEKS},
    ),
    CommentTheme(
        name="Promotions and marketing emails",
        department="Marketing",
        praise=False,
        share=0.05,
        categories=("other",),
        templates=(
            "The discount code from your {mail} did not work.",
            "Your {mail} advertised a discount of {offer} but the offer was not applied.",
            "I keep getting marketing {mail}s with offers I never signed up for.",
            "Unsubscribing from your marketing {mail}s does not work.",
        ),
        slots={
            "mail": ("newsletter", "email", "text message"),
            "offer": ("20%", "€50", "a third"),
        },
    ),
    # ---- praise -------------------------------------------------------------------------------
    CommentTheme(
        name="Friendly staff",
        department="Call Centre",
        praise=True,
        share=0.3,
        templates=(
            "Friendly staff, {name} was {kind} with all my questions.",
            "{name} was so friendly and {kind}.",
            "Lovely friendly staff, {kind} from start to finish.",
            "The staff were friendly and {kind} every time I called.",
        ),
        slots={
            "name": ("Anna", "Tom", "Priya", "Lukas"),
            "kind": ("polite", "kind", "cheerful", "patient"),
        },
    ),
    CommentTheme(
        name="Expert technical support",
        department="Service Desk",
        praise=True,
        share=0.2,
        templates=(
            "The technician fixed my {device} {quickly}.",
            "Support knew exactly what was wrong and fixed it {quickly}.",
            "Expert support from the technician, fixed {quickly}.",
            "The support technician was {expert} and fixed it {quickly}.",
        ),
        slots={
            "device": DEVICES,
            "quickly": ("in minutes", "the same day", "straight away"),
            "expert": ("an expert", "really knowledgeable", "brilliant"),
        },
    ),
    CommentTheme(
        name="Easy online ordering",
        department="Digital Marketing",
        praise=True,
        share=0.2,
        templates=(
            "Ordering in your online shop was {easy}.",
            "Easy ordering, checkout in the online shop was {easy}.",
            "Found the {device} in the online shop and ordered it {easily}.",
        ),
        slots={
            "easy": ("quick and easy", "simple", "a breeze"),
            "device": DEVICES,
            "easily": ("in two clicks", "without any fuss", "easily"),
        },
    ),
    CommentTheme(
        name="Good value for money",
        department="Sales",
        praise=True,
        share=0.15,
        templates=(
            "{great} value for money.",
            "Fair price, {good} value for money.",
            "Worth every penny, the {device} is {good} value for the price.",
            "Cheaper than {rival}, {good} value for money.",
        ),
        slots={
            "great": ("Great", "Excellent", "Very good"),
            "good": ("good", "great", "fair"),
            "device": DEVICES,
            "rival": ("the big chains", "other shops", "the competition"),
        },
    ),
    CommentTheme(
        name="Helpful account manager",
        department="Field Sales",
        praise=True,
        share=0.15,
        templates=(
            "{name}, our account manager, always finds the right solution.",
            "Our account manager {name} {helped}.",
            "The account manager visited us and explained every option {well}.",
        ),
        slots={
            "name": ("Maria", "Jonas", "Claire", "David"),
            "well": ("clearly", "patiently", "honestly"),
            "helped": (
                "set up a bundle that fits our team",
                "visits us every quarter",
                "always calls back the same day",
            ),
        },
    ),
)


def themes_for(*, praise: bool | None = None, category: str | None = None) -> list[CommentTheme]:
    """The themes of one tone, or those a complaint of `category` can be about."""
    return [
        t
        for t in COMMENT_THEMES
        if (praise is None or t.praise == praise) and (category is None or category in t.categories)
    ]


class CommentWriter:
    """Writes comments from its own random stream, so that what customers write can change
    without changing any other column of a seeded company."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"{seed}:comments")
        self.by_tone = {tone: themes_for(praise=tone) for tone in (True, False)}
        self.by_category: dict[str, list[CommentTheme]] = {}

    def _pick(self, themes: Sequence[CommentTheme]) -> CommentTheme:
        return self.rng.choices(themes, weights=[t.share for t in themes])[0]

    def feedback(self, rating: int) -> str:
        """A comment to go with a rating: praise for 4 and 5, a grievance below."""
        return self._pick(self.by_tone[rating >= 4]).say(self.rng)

    def complaint(self, category: str) -> str:
        """A complaint's description, about a theme of its category (any grievance when no
        theme names the category)."""
        if category not in self.by_category:
            self.by_category[category] = themes_for(category=category) or self.by_tone[False]
        return self._pick(self.by_category[category]).say(self.rng)


def distinctive_words() -> dict[str, set[str]]:
    """Per theme, the words no other theme uses: what tells its comments apart."""
    found: dict[str, set[str]] = {}
    for theme in COMMENT_THEMES:
        others = set().union(*(t.vocabulary for t in COMMENT_THEMES if t is not theme))
        found[theme.name] = theme.vocabulary - others
    return found


def theme_for_label(label: str) -> CommentTheme | None:
    """The theme a grouping's label ("parcel / courier / late") most likely stands for: the
    one with the most of the label's words among its distinctive words; None when no theme
    has any, or two have as many."""
    wanted = words(label)
    scores = sorted(
        ((len(wanted & own), name) for name, own in distinctive_words().items()), reverse=True
    )
    if not scores or scores[0][0] == 0 or (len(scores) > 1 and scores[1][0] == scores[0][0]):
        return None
    return next(t for t in COMMENT_THEMES if t.name == scores[0][1])

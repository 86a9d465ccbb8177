"""An alerts run (`alerts_check`): find what changed (`rules`), decide who follows each
change, record the new states, and send each person one digest (in the app and by email)
and each department one webhook message. A dry run only says what would be sent.

Who follows a change: the indicator's owner (its `owner` names a username), the managers of
the scorecard's (or complaint's) department, and whoever subscribed to the scorecard, the
goal or the indicator; the most specific choice wins, so a manager may mute an indicator of
a scorecard they follow by default. Nobody ever hears about what they cannot see."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.accounts.scope import Actor, visible_department_ids
from crm_scorecard.errors import Invalid, NotFound
from crm_scorecard.scorecards.models import Goal, Indicator, Scorecard
from crm_scorecard.scorecards.selectors import goal_get, indicator_get, scorecard_get

from . import channels, rules
from .models import AlertState, DepartmentWebhook, Digest, Subscription, WebhookDelivery

log = logging.getLogger(__name__)

WEBHOOK_ATTEMPTS = 20  # a webhook failing this many runs in a row is given up on (logged)
EMAIL_ATTEMPTS = 5
RETRY_DAYS = 7  # nor is anything older retried


@dataclass
class RunReport:
    """What a run found and sent (or, dry, would send)."""

    dry_run: bool
    events: list[rules.Event] = field(default_factory=list)
    digests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # username: items
    emails: list[str] = field(default_factory=list)  # addresses
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)  # department: payload
    failures: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "events": [e.item() for e in self.events],
            "digests": self.digests,
            "emails": self.emails,
            "webhooks": self.webhooks,
            "failures": self.failures,
        }


# ---- who follows what -----------------------------------------------------------------------


def _sees(user: User, department_id: int, cache: dict[int, set[int] | None]) -> bool:
    if user.pk not in cache:
        cache[user.pk] = visible_department_ids(user=user)
    ids = cache[user.pk]
    return ids is None or department_id in ids


def recipients(events: Iterable[rules.Event]) -> dict[User, list[rules.Event]]:
    """Each person who follows one of `events` (and may see it), with the events they follow."""
    events = list(events)
    departments = {e.department_id for e in events}
    managers: dict[int, set[int]] = defaultdict(set)
    for user_id, dept_id in User.objects.filter(
        level=Level.MANAGER, is_active=True, departments__in=departments
    ).values_list("pk", "departments"):
        managers[dept_id].add(user_id)
    owners = {
        u.username: u.pk
        for u in User.objects.filter(
            is_active=True, username__in={e.owner for e in events if e.owner}
        )
    }
    choices: dict[tuple[int, str, int], bool] = {}
    q = Q(scorecard__in={e.scorecard_id for e in events if e.scorecard_id})
    q |= Q(goal__in={g for e in events for g in e.goal_ids})
    q |= Q(indicator__in={e.indicator_id for e in events if e.indicator_id})
    for s in Subscription.objects.filter(q, user__is_active=True):
        kind = "indicator" if s.indicator_id else "goal" if s.goal_id else "scorecard"
        choices[(s.user_id, kind, s.indicator_id or s.goal_id or s.scorecard_id or 0)] = s.active
    followers: dict[int, list[rules.Event]] = defaultdict(list)
    for event in events:
        default = managers[event.department_id] | (
            {owners[event.owner]} if event.owner in owners else set()
        )
        if event.scorecard_id is None:  # a complaint: its department's managers
            for user_id in default:
                followers[user_id].append(event)
            continue
        subjects: list[tuple[str, int]] = [
            *([("indicator", event.indicator_id)] if event.indicator_id else []),
            *(("goal", g) for g in event.goal_ids),
            ("scorecard", event.scorecard_id),
        ]
        candidates = default | {u for (u, kind, pk) in choices if (kind, pk) in subjects}
        for user_id in candidates:
            decided = next(
                (
                    choices[(user_id, kind, pk)]
                    for kind, pk in subjects
                    if (user_id, kind, pk) in choices
                ),
                None,
            )
            if decided if decided is not None else user_id in default:
                followers[user_id].append(event)
    users = User.objects.in_bulk(list(followers))
    scope: dict[int, set[int] | None] = {}
    found: dict[User, list[rules.Event]] = {}
    for user_id, mine in followers.items():
        user = users[user_id]
        visible = [e for e in mine if _sees(user, e.department_id, scope)]
        if visible:
            found[user] = visible
    return found


# ---- the run --------------------------------------------------------------------------------


def alerts_check(
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    indicator_ids: Iterable[int] | None = None,
) -> RunReport:
    """Check every rule and tell the people who follow each change, once. With
    `indicator_ids` (after manual values were entered), only the scorecards showing those
    indicators (or their cascaded copies) and their due dates are checked; otherwise
    everything, complaints included. A dry run records and sends nothing."""
    now = now or timezone.now()
    if indicator_ids is None:
        cards = Scorecard.objects.select_related("department").order_by("pk")
        found = [
            rules.colours(scorecards=cards),
            rules.manual_values(now=now),
            rules.complaints(now=now),
        ]
    else:
        ids = list(indicator_ids)
        cards = Scorecard.objects.select_related("department").filter(
            Q(perspectives__goals__indicators__in=ids)
            | Q(perspectives__goals__indicators__cascaded_from__in=ids)
        )
        found = [
            rules.colours(scorecards=cards.distinct().order_by("pk")),
            rules.manual_values(now=now, indicator_ids=ids),
        ]
    report = RunReport(dry_run=dry_run, events=[e for f in found for e in f.events])
    states = {key: state for f in found for key, state in f.states.items()}
    if dry_run:
        _plan(report)
        return report
    with transaction.atomic():
        # Another run (a compute and a value typed in at once) may have recorded some of
        # these states since they were read: those are its to report, not this run's.
        taken = _record(states, now)
        report.events = [
            e for e in report.events if (e.subject_type, e.subject_id, e.kind) not in taken
        ]
        people, hooks = _plan(report)
        Digest.objects.bulk_create(
            [
                Digest(user=u, created_at=now, items=[e.item() for e in mine], email_to=u.email)
                for u, mine in people.items()
            ]
        )
        WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    webhook=hook, created_at=now, payload=report.webhooks[hook.department.name]
                )
                for hook in hooks
            ]
        )
        # Forgotten now and again once committed (a page may have read the old count between).
        keys = [_unread_key(u.pk) for u in people]
        cache.delete_many(keys)
        transaction.on_commit(lambda: cache.delete_many(keys))
    report.failures = _send(now)
    return report


def _plan(report: RunReport) -> tuple[dict[User, list[rules.Event]], list[DepartmentWebhook]]:
    """Who gets which of the report's events, and which webhooks get a message; fills the
    report's digests, emails and webhook payloads."""
    people = recipients(report.events)
    by_department: dict[int, list[rules.Event]] = defaultdict(list)
    for event in report.events:
        by_department[event.department_id].append(event)
    hooks = sorted(
        DepartmentWebhook.objects.filter(
            active=True, department__in=list(by_department)
        ).select_related("department"),
        key=lambda h: h.department.name,
    )
    report.digests = {
        u.username: [e.item() for e in mine]
        for u, mine in sorted(people.items(), key=lambda p: p[0].username)
    }
    report.emails = sorted(u.email for u in people if u.email)
    report.webhooks = {
        hook.department.name: channels.webhook_payload(
            department=hook.department.name,
            items=[e.item() for e in by_department[hook.department_id]],
        )
        for hook in hooks
    }
    return people, hooks


def _record(states: dict[tuple[str, int, str], str], now: datetime) -> set[tuple[str, int, str]]:
    """Store the states seen (changed ones only, so few rows are written), the rows locked;
    returns those found already recorded as such (by a run in between)."""
    if not states:
        return set()
    existing = {
        (s.subject_type, s.subject_id, s.kind): s
        for s in AlertState.objects.select_for_update().filter(
            subject_id__in={pk for _, pk, _ in states}
        )
    }
    changed, new = [], []
    taken: set[tuple[str, int, str]] = set()
    for key, state in states.items():
        row = existing.get(key)
        if row is None:
            new.append(
                AlertState(
                    subject_type=key[0], subject_id=key[1], kind=key[2], state=state, changed_at=now
                )
            )
        elif row.state == state:
            taken.add(key)
        else:
            row.state, row.changed_at = state, now
            changed.append(row)
    AlertState.objects.bulk_update(changed, ["state", "changed_at"])
    AlertState.objects.bulk_create(new)
    return taken


def _send(now: datetime) -> list[str]:
    """Send every email and webhook message not yet delivered (this run's, and earlier
    ones that failed, for a while). A failure is logged and kept for the next run; it never
    stops the others."""
    failures: list[str] = []
    since = now - timedelta(days=RETRY_DAYS)
    for digest in Digest.objects.filter(
        emailed_at__isnull=True,
        created_at__gte=since,
        email_attempts__lt=EMAIL_ATTEMPTS,
    ).exclude(email_to=""):
        digest.email_attempts += 1
        try:
            channels.email_message(to=digest.email_to, items=digest.items).send()
            digest.emailed_at, digest.email_error = timezone.now(), ""
        except Exception as exc:  # any mail server failure: retried next run
            digest.email_error = str(exc)[:500]
            failures.append(f"email to {digest.email_to}: {exc}")
            log.warning("alerts: email to %s failed: %s", digest.email_to, exc)
        digest.save(update_fields=["email_attempts", "emailed_at", "email_error"])
    for delivery in WebhookDelivery.objects.filter(
        sent_at__isnull=True,
        created_at__gte=since,
        attempts__lt=WEBHOOK_ATTEMPTS,
        webhook__active=True,
    ).select_related("webhook__department"):
        delivery.attempts += 1
        try:
            channels.webhook_post(url=delivery.webhook.url, payload=delivery.payload)
            delivery.sent_at, delivery.last_error = timezone.now(), ""
        except Exception as exc:  # receiver down or refusing: retried
            delivery.last_error = str(exc)[:500]
            failures.append(f"webhook of {delivery.webhook.department.name}: {exc}")
            log.warning(
                "alerts: webhook of %s failed (attempt %d): %s",
                delivery.webhook.department.name,
                delivery.attempts,
                exc,
            )
        delivery.save(update_fields=["attempts", "sent_at", "last_error"])
    return failures


# ---- a person's alerts and what they follow -------------------------------------------------


def _person(user: Actor) -> User:
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        raise NotFound("No such page.")
    return user


def digests_of(*, user: Actor) -> list[Digest]:
    """A person's digests, newest first, each item still visible to them (a person moved to
    another department no longer sees the old one's alerts)."""
    me = _person(user)
    ids = visible_department_ids(user=me)
    found = list(Digest.objects.filter(user=me)[:200])
    for digest in found:
        digest.items = [i for i in digest.items if ids is None or i["department_id"] in ids]
    return [d for d in found if d.items]


UNREAD_SECONDS = 300  # the bell's count is kept this long, forgotten at once on any change


def _unread_key(user_id: int) -> str:
    return f"alerts-unread:{user_id}"


def unread_count(*, user: Actor) -> int:
    """How many of the person's digests are unread (the bell, on every page): kept in the
    cache so a page view asks the database nothing more; a run that adds digests and
    marking read forget it."""
    if not isinstance(user, User) or not user.is_authenticated:
        return 0
    key = _unread_key(user.pk)
    found = cache.get(key)
    if found is None:
        found = Digest.objects.filter(user=user, read_at__isnull=True).count()
        cache.set(key, found, timeout=UNREAD_SECONDS)
    return int(found)


def digest_mark_read(*, user: Actor, pk: int | None = None) -> int:
    """Mark one of the person's digests read (`pk`), or all of them; another person's
    digest answers like one that does not exist. Returns how many were marked."""
    me = _person(user)
    qs = Digest.objects.filter(user=me, read_at__isnull=True)
    if pk is not None:
        if not 0 < pk < 2**63 or not Digest.objects.filter(user=me, pk=pk).exists():
            raise NotFound("No such alert.")
        qs = qs.filter(pk=pk)
    marked = qs.update(read_at=timezone.now())
    cache.delete(_unread_key(me.pk))
    return marked


SUBJECTS = ("scorecard", "goal", "indicator")


@dataclass(frozen=True)
class Following:
    """A subject and whether the person follows it (`default`: by being its department's
    manager or its owner, without a choice of their own)."""

    subject: str
    subject_id: int
    name: str
    department: str
    active: bool
    default: bool


def _subject(*, user: Actor, subject: str, pk: int) -> Scorecard | Goal | Indicator:
    """The scorecard, goal or indicator, if the person may see it (else 404)."""
    if subject == "scorecard":
        return scorecard_get(user=user, pk=pk)
    if subject == "goal":
        return goal_get(user=user, pk=pk)
    if subject == "indicator":
        return indicator_get(user=user, pk=pk)
    raise Invalid(f"subject: {subject!r} is not one of {', '.join(SUBJECTS)}")


def subscription_set(*, user: Actor, subject: str, pk: int, follow: bool) -> Following:
    """Follow (or mute) a scorecard, goal or indicator the person can see."""
    me = _person(user)
    found = _subject(user=me, subject=subject, pk=pk)
    lookup: dict[str, Any] = {"user": me, subject: found}
    Subscription.objects.update_or_create(defaults={"active": follow}, **lookup)
    return _following(me, subject, found, follow, default=False)


def _department_of(found: Scorecard | Goal | Indicator) -> Department:
    if isinstance(found, Scorecard):
        return found.department
    if isinstance(found, Goal):
        return found.perspective.scorecard.department
    return found.goal.perspective.scorecard.department


def _following(
    user: User, subject: str, found: Scorecard | Goal | Indicator, active: bool, default: bool
) -> Following:
    return Following(
        subject=subject,
        subject_id=found.pk,
        name=found.name,
        department=_department_of(found).name,
        active=active,
        default=default,
    )


@dataclass(frozen=True)
class FollowState:
    """Whether the person hears about an indicator's changes, and why: `choice` names the
    subject whose follow or mute decides ("indicator", "goal", "scorecard"), or is "" when
    nobody chose and `default` says whether they follow as its owner or a manager."""

    following: bool
    choice: str
    default: str  # "owner", "manager" or ""

    @property
    def reason(self) -> str:
        if self.choice == "indicator":
            return "followed" if self.following else "muted"
        if self.choice:
            return f"{'followed' if self.following else 'muted'} with its {self.choice}"
        if self.default:
            return f"as its {self.default}"
        return ""


def indicator_follow_state(*, user: Actor, indicator: Indicator) -> FollowState:
    """Whether the person follows `indicator`, by the rule `recipients` applies: the most
    specific choice (the indicator, its goals from the nearest up, the scorecard) wins, else
    its owner and the department's managers follow it."""
    me = _person(user)
    indicator = _subject(user=me, subject="indicator", pk=indicator.pk)  # type: ignore[assignment]
    card = indicator.goal.perspective.scorecard
    parents = dict(Goal.objects.filter(perspective__scorecard=card).values_list("pk", "parent_id"))
    goals: list[int] = []
    goal_id: int | None = indicator.goal_id
    while goal_id is not None and goal_id not in goals:
        goals.append(goal_id)
        goal_id = parents.get(goal_id)
    choices = {
        (
            "indicator" if s.indicator_id else "goal" if s.goal_id else "scorecard",
            s.indicator_id or s.goal_id or s.scorecard_id,
        ): s.active
        for s in Subscription.objects.filter(
            Q(indicator=indicator) | Q(goal__in=goals) | Q(scorecard=card), user=me
        )
    }
    for key in [("indicator", indicator.pk), *(("goal", g) for g in goals), ("scorecard", card.pk)]:
        if key in choices:
            return FollowState(following=choices[key], choice=key[0], default="")
    if indicator.owner and indicator.owner == me.username:
        return FollowState(following=True, choice="", default="owner")
    if me.level == Level.MANAGER and me.departments.filter(pk=card.department_id).exists():
        return FollowState(following=True, choice="", default="manager")
    return FollowState(following=False, choice="", default="")


def subscriptions_of(*, user: Actor) -> list[Following]:
    """What the person follows or muted, and the scorecards they follow by default (as a
    manager of the department), all within what they can see."""
    me = _person(user)
    ids = visible_department_ids(user=me)
    rows = Subscription.objects.filter(user=me).select_related(
        "scorecard__department",
        "goal__perspective__scorecard__department",
        "indicator__goal__perspective__scorecard__department",
    )
    found: list[Following] = []
    chosen: set[int] = set()
    for s in rows:
        subject = "indicator" if s.indicator_id else "goal" if s.goal_id else "scorecard"
        thing = s.indicator or s.goal or s.scorecard
        assert thing is not None
        if ids is not None and _department_of(thing).pk not in ids:
            continue
        if subject == "scorecard":
            chosen.add(thing.pk)
        found.append(_following(me, subject, thing, s.active, default=False))
    if me.level == Level.MANAGER:
        for card in Scorecard.objects.filter(department__in=me.departments.all()).select_related(
            "department"
        ):
            if card.pk not in chosen:
                found.append(_following(me, "scorecard", card, True, default=True))
    return sorted(found, key=lambda f: (f.department, f.subject, f.name, f.subject_id))

"""Voice of the customer: what customers wrote (feedback comments, complaint descriptions)
gathered into themes on an affinity diagram, and who changed which theme when."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm_scorecard.accounts.models import Department
from crm_scorecard.crm.models import Complaint, Feedback


class CommentKind(models.TextChoices):
    """Where a comment comes from."""

    FEEDBACK = "feedback", "Feedback"
    COMPLAINT = "complaint", "Complaint"


class ChangeAction(models.TextChoices):
    """What was done to a theme."""

    GROUP = "group", "Grouped by the machine"
    CREATE = "create", "Created"
    RENAME = "rename", "Renamed"
    ASSIGN = "assign", "Assigned to a department"
    MERGE = "merge", "Merged"
    SPLIT = "split", "Split"
    MOVE = "move", "Comment moved"


class Theme(models.Model):
    """One column of the affinity diagram: comments that say the same kind of thing
    ("parcel arrived late"). A theme assigned to a department is that department's to act
    on and is seen by it (and the departments above it); an unassigned theme waits for an
    executive to hand it to one. Grouping keeps a label a person chose."""

    label = models.CharField(max_length=120)
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="voc_themes",
        help_text="The department that acts on this theme; empty while unassigned.",
    )
    named_by_person = models.BooleanField(
        default=False, help_text="A person chose the label: grouping never changes it."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the grouping made it.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["label", "pk"]

    def __str__(self) -> str:
        return self.label


class ThemeMember(models.Model):
    """A comment's place on the diagram: exactly one feedback or one complaint, in one theme.
    A comment a person placed stays where they put it when grouping runs again."""

    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="members")
    kind = models.CharField(max_length=16, choices=CommentKind.choices)
    feedback = models.OneToOneField(
        Feedback, null=True, blank=True, on_delete=models.CASCADE, related_name="voc_member"
    )
    complaint = models.OneToOneField(
        Complaint, null=True, blank=True, on_delete=models.CASCADE, related_name="voc_member"
    )
    placed_by_person = models.BooleanField(default=False)
    placed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind=CommentKind.FEEDBACK, feedback__isnull=False, complaint__isnull=True)
                    | Q(kind=CommentKind.COMPLAINT, complaint__isnull=False, feedback__isnull=True)
                ),
                name="voc_member_one_comment_of_its_kind",
            )
        ]
        indexes = [models.Index(fields=["theme", "placed_at"])]

    def __str__(self) -> str:
        return f"{self.kind} in {self.theme_id}"

    @property
    def comment(self) -> Feedback | Complaint:
        found = self.feedback if self.kind == CommentKind.FEEDBACK else self.complaint
        assert found is not None
        return found


class ThemeChange(models.Model):
    """The diagram's history: who (nobody: the grouping command or an operator) did what to
    which theme, and when. Kept when a theme is merged away."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=16, choices=ChangeAction.choices)
    theme = models.ForeignKey(
        Theme, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} at {self.at:%Y-%m-%d %H:%M}"

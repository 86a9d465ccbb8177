"""What voc tells the layers above it. Voc sits below scorecards and may not call them, so
a change others depend on is announced here and they connect a receiver to it."""

from __future__ import annotations

from django.dispatch import Signal

# Themes' labels changed: a person renamed a theme (`theme`: it), merged one into another
# (`theme`: the surviving one; the merged theme's label now stands for it), or grouping
# brought machine labels up to date (`theme`: None, several at once). Sent with `theme` and
# `labels`, {label before: label after}, each pair differing, inside the change's
# transaction. Labels are company-wide: metrics break comments down by them (`voc_theme`),
# so whatever filtered on a label before should filter on the one after. Several labels
# come in one mapping so that a receiver can move them all at once (grouping may hand one
# theme's old label to another).
theme_relabelled = Signal()

"""Settings for a developer's machine and `crm-scorecard demo`."""

from .base import *  # noqa: F403

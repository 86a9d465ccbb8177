"""The `crm-scorecard` command: the product's commands, and the few of Django's an
administrator needs, under one name. `crm-scorecard help --all` lists the rest of
Django's (developer) commands, which all still run."""

from __future__ import annotations

import os
import sys

from django.core.management import ManagementUtility, get_commands, load_command_class

from crm_scorecard import __version__

# Django's commands a site's administrator uses; the others are for developing the product.
ADMIN_COMMANDS = (
    "migrate",
    "check",
    "createsuperuser",
    "changepassword",
    "axes_reset_username",
    "clearsessions",
    "shell",
)


def _summary(app: str, name: str) -> str:
    """A command's help, up to the end of its first sentence."""
    text = " ".join(str(load_command_class(app, name).help).split())
    first, dot, _ = text.partition(". ")
    return first + ("." if dot else "")


class ProductUtility(ManagementUtility):
    """Django's dispatcher with the product's version and its own list of commands."""

    show_all = False

    def execute(self) -> None:
        args = self.argv[1:]
        # `crm-scorecard serve --version` too: Django's commands would print Django's version.
        if args in (["--version"], ["version"]) or args[1:] == ["--version"]:
            sys.stdout.write(f"crm-scorecard {__version__}\n")
            return
        if args[:1] == ["help"] and "--all" in args:
            self.show_all = True
            self.argv.remove("--all")
        super().execute()

    def main_help_text(self, commands_only: bool = False) -> str:
        if self.show_all:
            return str(super().main_help_text(commands_only))
        commands = get_commands()
        product = sorted(name for name, app in commands.items() if app.startswith("crm_scorecard"))
        admin = [name for name in ADMIN_COMMANDS if name in commands]
        if commands_only:
            return "\n".join(sorted(product + admin))
        width = max(map(len, product + admin))
        lines = [
            f"crm-scorecard {__version__}",
            "",
            "Type 'crm-scorecard help <command>' for help on a command, and "
            "'crm-scorecard help --all' for Django's developer commands too.",
            "",
            "Commands:",
        ]
        lines += [f"  {name:<{width}}  {_summary(commands[name], name)}" for name in product]
        lines += ["", "Administration (Django's):"]
        lines += [f"  {name:<{width}}  {_summary(commands[name], name)}" for name in admin]
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_scorecard.settings.local")
    ProductUtility(["crm-scorecard", *(sys.argv[1:] if argv is None else argv)]).execute()

"""Running the product on a server: the command's version and help, production settings
from the environment, health endpoints and logs."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from crm_scorecard import __version__
from crm_scorecard.cli import main


def test_version_is_the_products(capsys):
    # Given the installed product
    # When its version is asked for
    main(["--version"])
    # Then it is the product's one version, the one its package metadata carries
    assert capsys.readouterr().out == f"crm-scorecard {__version__}\n"
    assert version("crm-scorecard") == __version__


@pytest.mark.parametrize("argv", [[], ["help"], ["--help"]])
def test_help_lists_the_products_commands_not_djangos_developer_ones(argv, capsys):
    # Given the command
    # When its help is asked for
    main(argv)
    out = capsys.readouterr().out
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    # Then it lists the product's commands and the administrator's few, with what they do
    assert {"serve", "import", "compute", "scorecard", "migrate", "createsuperuser"} <= listed
    assert "Serve the web app" in out
    # and none of Django's developer commands
    assert not listed & {"makemigrations", "startapp", "runserver", "squashmigrations", "test"}


def test_help_all_lists_djangos_commands_too(capsys):
    # Given the command
    # When all commands are asked for
    main(["help", "--all"])
    out = capsys.readouterr().out
    # Then Django's developer commands are listed as well
    assert "makemigrations" in out and "startapp" in out and "serve" in out

"""Log lines: the ``marlpipe`` logger, set up by the CLI and the stage scripts (marlpipe.log)."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from click.testing import CliRunner

from marlpipe.log import LOGGER, StderrHandler, configure


@pytest.fixture
def package_logger():
    """The ``marlpipe`` logger, put back as it was after the test."""
    logger = logging.getLogger(LOGGER)
    handlers, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_a_warning_reaches_stderr_when_nothing_set_logging_up():
    """In-process use (a notebook, a script calling ``evolve.run``) still shows the lines about
    the user's files: they are warnings, printed plain by Python's last-resort handler."""
    code = (
        "import logging; logging.getLogger('marlpipe.pipeline.resume').warning('evolve: %s', 'x');"
        " logging.getLogger('marlpipe.pipeline.evolve').info('hidden')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr == "evolve: x\n" and done.stdout == ""


def test_configure_logs_info_plainly_to_the_current_stderr(package_logger, capsys):
    configure()
    configure()  # again: still one handler
    assert sum(isinstance(h, StderrHandler) for h in package_logger.handlers) == 1
    logging.getLogger("marlpipe.pipeline.evolve").info("evolve: %d", 3)
    logging.getLogger("marlpipe.pipeline.evolve").debug("not shown")
    assert capsys.readouterr().err == "evolve: 3\n"


@pytest.mark.parametrize(
    ("flags", "level"),
    [([], logging.INFO), (["-v"], logging.DEBUG), (["--quiet"], logging.WARNING)],
)
def test_the_cli_sets_the_level(package_logger, tmp_path, flags, level):
    from marlpipe.cli import cli

    missing = str(tmp_path / "missing.yaml")
    result = CliRunner().invoke(cli, [*flags, "envspec", "--params", missing])
    assert result.exit_code == 2, result.output
    assert package_logger.level == level

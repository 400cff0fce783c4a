"""The CI script runs exactly the README's test command, then ruff and mypy; it fails on
empty runs, failed tests and lint or type errors."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CI = ROOT / ".ci" / "run"


def test_ci_script_is_executable() -> None:
    assert os.access(CI, os.X_OK)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- quickstart-test -->")[1].split("<!-- /quickstart-test -->")[0]
    command = [line for line in block.splitlines() if line.strip() and not line.startswith("```")]
    printed = subprocess.run([str(CI), "--print-command"], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == command[0]
    assert "pytest" in command[0]


def test_quick_start_has_exactly_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start")[1].split("\n## ")[0]
    commands = [line for line in quick.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 2


def _fake_repo(tmp_path: Path, command: str, *, ruff: int = 0, mypy: int = 0) -> Path:
    """A repository whose test command is `command`, preceded by installing stand-in
    `ruff` and `mypy` into .venv/bin that log their arguments and exit with the codes given."""
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_bytes(CI.read_bytes())
    (tmp_path / ".ci" / "run").chmod(0o755)
    tools = tmp_path / "fakebin"
    tools.mkdir()
    for name, code in (("ruff", ruff), ("mypy", mypy)):
        tool = tools / name
        tool.write_text(f'#!/bin/sh\necho "{name} ran: $*"\nexit {code}\n')
        tool.chmod(0o755)
    install = "mkdir -p .venv && cp -r fakebin .venv/bin && "
    (tmp_path / "README.md").write_text(
        f"<!-- quickstart-test -->\n```sh\n{install}{command}\n```\n<!-- /quickstart-test -->\n"
    )
    return tmp_path / ".ci" / "run"


def _run(run: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(run)], capture_output=True, text=True, check=False)


def test_ci_fails_when_no_test_ran(tmp_path: Path) -> None:
    done = _run(_fake_repo(tmp_path, "echo 'no tests ran'; exit 5"))
    assert done.returncode != 0 and "no tests ran" in done.stderr


def test_ci_fails_when_a_test_fails(tmp_path: Path) -> None:
    assert _run(_fake_repo(tmp_path, "echo '1 failed, 3 passed'; exit 1")).returncode == 1


def test_ci_fails_on_success_without_passing_tests(tmp_path: Path) -> None:
    assert _run(_fake_repo(tmp_path, "echo 'nothing'")).returncode == 1


def test_ci_passes_when_tests_lint_and_types_pass(tmp_path: Path) -> None:
    done = _run(_fake_repo(tmp_path, "echo '12 passed in 1.0s'"))
    assert done.returncode == 0, done.stderr
    assert "ruff ran: check proxy tui" in done.stdout
    assert "mypy ran: proxy" in done.stdout


def test_ci_fails_when_ruff_reports_a_problem(tmp_path: Path) -> None:
    done = _run(_fake_repo(tmp_path, "echo '12 passed in 1.0s'", ruff=1))
    assert done.returncode == 1
    assert "FAILED: ruff check proxy tui" in done.stderr


def test_ci_fails_when_mypy_reports_a_problem(tmp_path: Path) -> None:
    done = _run(_fake_repo(tmp_path, "echo '12 passed in 1.0s'", mypy=1))
    assert done.returncode == 1
    assert "FAILED: mypy proxy" in done.stderr


def test_ci_fails_when_the_test_command_does_not_install_the_checkers(tmp_path: Path) -> None:
    run = _fake_repo(tmp_path, "echo '12 passed in 1.0s'")
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("mkdir -p .venv && cp -r fakebin .venv/bin && ", ""))
    done = _run(run)
    assert done.returncode == 1
    assert "ruff is not installed by the test command" in done.stderr


def test_the_test_extra_installs_ruff_mypy_and_hypothesis() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    names = {dep.split(">")[0].split("=")[0].split("<")[0].strip() for dep in extra}
    assert {"ruff", "mypy", "hypothesis"} <= names

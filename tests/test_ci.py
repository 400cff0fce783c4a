"""The CI script runs exactly the README's test command, and fails on empty runs."""

from __future__ import annotations

import os
import subprocess
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

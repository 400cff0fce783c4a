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


def _fake_repo(tmp_path: Path, command: str) -> Path:
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_bytes(CI.read_bytes())
    (tmp_path / ".ci" / "run").chmod(0o755)
    (tmp_path / "README.md").write_text(f"<!-- quickstart-test -->\n```sh\n{command}\n```\n<!-- /quickstart-test -->\n")
    return tmp_path / ".ci" / "run"


def test_ci_fails_when_no_test_ran(tmp_path: Path) -> None:
    run = _fake_repo(tmp_path, "echo 'no tests ran'; exit 5")
    done = subprocess.run([str(run)], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "no tests ran" in done.stderr


def test_ci_fails_when_a_test_fails(tmp_path: Path) -> None:
    run = _fake_repo(tmp_path, "echo '1 failed, 3 passed'; exit 1")
    assert subprocess.run([str(run)], capture_output=True, text=True, check=False).returncode == 1


def test_ci_fails_on_success_without_passing_tests(tmp_path: Path) -> None:
    run = _fake_repo(tmp_path, "echo 'nothing'")
    assert subprocess.run([str(run)], capture_output=True, text=True, check=False).returncode == 1


def test_ci_passes_when_tests_pass(tmp_path: Path) -> None:
    run = _fake_repo(tmp_path, "echo '12 passed in 1.0s'")
    done = subprocess.run([str(run)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr

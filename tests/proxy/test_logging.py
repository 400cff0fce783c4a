"""Logging: secrets masked in every handler; nothing written to the terminal the TUI owns."""

from __future__ import annotations

import logging

import pytest

from proxy.logging_setup import setup_logging
from proxy.paths import Paths


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def restore_root_logger():
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_secrets_are_masked_in_the_log_file_and_the_extra_handler(paths: Paths) -> None:
    extra = Collect()
    setup_logging(paths, stderr=False, extra_handler=extra)
    logging.getLogger("agproxy.test").warning("key %s token %s", "sk-0123456789abcdef", "ya29.secret-token")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = paths.log_file.read_text()
    for out in (text, "\n".join(extra.lines)):
        assert "0123456789abcdef" not in out and "secret-token" not in out
        assert "sk-…" in out


def test_unwritable_log_dir_is_reported_in_the_log_not_on_the_terminal(tmp_path, capfd) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the log folder should be")
    paths = Paths(config_file=tmp_path / "config.toml", data_dir=tmp_path, log_dir=blocker)
    extra = Collect()
    setup_logging(paths, stderr=False, extra_handler=extra)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert any("cannot write log file" in line for line in extra.lines)


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_the_log_file_and_its_rotations_are_0600(paths: Paths, monkeypatch) -> None:
    import os

    old_umask = os.umask(0o022)  # the usual umask, which made the log 0644
    try:
        paths.log_dir.mkdir(parents=True, exist_ok=True)
        # a log and a backup an older agproxy left world-readable
        for path in (paths.log_file, paths.log_file.with_name(paths.log_file.name + ".1")):
            path.write_text("old line\n")
            path.chmod(0o644)
        monkeypatch.setattr("proxy.logging_setup.MAX_BYTES", 300)
        setup_logging(paths, stderr=False)
        assert _mode(paths.log_file) == 0o600
        assert _mode(paths.log_file.with_name(paths.log_file.name + ".1")) == 0o600
        for i in range(20):  # several rollovers
            logging.getLogger("agproxy.test").warning("line %d %s", i, "x" * 60)
        rotated = sorted(paths.log_dir.glob(paths.log_file.name + "*"))
        assert len(rotated) == 4  # the log and three backups
        assert {p.name: _mode(p) for p in rotated} == {p.name: 0o600 for p in rotated}
    finally:
        os.umask(old_umask)

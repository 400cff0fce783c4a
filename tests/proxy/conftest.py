"""Fixtures shared by proxy tests: the fake upstream and the dispatcher harness over it."""

from tests.fakes.harness import fake, harness  # noqa: F401

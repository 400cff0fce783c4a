"""Test doubles. The only fake in the suite is the upstream (Google + z.ai wire protocols)."""

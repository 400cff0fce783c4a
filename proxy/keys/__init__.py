"""Client keys (SPEC §19): store.py (keys.json, hashes only) and guard.py (the edge's
checks). Nothing is imported here: the CLI loads the store without aiohttp."""

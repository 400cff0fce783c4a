"""Upstream clients: one SSE parser, pooled sessions per kind, retry hints and
failure classification, OAuth, and the Antigravity / Gemini API / z.ai clients."""

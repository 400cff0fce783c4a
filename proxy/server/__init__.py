"""The aiohttp application: `build_app(ctx)` (app.py), its middlewares and routes,
and the three API faces (openai.py, anthropic.py, gemini.py) that register on it."""

"""Write SVG screenshots of every tab (and the request detail) into screenshots/,
from the seeded demo app: fake traffic, frozen clock, no secrets.

    .venv/bin/python -m tui.screenshots [--out screenshots] [--size 120x36]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from tui.demo import DemoApp

SHOTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("traffic", ()),
    ("accounts", ("2",)),
    ("settings", ("3",)),
    ("connect", ("4",)),
    ("log", ("5",)),
    ("detail", ("up", "up", "up", "up", "up", "up", "up", "up", "enter")),
    ("account", ("2", "down", "enter")),
    ("stats", ("6",)),
    ("help", ("question_mark",)),
)


async def take(name: str, keys: tuple[str, ...], out: Path, size: tuple[int, int]) -> Path:
    app = DemoApp()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.2)
        path = out / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"agproxy-tui — {name}"))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="screenshots")
    parser.add_argument("--size", default="120x36")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, keys in SHOTS:
        path = asyncio.run(take(name, keys, out, (width, height)))
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

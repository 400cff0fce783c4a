"""A/B latency of two trees of agproxy: `python -m tests.bench.ab [--rev REV]`.

On this shared 2-core machine two back-to-back runs of the bench differ by more than most
hot-path changes are worth. This runs both trees at once instead: the `proxy/` package of git
revision REV (default HEAD, extracted to a temp dir) as A, the working tree as B, each an
`agproxy serve` on its own port against the same fast fake, measured in the same rounds
(direct / A / B interleaved by the load generator, the order of A and B swapped every
repetition), so the machine's load hits both alike. Prints the added median latency per
protocol and repetition, the mean difference B - A, and the proxy CPU per request of each.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from tests.bench import procs, workload
from tests.bench.procs import cpu_seconds
from tests.bench.run import Bench

REPO = Path(__file__).resolve().parents[2]

# Runs `agproxy serve` from the extracted tree (argv[1]) whatever the installed package is.
_SERVE_A = """import sys
sys.path.insert(0, sys.argv[1])
import proxy
assert proxy.__file__.startswith(sys.argv[1]), proxy.__file__
from proxy.cli import main
sys.exit(main(["serve", *sys.argv[2:]]))
"""


def extract(rev: str, dest: Path) -> None:
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "proxy"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def retarget(raw: bytes, old_port: int, new_port: int) -> bytes:
    return raw.replace(f"127.0.0.1:{old_port}".encode(), f"127.0.0.1:{new_port}".encode())


async def run(b: Bench, rev: str, protocols: list[str], rounds: int, reps: int) -> None:
    tree = b.tmp / "tree-a"
    extract(rev, tree)
    script = b.tmp / "serve_a.py"
    script.write_text(_SERVE_A)
    fake = await procs.start_fake(b.fake_port, b.env, b.tmp, 500)
    b.configure()
    home_a = b.tmp / "home-a"
    shutil.copytree(b.home, home_a)
    port_a = procs.free_port()
    a = await procs.spawn("serve-a", [sys.executable, str(script), str(tree), "--port", str(port_a)],
                          {**b.env, "AGPROXY_HOME": str(home_a)}, b.tmp)
    bb = await procs.spawn("serve-b", b.serve_command(), b.env, b.tmp)
    try:
        await procs.wait_http(port_a, a)
        await procs.wait_http(b.proxy_port, bb)
        await asyncio.sleep(0.5)
        added: dict[str, list[float]] = {"A": [], "B": []}
        for rep in range(reps):
            for p in protocols:
                e = b.ex("small", p)
                order = [("A", port_a, retarget(e.proxy, b.proxy_port, port_a)), ("B", b.proxy_port, e.proxy)]
                if rep % 2:
                    order.reverse()
                got = await b.rounds([("direct", b.fake_port, e.direct), *order], rounds, 20)
                d = got["direct"]["median"]
                for name in ("A", "B"):
                    added[name].append(got[name]["median"] - d)
                print(f"{p:9s} added median  A {added['A'][-1]:.3f} ms  B {added['B'][-1]:.3f} ms  "
                      f"(direct {d:.3f} ms)", flush=True)
        mean_a, mean_b = statistics.mean(added["A"]), statistics.mean(added["B"])
        wins = sum(1 for x, y in zip(added["A"], added["B"], strict=True) if y < x)
        print(f"mean added  A ({rev}) {mean_a:.3f} ms  B (working tree) {mean_b:.3f} ms  "
              f"B - A {mean_b - mean_a:+.3f} ms  (B ahead in {wins} of {len(added['A'])} pairs)")
        cpu: dict[str, list[float]] = {"A": [], "B": []}
        n = 1500
        for rep in range(4):
            pair = [("A", a.pid, port_a), ("B", bb.pid, b.proxy_port)]
            for name, pid, port in pair[:: -1 if rep % 2 else 1]:
                raw = retarget(b.ex("small", protocols[rep % len(protocols)]).proxy, b.proxy_port, port)
                before = cpu_seconds(pid)
                await b.rounds([(name, port, raw)], n, 0)
                cpu[name].append((cpu_seconds(pid) - before) * 1000 / n)
        print(f"proxy CPU per request  A {statistics.mean(cpu['A']):.3f} ms  B {statistics.mean(cpu['B']):.3f} ms  "
              f"(4 alternated runs of {n})")
    finally:
        await a.stop()
        await bb.stop()
        await fake.stop()


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.ab", description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="HEAD", help="git revision measured as A (default HEAD)")
    ap.add_argument("--rounds", type=int, default=500, help="requests per target per repetition")
    ap.add_argument("--reps", type=int, default=3, help="repetitions over the protocols")
    ap.add_argument("--protocols", default=",".join(workload.PROTOCOLS))
    args = ap.parse_args()
    b = Bench(quick=False)
    try:
        asyncio.run(run(b, args.rev, args.protocols.split(","), args.rounds, args.reps))
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long `dbt build` takes on the demo at a million users, and its re-run (`make bench`).

The warehouse is synced from the demo at go-live and after the launch's first day, with
the snapshots recorded after each sync, as `make demo` does. Then `dbt build` runs
whole, and again after one more simulated hour and a sync: the re-run is the cost of
keeping the marts current. Prints figures and their ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

from ingestion import local_server
from tests.dbt.launch import built_launch
from tests.servers import make_server

RERUN_TARGET_RATIO = 1 / 3
SLOWEST = 25


def _slowest(target: Path) -> list[str]:
    """Time per kind of node and the slowest nodes of the last dbt command, printable."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    kinds: dict[str, float] = {}
    for result in results:
        kind = result["unique_id"].split(".", 1)[0]
        kinds[kind] = kinds.get(kind, 0.0) + result["execution_time"]
    summary = ", ".join(f"{kind} {seconds:.1f} s" for kind, seconds in sorted(kinds.items()))
    ranked = sorted(results, key=lambda result: result["execution_time"], reverse=True)
    return [f"      summed per kind: {summary}"] + [
        f"      {result['execution_time']:6.1f} s  {result['unique_id'].split('.', 2)[-1]}"
        for result in ranked[:SLOWEST]
    ]


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=1_000_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="ingestion-bench-"))
    server = make_server(folder / "server")
    local_server.start(server)
    try:
        admin_url = local_server.admin_url(server)
        started = time.perf_counter()
        with built_launch(
            server, admin_url, folder, scale=args.scale, steps=[24], build=False
        ) as launch:
            prepared = time.perf_counter() - started
            started = time.perf_counter()
            assert launch.dbt("build") == 0
            full = time.perf_counter() - started
            full_slowest = _slowest(launch.target)
            launch.step(1)
            started = time.perf_counter()
            assert launch.dbt("build") == 0
            rerun = time.perf_counter() - started
            rerun_slowest = _slowest(launch.target)
    finally:
        local_server.stop(server)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"dbt build on the demo at {args.scale:,} users (synced to go-live + 24 h)")
    print(f"  demo, syncs and snapshots:   {prepared:7.1f} s")
    print(f"  dbt build, whole:            {full:7.1f} s; slowest nodes:")
    print("\n".join(full_slowest))
    print(
        f"  dbt build after 1 h + sync:  {rerun:7.1f} s = {rerun / full:.2f} of the whole"
        f" (target < {RERUN_TARGET_RATIO:.2f}); slowest nodes:"
    )
    print("\n".join(rerun_slowest))


if __name__ == "__main__":
    main()

"""Run ``genserve`` under yappi (CPU time of every thread) to see where a server spends its time.

    GENSERVE_PLUGINS=bench_service_overhead PYTHONPATH=src:bench \\
        .venv/bin/python bench/profile_server.py --out /tmp/profile.txt serve --mode api --port 7861 &
    kill -USR2 $!   # after a warm-up: start counting from here
    kill -USR1 $!   # write the profile (functions by total CPU time) to --out

Needs ``pip install yappi``. The figures are inflated by the profiler (Python-heavy code more than
C), so compare runs of this script with each other, not with the benchmarks' times.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, help="where SIGUSR1 writes the profile")
    parser.add_argument("genserve_args", nargs=argparse.REMAINDER, help="genserve's arguments")
    args = parser.parse_args()
    import yappi

    def dump(*_: Any) -> None:
        stats = yappi.get_func_stats()
        stats.sort("ttot")
        with open(args.out, "w") as fh:
            columns = {0: ("name", 80), 1: ("ncall", 10), 2: ("tsub", 8), 3: ("ttot", 8), 4: ("tavg", 8)}
            stats.print_all(out=fh, columns=columns)

    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGUSR2, lambda *_: yappi.clear_stats())
    yappi.set_clock_type("cpu")
    yappi.start(builtins=False)
    from genserve.cli import main as genserve

    sys.argv = ["genserve", *args.genserve_args]
    genserve()


if __name__ == "__main__":
    main()

"""Runs every benchmark with its default sizes and prints their figures (`make bench`).

Figures vary with the machine and its load: compare the ratios each benchmark prints,
within one run.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    ("channel layers: core vs pub/sub relay", ["channel_layers.py"]),
    ("gateway dispatch cost per relayed event", ["ws_throughput.py", "--dispatch"]),
    ("end-to-end DMs over real sockets, two daphne nodes", ["ws_throughput.py"]),
    ("feed pages and posting vs data size", ["feed.py"]),
    (
        "DM path: one node against the stock relay, same core, same load",
        [
            "dm_path.py",
            "--sockets",
            "100",
            "--window",
            "4",
            "--rates",
            "25,50,100,200,300,400,600",
            "--handshake-sockets",
            "500",
            "--calm-wait",
            "5",
        ],
    ),
    (
        "idle sockets: what they cost the database",
        ["dm_path.py", "--idle", "--idle-sockets", "1000", "--idle-seconds", "30", "--sockets", "50"],
    ),
]


def main() -> int:
    failed = []
    for title, argv in BENCHES:
        print(f"\n=== {title} ({' '.join(argv)})", flush=True)
        if subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]]).returncode != 0:
            failed.append(title)
    if failed:
        print("\nfailed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

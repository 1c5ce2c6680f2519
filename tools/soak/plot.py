"""Plot a soak run's samples (``python -m tools.soak.plot samples.csv soak.png``).

Runs in its own process with matplotlib from ``tools/soak/.tools/pydeps``, so
the project's environment never depends on it.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

PANELS = (
    ("rss_mib", "resident memory (MiB)"),
    ("open_fds", "open file descriptors"),
    ("threads", "threads"),
    ("asyncio_tasks", "live asyncio tasks"),
    ("db_connections", "database connections"),
)


def main(csv_path: Path, png_path: Path) -> None:
    import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]

    with csv_path.open() as handle:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    minutes = [row["elapsed_secs"] / 60 for row in rows]
    figure, axes = plt.subplots(len(PANELS), 1, figsize=(8, 2.0 * len(PANELS)), sharex=True)
    for axis, (name, title) in zip(axes, PANELS, strict=True):
        values = [row[name] for row in rows]
        axis.plot(minutes, values, marker=".", linewidth=1)
        axis.set_title(f"tap-proxy: {title}", fontsize=9, loc="left")
        axis.set_ylim(bottom=0, top=max(values + [1]) * 1.25)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes")
    figure.tight_layout()
    figure.savefig(png_path, dpi=90)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))

"""A PNG heatmap of a pair's token-by-token cosine matrix, with the tokens on the axes.

matplotlib is optional (``pip install 'simsearch[plot]'``); it is imported only here, when a
heatmap is asked for, so the client works without it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from simsearch.cli.failure import bad_input
from simsearch.types import Alignment

__all__ = ["heatmap_paths", "write_heatmap"]

_INCH_PER_TOKEN = 0.32
_MIN_INCHES = 4.0


def heatmap_paths(path: Path, count: int) -> list[Path]:
    """``path`` for one pair; ``name-1.png``, ``name-2.png`` ... for several."""
    target = Path(path)
    if count == 1:
        return [target]
    return [target.with_name(f"{target.stem}-{i}{target.suffix}") for i in range(1, count + 1)]


def write_heatmap(path: Path, alignment: Alignment, title: str) -> None:
    """Rows are a's tokens, columns b's; a dot marks each row's best match among counted
    tokens, and uncounted tokens have grey labels."""
    if alignment.similarity is None:
        raise ValueError("the alignment carries no similarity matrix")
    pyplot = _pyplot()
    matrix = np.asarray(alignment.similarity)
    rows, columns = matrix.shape
    figure, axes = pyplot.subplots(
        figsize=(
            max(_MIN_INCHES, 2.0 + _INCH_PER_TOKEN * columns),
            max(_MIN_INCHES, 1.5 + _INCH_PER_TOKEN * rows),
        )
    )
    image = axes.imshow(matrix, cmap="viridis", vmin=min(0.0, float(matrix.min())), vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="cosine")
    axes.set_xticks(range(columns), alignment.b.tokens, rotation=90)
    axes.set_yticks(range(rows), alignment.a.tokens)
    _grey_uncounted(axes.get_xticklabels(), alignment.b.counted)
    _grey_uncounted(axes.get_yticklabels(), alignment.a.counted)
    matched = np.flatnonzero(alignment.a_to_b >= 0)
    axes.scatter(alignment.a_to_b[matched], matched, s=12, c="red", marker="o")
    axes.set_xlabel("b")
    axes.set_ylabel("a")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=120)
    except OSError as exc:
        raise bad_input(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        pyplot.close(figure)


def _grey_uncounted(labels: Any, counted: Any) -> None:
    for label, keep in zip(labels, counted, strict=True):
        if not keep:
            label.set_color("grey")


def _pyplot() -> Any:
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        raise bad_input(
            "--heatmap needs matplotlib: pip install 'simsearch[plot]' (or matplotlib)"
        ) from None
    matplotlib.use("Agg")  # files only, no display
    return importlib.import_module("matplotlib.pyplot")

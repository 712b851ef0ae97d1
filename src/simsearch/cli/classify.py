"""``simsearch classify``: the model's own classification head (e.g. NLI) on texts or pairs.

The table shows each input, its most probable label and that label's probability, then the
probability of every label (the head's labels, from ``info``); ``--json`` prints every input
with its probabilities and logits by label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from simsearch.cli.connection import with_client
from simsearch.cli.failure import bad_input
from simsearch.cli.output import emit
from simsearch.client.client import Client
from simsearch.types import Classifications, TextInput

__all__ = ["classify"]

_TEXT_WIDTH = 40  # an input column shows at most this many characters, then "…"


def _probability(value: float) -> str:
    return f"{value:.4f}"


@click.command(
    help="classify texts, or text pairs encoded jointly (--pair A B, repeatable), with the "
    "model's own sequence-classification head: e.g. an NLI checkpoint's entailment / neutral "
    "/ contradiction. Shows each input's label and the probability of every label",
    short_help="classify texts or pairs with the model's classification head",
)
@click.argument("texts", metavar="[TEXT]...", nargs=-1)
@click.option(
    "--pair",
    "pairs",
    nargs=2,
    multiple=True,
    metavar="A B",
    help="a pair to classify jointly (premise A, hypothesis B for NLI); repeat for several",
)
@click.option(
    "--truncate",
    is_flag=True,
    help="cut inputs longer than the model's maximum length instead of failing",
)
@with_client
def classify(
    client: Client,
    as_json: bool,
    texts: tuple[str, ...],
    pairs: tuple[tuple[str, str], ...],
    truncate: bool,
) -> None:
    if bool(texts) == bool(pairs):
        raise bad_input("give texts or --pair A B (one or more), not both and not neither")
    if pairs:
        result = client.classify(pairs=list(pairs), truncate=truncate)
    else:
        result = client.classify(list(texts), truncate=truncate)
    head = client.info().model.head
    labels = head.labels if head is not None else ()
    inputs: list[TextInput] = list(pairs) if pairs else list(texts)
    emit(
        as_json,
        lambda: classifications_json(inputs, labels, result),
        lambda: classifications_text(inputs, labels, result),
    )


def classifications_json(
    inputs: Sequence[TextInput], labels: Sequence[str], result: Classifications
) -> dict[str, Any]:
    """``{"labels": [...], "results": [{input, label, label_id, probability,
    probabilities: {label: p}, logits: {label: l}}], "truncated": [...]}``."""
    rows = []
    for i, item in enumerate(inputs):
        names = labels or [str(j) for j in range(result.logits.shape[1])]
        row: dict[str, Any] = (
            {"a": item[0], "b": item[1]} if isinstance(item, tuple) else {"text": item}
        )
        row |= {
            "label": result.labels[i],
            "label_id": int(result.label_ids[i]),
            "probability": float(result.probabilities[i, result.label_ids[i]]),
            "probabilities": dict(zip(names, result.probabilities[i].tolist(), strict=True)),
            "logits": dict(zip(names, result.logits[i].tolist(), strict=True)),
        }
        rows.append(row)
    return {"labels": list(labels), "results": rows, "truncated": list(result.truncated)}


def classifications_text(
    inputs: Sequence[TextInput], labels: Sequence[str], result: Classifications
) -> RenderableType:
    """One row per input: the input (a and b for pairs), label, probability, then each
    label's probability."""
    is_pairs = bool(inputs) and isinstance(inputs[0], tuple)
    table = Table(box=None, pad_edge=False, show_edge=False)
    for header in ("a", "b") if is_pairs else ("text",):
        table.add_column(
            header, overflow="ellipsis", no_wrap=True, min_width=8, max_width=_TEXT_WIDTH
        )
    table.add_column("label", no_wrap=True)
    for header in ("probability", *(f"p({label})" for label in labels)):
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    for i, item in enumerate(inputs):
        cells = list(item) if isinstance(item, tuple) else [item]
        chosen = float(result.probabilities[i, result.label_ids[i]])
        every = [_probability(float(p)) for p in result.probabilities[i]] if labels else []
        table.add_row(*map(Text, cells), Text(result.labels[i]), _probability(chosen), *every)
    if not result.truncated:
        return table
    cut = ", ".join(str(i) for i in result.truncated)
    return Group(table, Text(f"truncated inputs: {cut}"))

"""Collection calibrations (none / center / whiten) on STS-B, through the service over gRPC.

1. In domain: for each pooling, a collection per calibration holds the distinct sentences of
   STS-B train (upserted, then ``Calibrate`` so the fit uses all of them); STS-B test is scored
   with ``Compare(collection=...)``: Spearman x 100 of the gold score against the cosine.
2. Out of domain: the same, fitted on the captions genre of STS-B train only and scored on the
   test pairs of the other genres (news, forums), beside the same pairs scored raw.
3. Retrieval (the task of ``bench/quality.py``): a collection of STS-B test's distinct
   sentences, calibrated on itself; MRR@10 of search alone and reranked by MaxSim (depth 50).

"none" needs no fit: its Compare runs without a collection. Also printed: the seconds a
``Calibrate`` took (fit plus index rebuild) for the train collections.

    .venv/bin/python bench/calibration.py [--dtype float32] [--skip-retrieval]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from common import STS_DIR, chunks, local_server, print_table, spearman
from quality import SETTINGS, build_retrieval, metrics, search

from simsearch.client import Client

BATCH = 128
POOLINGS = ("pooler", "cls", "mean")
# name -> (calibration, dimensions kept)
CALIBRATIONS = {
    "none": ("none", 0),
    "center": ("center", 0),
    "whiten": ("whiten", 0),
    "whiten 256": ("whiten", 256),
}
IN_DOMAIN_GENRE = "main-captions"
RETRIEVAL_SETTINGS = [s for s in SETTINGS if s.name in ("none", "MaxSim @50")]


@dataclass(frozen=True)
class GenrePair:
    genre: str
    score: float
    a: str
    b: str


def load_genres(split: str) -> list[GenrePair]:
    """``sts-<split>.csv`` with each pair's genre (column 1; see common.load_sts)."""
    pairs = []
    for line in (STS_DIR / f"sts-{split}.csv").read_text(encoding="utf-8").splitlines():
        columns = line.rstrip("\n").split("\t")
        pairs.append(GenrePair(columns[0], float(columns[4]), columns[5], columns[6]))
    return pairs


def distinct_sentences(pairs: Sequence[GenrePair]) -> list[str]:
    return list(dict.fromkeys(s for pair in pairs for s in (pair.a, pair.b)))


def documents(sentences: Sequence[str]) -> Iterator[dict[str, str]]:
    return ({"id": f"s{i}", "text": text} for i, text in enumerate(sentences))


def fitted_collection(
    client: Client,
    name: str,
    pooling: str,
    calibration: str,
    sentences: Sequence[str],
    **create: Any,
) -> float:
    """Create, fill and calibrate ``name``; the seconds ``Calibrate`` took."""
    kind, dimensions = CALIBRATIONS[calibration]
    client.create_collection(
        name, pooling=pooling, calibration=kind, calibration_dimensions=dimensions, **create
    )
    client.upsert(name, documents(sentences), batch_size=BATCH)
    started = time.perf_counter()
    info = client.calibrate(name)
    assert info.calibration.fitted_on == len(sentences), info.calibration
    return time.perf_counter() - started


def scored(client: Client, pairs: Sequence[GenrePair], pooling: str, collection: str) -> float:
    """Spearman x 100 of gold against the cosine of Compare (with ``collection`` if set)."""
    texts = [(pair.a, pair.b) for pair in pairs]
    options: dict[str, Any] = {"collection": collection} if collection else {"pooling": pooling}
    scores = np.concatenate([client.compare(c, **options).scores for c in chunks(texts, BATCH)])
    return 100 * spearman([pair.score for pair in pairs], scores)


def spearman_tables(client: Client) -> None:
    train, test = load_genres("train"), load_genres("test")
    everything = distinct_sentences(train)
    captions = distinct_sentences([p for p in train if p.genre == IN_DOMAIN_GENRE])
    elsewhere = [p for p in test if p.genre != IN_DOMAIN_GENRE]
    names = list(CALIBRATIONS)
    in_domain: list[list[Any]] = []
    out_of_domain: list[list[Any]] = []
    costs: list[list[Any]] = []
    for pooling in POOLINGS:
        row_in: list[Any] = [pooling]
        row_out: list[Any] = [pooling]
        row_cost: list[Any] = [pooling]
        for calibration in names:
            if calibration == "none":
                row_in.append(scored(client, test, pooling, ""))
                row_out.append(scored(client, elsewhere, pooling, ""))
                continue
            slug = calibration.replace(" ", "")
            name = f"train_{pooling}_{slug}"
            row_cost.append(fitted_collection(client, name, pooling, calibration, everything))
            row_in.append(scored(client, test, pooling, name))
            client.drop_collection(name)
            name = f"captions_{pooling}_{slug}"
            fitted_collection(client, name, pooling, calibration, captions)
            row_out.append(scored(client, elsewhere, pooling, name))
            client.drop_collection(name)
        in_domain.append(row_in)
        out_of_domain.append(row_out)
        costs.append(row_cost)
    markdown(
        f"In domain: fitted on STS-B train ({len(everything)} distinct sentences), scored on "
        f"STS-B test ({len(test)} pairs), Spearman x 100",
        ["pooling", *names],
        in_domain,
    )
    markdown(
        f"Out of domain: fitted on STS-B train captions ({len(captions)} sentences), scored on "
        f"the news and forums pairs of STS-B test ({len(elsewhere)} pairs), Spearman x 100",
        ["pooling", *names],
        out_of_domain,
    )
    print_table(
        f"Seconds per Calibrate on {len(everything)} documents (fit + index rebuild, flat)",
        ["pooling", *names[1:]],
        costs,
    )


def retrieval_table(client: Client) -> None:
    data = build_retrieval()
    docs = [{"id": i, "text": t} for i, t in data.corpus.items()]
    rows: list[list[Any]] = []
    for pooling in POOLINGS:
        for calibration in ("none", "center", "whiten"):
            name = f"sts_{pooling}_{calibration}"
            kind, _ = CALIBRATIONS[calibration]
            client.create_collection(name, pooling=pooling, calibration=kind, store_tokens=True)
            client.upsert(name, docs, batch_size=BATCH)
            if kind != "none":
                client.calibrate(name)
            row: list[Any] = [pooling, calibration]
            for setting in RETRIEVAL_SETTINGS:
                row.append(metrics(search(client, name, data.queries, setting), data)[2])
            rows.append(row)
            client.drop_collection(name)
    markdown(
        f"Retrieval on STS-B test ({len(data.queries)} queries, {len(data.corpus)} documents, "
        "calibrated on themselves): MRR@10",
        ["pooling", "calibration", *(s.name for s in RETRIEVAL_SETTINGS)],
        rows,
    )


def markdown(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows:
        cells = [f"{v:.2f}" if isinstance(v, float) and v > 1 else _cell(v) for v in row]
        print("| " + " | ".join(cells) + " |")


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dtype", default="float32", help="server precision (default float32)")
    parser.add_argument("--skip-retrieval", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    with local_server(dtype=args.dtype) as client:
        info = client.info().model
        print(f"model {info.name} ({info.hidden_size}d), precision {info.precision}")
        spearman_tables(client)
        if not args.skip_retrieval:
            retrieval_table(client)
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

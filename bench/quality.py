"""Quality of sentence embeddings and of MaxSim on STS-B test, through the service over gRPC.

1. Spearman x 100 of the gold scores against the pooled cosine (pooler, cls, mean) and MaxSim
   (both directions, symmetric; three token selections): one batched Compare per setting.
2. Retrieval built from STS-B test: queries are sentence 1 of the pairs scored >= 4 whose
   sentences differ, the corpus is every distinct sentence of the file, the relevant document
   is the partner; the query itself is excluded from its results. Recall@1, recall@10 and
   MRR@10 for sentence-embedding search alone, then reranked by MaxSim (depth 50 and 200), and
   by the hybrid score. Also the latency a rerank adds per query (one query per call).

The reference figures in the issue were measured with plain transformers in float32; the
server runs in float32 here too (``--dtype`` to try others).

    .venv/bin/python bench/quality.py [--dtype float32] [--latency-queries 100]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from common import chunks, load_sts, local_server, print_table, spearman

from simsearch.client import Client
from simsearch.types import Hit

BATCH = 128
REFERENCE_SPEARMAN = {
    "MaxSim symmetric, all tokens": 82.76,
    "MaxSim q->d, all tokens": 81.26,
    "MaxSim d->q, all tokens": 81.87,
    "MaxSim symmetric, no special": 82.27,
}
REFERENCE_MRR = {
    ("pooler", "none"): 0.851,
    ("pooler", "MaxSim @50"): 0.881,
    ("mean", "none"): 0.873,
    ("mean", "MaxSim @50"): 0.889,
}


@dataclass(frozen=True)
class Retrieval:
    queries: list[str]
    relevant: list[str]  # the id of each query's partner
    corpus: dict[str, str]  # id -> text
    query_ids: list[str]


def build_retrieval() -> Retrieval:
    pairs = load_sts()
    distinct = sorted({s for pair in pairs for s in (pair.a, pair.b)})
    ids = {text: f"s{i}" for i, text in enumerate(distinct)}
    chosen = [pair for pair in pairs if pair.score >= 4 and pair.a != pair.b]
    return Retrieval(
        queries=[pair.a for pair in chosen],
        relevant=[ids[pair.b] for pair in chosen],
        corpus={ids[text]: text for text in distinct},
        query_ids=[ids[pair.a] for pair in chosen],
    )


def spearman_table(client: Client) -> None:
    pairs = load_sts()
    gold = [pair.score for pair in pairs]
    texts = [(pair.a, pair.b) for pair in pairs]
    rows: list[list[Any]] = []
    for pooling in ("pooler", "cls", "mean"):
        scores = np.concatenate(
            [client.compare(c, pooling=pooling).scores for c in chunks(texts, BATCH)]
        )
        rows.append([f"cosine, {pooling} pooling", 100 * spearman(gold, scores), "", ""])
    settings = [
        ("symmetric", "all"),
        ("query_to_document", "all"),
        ("document_to_query", "all"),
        ("symmetric", "no_special"),
        ("query_to_document", "no_special"),
        ("symmetric", "words"),
    ]
    names = {"symmetric": "symmetric", "query_to_document": "q->d", "document_to_query": "d->q"}
    selections = {"all": "all tokens", "no_special": "no special", "words": "words only"}
    for direction, tokens in settings:
        scores = np.concatenate(
            [
                _maxsim(client.compare(c, maxsim=True, direction=direction, tokens=tokens))
                for c in chunks(texts, BATCH)
            ]
        )
        name = f"MaxSim {names[direction]}, {selections[tokens]}"
        value = 100 * spearman(gold, scores)
        reference = REFERENCE_SPEARMAN.get(name)
        rows.append(
            [
                name,
                value,
                "" if reference is None else reference,
                "" if reference is None else f"{value - reference:+.2f}",
            ]
        )
    print_table(
        f"STS-B test ({len(pairs)} pairs): Spearman x 100 of gold score vs similarity",
        ["similarity", "spearman", "reference", "diff"],
        rows,
    )


def _maxsim(result: Any) -> np.ndarray:
    assert result.maxsim is not None
    return np.asarray(result.maxsim)


@dataclass(frozen=True)
class Setting:
    name: str
    options: dict[str, Any]


SETTINGS = [
    Setting("none", {}),
    Setting("MaxSim @50", {"rerank": True, "depth": 50}),
    Setting("MaxSim @200", {"rerank": True, "depth": 200}),
    Setting("MaxSim q->d @50", {"depth": 50, "direction": "query_to_document"}),
    Setting("hybrid a=0.5 @50", {"depth": 50, "alpha": 0.5}),
    Setting("hybrid q->d a=0.1 @50", {"depth": 50, "alpha": 0.1, "direction": "query_to_document"}),
    Setting(
        "hybrid q->d a=0.1 @200", {"depth": 200, "alpha": 0.1, "direction": "query_to_document"}
    ),
    Setting("hybrid q->d a=0.2 @50", {"depth": 50, "alpha": 0.2, "direction": "query_to_document"}),
]


def search(
    client: Client, collection: str, queries: Sequence[str], setting: Setting
) -> list[list[Hit]]:
    """Top 10 without the query itself: ask for one more (and rerank one more, so the
    depth counts candidates other than the query)."""
    options = dict(setting.options)
    if "depth" in options:
        options["depth"] += 1
    results = []
    for chunk in chunks(queries, BATCH):
        results += client.search(collection, list(chunk), k=11, **options)
    return results


def metrics(results: list[list[Hit]], data: Retrieval) -> tuple[float, float, float]:
    r1 = r10 = mrr = 0.0
    for hits, own, relevant in zip(results, data.query_ids, data.relevant, strict=True):
        ranked = [hit.id for hit in hits if hit.id != own][:10]
        if relevant in ranked:
            rank = ranked.index(relevant) + 1
            r1 += rank == 1
            r10 += 1
            mrr += 1 / rank
    n = len(results)
    return r1 / n, r10 / n, mrr / n


def latency_ms(
    client: Client, collection: str, queries: Sequence[str], setting: Setting
) -> tuple[float, float]:
    """Median ms of one query per call with ``setting``, and the median of what it adds over a
    plain search of the same query, the two timed back to back (so machine noise cancels)."""
    options = dict(setting.options)
    if "depth" in options:
        options["depth"] += 1
    client.search(collection, queries[0], k=11, **options)  # warm-up
    own, added = [], []
    for query in queries:
        start = time.perf_counter()
        client.search(collection, query, k=11)
        middle = time.perf_counter()
        client.search(collection, query, k=11, **options)
        end = time.perf_counter()
        own.append(end - middle)
        added.append((end - middle) - (middle - start))
    return 1000 * float(np.median(own)), 1000 * float(np.median(added))


def retrieval_table(client: Client, latency_queries: int) -> None:
    data = build_retrieval()
    documents = [{"id": i, "text": t} for i, t in data.corpus.items()]
    rows: list[list[Any]] = []
    for pooling in ("pooler", "cls", "mean"):
        name = f"sts_{pooling}"
        client.create_collection(name, pooling=pooling, store_tokens=True)
        client.upsert(name, documents, batch_size=128)
        for setting in SETTINGS:
            r1, r10, mrr = metrics(search(client, name, data.queries, setting), data)
            ms, added_ms = latency_ms(client, name, data.queries[:latency_queries], setting)
            reference = REFERENCE_MRR.get((pooling, setting.name))
            rows.append(
                [
                    f"{pooling:6} {setting.name}",
                    r1,
                    r10,
                    mrr,
                    "" if reference is None else reference,
                    f"{ms:.1f}",
                    f"{added_ms:+.1f}",
                ]
            )
    print_table(
        f"Retrieval on STS-B test: {len(data.queries)} queries, {len(data.corpus)} documents "
        "(tokens stored; MaxSim over all tokens, symmetric unless q->d)",
        ["pooling / rerank", "R@1", "R@10", "MRR@10", "ref MRR", "ms/query", "added ms"],
        rows,
    )
    print(
        "ms/query: median of one query per call; added ms: median extra time over a plain "
        "search of the same query, timed back to back"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dtype", default="float32", help="server precision (default float32)")
    parser.add_argument("--latency-queries", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()
    with local_server(dtype=args.dtype) as client:
        info = client.info().model
        print(
            f"model {info.name} ({info.hidden_size}d), precision {info.precision}, "
            f"max length {info.max_length}"
        )
        spearman_table(client)
        retrieval_table(client, args.latency_queries)
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

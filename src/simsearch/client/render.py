"""Results as readable text for the terminal (``--json`` output is in ``jsonable``).

Scores have four decimals, counts thousands separators, long cells end in "…".
``width`` is the terminal's width: flexible columns (texts, metadata) shrink to fit it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import numpy as np

from simsearch.client.results import CompareResult, ServerInfo, UpsertResult
from simsearch.client.tables import Column, format_fields, format_table
from simsearch.types import (
    Alignment,
    CollectionInfo,
    Document,
    FloatArray,
    Hit,
    Metadata,
    SentenceEmbeddings,
    TokenEmbeddings,
)

__all__ = [
    "alignment_table",
    "collection_text",
    "collections_table",
    "compare_table",
    "documents_table",
    "embeddings_text",
    "hits_text",
    "server_info_text",
    "tokens_table",
    "upsert_summary",
]

_PREVIEW = 4  # leading values shown of each vector
_TEXT = Column("text", max_width=80, flexible=True)
_METADATA = Column("metadata", max_width=60, flexible=True)


def score(value: float) -> str:
    return f"{value:.4f}"


def metadata_text(metadata: Metadata) -> str:
    """Compact JSON with sorted keys (a Struct on the wire keeps no key order)."""
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True) if metadata else ""


def timestamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def server_info_text(info: ServerInfo) -> str:
    model, limits = info.model, info.limits
    return format_fields(
        [
            ("version", info.version),
            ("model", model.name),
            ("fingerprint", model.fingerprint),
            ("dimension", model.hidden_size),
            ("max length", f"{model.max_length:,} tokens"),
            ("vocabulary", f"{model.vocab_size:,} tokens"),
            ("device", model.device),
            ("engine", model.engine),
            (
                "encoder",
                model.encoder
                if model.encoder == "local"
                else f"{model.encoder} ({model.replicas} replica{'s' * (model.replicas != 1)})",
            ),
            ("store", info.store),
            ("precision", model.precision),
            ("poolings", ", ".join(p.value for p in info.poolings)),
            ("max batch", f"{limits.max_batch:,}"),
            ("max k", f"{limits.max_k:,}"),
            ("max text", f"{limits.max_text_chars:,} characters"),
            ("max message", f"{limits.max_message_bytes / 2**20:,.0f} MiB"),
            ("max rerank depth", f"{limits.max_rerank_depth:,}"),
            ("max filter keys", f"{limits.max_filter_keys:,}"),
            ("concurrent RPCs", f"{limits.max_concurrent_rpcs:,} (streams: half)"),
            ("encoder queue", f"{limits.max_queue_depth:,} texts"),
            ("stream idle", f"{limits.stream_idle_timeout_s:g} s"),
        ]
    )


def collection_text(info: CollectionInfo) -> str:
    """Describe output; an unavailable collection leads with why and what to do about it."""
    spec = info.spec
    if info.unavailable:
        fields: list[tuple[str, object]] = [
            ("name", spec.name),
            ("status", f"UNAVAILABLE: {info.unavailable}"),
            ("to fix", _unavailable_fix(spec.name)),
        ]
        return format_fields(fields + (_spec_fields(info) if _spec_known(info) else []))
    return format_fields(
        [
            ("name", spec.name),
            ("documents", f"{info.count:,}"),
            *_spec_fields(info),
            ("compatible", "yes" if info.compatible else "no: built with another model"),
        ]
    )


def _spec_fields(info: CollectionInfo) -> list[tuple[str, object]]:
    spec = info.spec
    return [
        ("dimension", spec.dimension),
        ("pooling", spec.pooling.value),
        ("index", spec.index),
        ("model", spec.model_name),
        ("fingerprint", spec.model_fingerprint),
        ("created", timestamp(info.created_at)),
    ]


def _spec_known(info: CollectionInfo) -> bool:
    """False for an unavailable collection whose store could not even be read (name only)."""
    return info.spec.dimension > 0


def _unavailable_fix(name: str) -> str:
    return (
        f"drop it (simsearch drop {name}), or repair its files and restart the server; "
        "it serves nothing until then"
    )


def collections_table(infos: Sequence[CollectionInfo], width: int) -> str:
    """The collections; an "unavailable" column (why) and a closing hint appear only when some
    collection could not be opened."""
    if not infos:
        return "no collections"
    columns = [
        Column("name"),
        Column("documents", "right"),
        Column("dimension", "right"),
        Column("pooling"),
        Column("index"),
        Column("model", flexible=True),
        Column("created"),
        Column("compatible"),
    ]
    unavailable = [info.spec.name for info in infos if info.unavailable]
    if unavailable:
        columns.append(Column("unavailable", flexible=True))
    rows = [_collection_row(info, bool(unavailable)) for info in infos]
    table = format_table(columns, rows, width=width)
    if not unavailable:
        return table
    hint = (
        f"unavailable: {', '.join(unavailable)} (`simsearch describe NAME` says why): drop "
        "them, or repair their files and restart the server"
    )
    return f"{table}\n\n{hint}"


def _collection_row(info: CollectionInfo, with_status: bool) -> tuple[object, ...]:
    spec = info.spec
    if not info.unavailable:
        row: tuple[object, ...] = (
            spec.name,
            f"{info.count:,}",
            spec.dimension,
            spec.pooling.value,
            spec.index,
            spec.model_name,
            timestamp(info.created_at),
            "yes" if info.compatible else "no",
        )
        return (*row, "") if with_status else row
    if not _spec_known(info):
        return (spec.name, *["-"] * 7, info.unavailable)
    return (
        spec.name,
        "-",
        spec.dimension,
        spec.pooling.value,
        spec.index,
        spec.model_name,
        timestamp(info.created_at),
        "-",
        info.unavailable,
    )


def hits_text(queries: Sequence[str], results: Sequence[Sequence[Hit]], width: int) -> str:
    """Per query: a ``query: "..."`` line, then its hits best first (or ``(no hits)``)."""
    reranked = any(hit.maxsim_score is not None for hits in results for hit in hits)
    columns = [Column("#", "right"), Column("score", "right")]
    if reranked:  # the score is MaxSim or the hybrid; show both parts
        columns += [Column("cosine", "right"), Column("maxsim", "right")]
    columns += [Column("id", max_width=40), _TEXT, _METADATA]
    blocks = []
    for number, (query, hits) in enumerate(zip(queries, results, strict=True), start=1):
        title = f"query {number}" if len(queries) > 1 else "query"
        rows = [
            (
                rank,
                score(h.score),
                *((score(h.cosine), score(h.maxsim_score or 0.0)) if reranked else ()),
                h.id,
                h.text,
                metadata_text(h.metadata),
            )
            for rank, h in enumerate(hits, start=1)
        ]
        table = format_table(columns, rows, width=width) if rows else "(no hits)"
        blocks.append(f"{title}: {json.dumps(query, ensure_ascii=False)}\n{table}")
    return "\n\n".join(blocks)


def documents_table(documents: Sequence[Document], width: int) -> str:
    columns = [Column("id", max_width=40), _TEXT, _METADATA]
    rows = [(doc.id, doc.text, metadata_text(doc.metadata)) for doc in documents]
    return format_table(columns, rows, width=width)


def vector_preview(vector: FloatArray) -> str:
    """``[0.0123, -0.0456, 0.0789, 0.0012, …, 0.0345]``: the first values and the last one."""
    values = [f"{v:.4f}" for v in vector.tolist()]
    if len(values) > _PREVIEW + 1:
        values = [*values[:_PREVIEW], "…", values[-1]]
    return "[" + ", ".join(values) + "]"


def embeddings_text(
    texts: Sequence[str], result: SentenceEmbeddings, description: str, width: int
) -> str:
    """The shape line, then per text its norm and the start of its vector."""
    n, d = result.embeddings.shape
    header = f"{n} × {d} float32, {description}"
    columns = [Column("#", "right"), _TEXT, Column("norm", "right"), Column("embedding")]
    norms = np.linalg.norm(result.embeddings, axis=1)
    rows = [
        (i, text, f"{norm:.4f}", vector_preview(vector))
        for i, (text, norm, vector) in enumerate(zip(texts, norms, result.embeddings, strict=True))
    ]
    table = format_table(columns, rows, width=width)
    return f"{header}\n{table}{_truncated_note('texts', result.truncated)}"


def compare_table(pairs: Sequence[tuple[str, str]], result: CompareResult, width: int) -> str:
    columns = [Column("cosine" if result.maxsim is not None else "score", "right")]
    extra: list[list[float]] = []
    if result.maxsim is not None:
        columns.append(Column("maxsim", "right"))
        extra.append(result.maxsim.tolist())
    if result.hybrid is not None:
        columns.append(Column("hybrid", "right"))
        extra.append(result.hybrid.tolist())
    columns += [Column("a", max_width=60, flexible=True), Column("b", max_width=60, flexible=True)]
    rows = [
        (score(s), *(score(values[i]) for values in extra), a, b)
        for i, ((a, b), s) in enumerate(zip(pairs, result.scores.tolist(), strict=True))
    ]
    table = format_table(columns, rows, width=width)
    return table + _truncated_note("pairs", result.truncated)


def alignment_table(pair: tuple[str, str], alignment: Alignment) -> str:
    """Each token of a, the token of b it matches best, where both are in their texts, and
    their cosine; tokens left out by the token selection show "-"."""
    columns = [Column("#", "right"), Column("a token"), Column("a text"), Column("a at")]
    columns += [Column("b token"), Column("b text"), Column("b at"), Column("cosine", "right")]
    a_text, b_text = pair
    rows = []
    for i, token in enumerate(alignment.a.tokens):
        j = int(alignment.a_to_b[i])
        row: tuple[object, ...] = (i, token, *_span(a_text, alignment.a.offsets[i]))
        if j < 0:
            row += ("-", "", "", "-")
        else:
            similarity = score(float(alignment.a_to_b_similarity[i]))
            row += (alignment.b.tokens[j], *_span(b_text, alignment.b.offsets[j]), similarity)
        rows.append(row)
    counted = alignment.a_to_b_similarity[alignment.a.counted]
    mean = f"MaxSim a->b = {float(counted.mean()):.4f} over {len(counted)} tokens"
    return f"{format_table(columns, rows)}\n{mean}"


def _span(text: str, offsets: np.ndarray) -> tuple[str, str]:
    """The characters a token covers and ``start:end``; blank for special tokens."""
    start, end = int(offsets[0]), int(offsets[1])
    if start == end:
        return "", ""
    return text[start:end], f"{start}:{end}"


def tokens_table(texts: Sequence[str], tokens: TokenEmbeddings) -> str:
    """One row per token: its string, vocabulary id, offsets and the text they cover.

    texts: the input, or the two texts of a pair (then a segment column says which).
    """
    columns = [Column("#", "right"), Column("token"), Column("id", "right")]
    columns += [Column("offsets"), Column("text"), Column("special")]
    if len(texts) > 1:
        columns.append(Column("segment", "right"))
    rows = [_token_row(texts, tokens, i)[: len(columns)] for i in range(len(tokens.tokens))]
    note = "\n(truncated to the model's maximum length)" if tokens.truncated else ""
    return format_table(columns, rows) + note


def _token_row(texts: Sequence[str], tokens: TokenEmbeddings, i: int) -> tuple[object, ...]:
    start, end = (int(x) for x in tokens.offsets[i])
    segment = int(tokens.segment_ids[i])
    special = bool(tokens.special_mask[i])
    covered = "" if special or segment >= len(texts) else texts[segment][start:end]
    flag = "yes" if special else ""
    return (i, tokens.tokens[i], int(tokens.token_ids[i]), f"{start}:{end}", covered, flag, segment)


def upsert_summary(collection: str, result: UpsertResult, seconds: float) -> str:
    """``upserted 1,000 documents into 'demo' in 3.2 s (312 docs/s); 2 truncated``."""
    rate = result.upserted / seconds if seconds > 0 else 0.0
    line = (
        f"upserted {result.upserted:,} documents into {collection!r} "
        f"in {seconds:.1f} s ({rate:,.0f} docs/s)"
    )
    if result.truncated:
        shown = ", ".join(result.truncated[:5])
        more = f" and {len(result.truncated) - 5:,} more" if len(result.truncated) > 5 else ""
        line += f"; {len(result.truncated):,} truncated: {shown}{more}"
    return line


def _truncated_note(what: str, indices: Sequence[int]) -> str:
    if not indices:
        return ""
    listed = ", ".join(str(i) for i in indices)
    return f"\ntruncated to the model's maximum length: {what} {listed}"

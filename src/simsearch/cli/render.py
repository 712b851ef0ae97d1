"""Results as rich renderables for the terminal (``--json`` output is in ``json_output``).

Scores have four decimals, counts thousands separators. Every cell is one line: runs of
whitespace become one space, and long cells end in "…" (rich counts wide characters such as
中文 as two columns). Texts and metadata shrink first when a table is wider than the terminal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import numpy as np
from rich.cells import cell_len
from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Column, Table
from rich.text import Text

from simsearch.client.results import CompareResult, ServerInfo, UpsertResult
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
    "compare_text",
    "documents_count",
    "documents_table",
    "embeddings_text",
    "hits_text",
    "server_info_text",
    "tokens_table",
    "unknown_tokens_warning",
    "upsert_summary",
]

_PREVIEW = 4  # leading values shown of each vector
_MIN_FLEXIBLE = 8  # a shrinking column keeps at least this many columns


# -- building blocks -----------------------------------------------------------------------


def _fixed(header: str, *, right: bool = False, max_width: int | None = None) -> Column:
    """A column as wide as its widest cell (up to ``max_width``)."""
    justify: JustifyMethod = "right" if right else "left"
    return Column(header, justify=justify, no_wrap=True, max_width=max_width, overflow="ellipsis")


def _flexible(header: str, max_width: int) -> Column:
    """A column that shrinks when the table is too wide (texts, metadata)."""
    floor = max(_MIN_FLEXIBLE, len(header))
    return Column(header, max_width=max_width, min_width=floor, overflow="ellipsis")


def _cell(value: object) -> Text:
    return Text(" ".join(str(value).split()), no_wrap=True, overflow="ellipsis")


def _table(columns: Sequence[Column], rows: Sequence[Sequence[object]]) -> Table:
    """Two spaces between columns, bold headers on a terminal, no borders."""
    table = Table(
        *columns, box=None, pad_edge=False, padding=(0, 1), show_edge=False, header_style="bold"
    )
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    return table


def _fields(fields: Sequence[tuple[str, object]]) -> Text:
    """A key/value listing, keys aligned: ``name       demo``. Values are never cut or
    wrapped (a cause or a path is read, and grepped, whole)."""
    width = max((cell_len(key) for key, _ in fields), default=0)
    lines = [
        f"{key}{' ' * (width - cell_len(key))}  {' '.join(str(value).split())}"
        for key, value in fields
    ]
    return Text("\n".join(lines), no_wrap=True, overflow="ignore")


def _blocks(blocks: Sequence[RenderableType]) -> Group:
    """Blocks separated by a blank line."""
    spaced: list[RenderableType] = []
    for block in blocks:
        spaced += [Text(""), block] if spaced else [block]
    return Group(*spaced)


def _titled(title: str, body: RenderableType) -> Group:
    return Group(Text(title), body)


def score(value: float) -> str:
    return f"{value:.4f}"


def metadata_text(metadata: Metadata) -> str:
    """Compact JSON with sorted keys (a Struct on the wire keeps no key order)."""
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True) if metadata else ""


def timestamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


# -- the server and its collections ---------------------------------------------------------


def server_info_text(info: ServerInfo) -> Text:
    model, limits = info.model, info.limits
    return _fields(
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


def collection_text(info: CollectionInfo) -> Text:
    """Describe output; an unavailable collection leads with why and what to do about it."""
    spec = info.spec
    if info.unavailable:
        fields: list[tuple[str, object]] = [
            ("name", spec.name),
            ("status", f"UNAVAILABLE: {info.unavailable}"),
            ("to fix", _unavailable_fix(spec.name)),
        ]
        return _fields(fields + (_spec_fields(info) if _spec_known(info) else []))
    return _fields(
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
        ("store tokens", "yes (MaxSim reranks without re-encoding)" if spec.store_tokens else "no"),
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


def collections_table(infos: Sequence[CollectionInfo]) -> RenderableType:
    """The collections; an "unavailable" column (why) and a closing hint appear only when some
    collection could not be opened."""
    if not infos:
        return Text("no collections")
    columns = [
        _fixed("name"),
        _fixed("documents", right=True),
        _fixed("dimension", right=True),
        _fixed("pooling"),
        _fixed("index"),
        _flexible("model", 60),
        _fixed("created"),
        _fixed("compatible"),
    ]
    unavailable = [info.spec.name for info in infos if info.unavailable]
    if unavailable:
        columns.append(_flexible("unavailable", 200))
    table = _table(columns, [_collection_row(info, bool(unavailable)) for info in infos])
    if not unavailable:
        return table
    hint = (
        f"unavailable: {', '.join(unavailable)} (`simsearch describe NAME` says why): drop "
        "them, or repair their files and restart the server"
    )
    return _blocks([table, Text(hint)])


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


# -- documents and hits ---------------------------------------------------------------------


def hits_text(queries: Sequence[str], results: Sequence[Sequence[Hit]]) -> Group:
    """Per query: a ``query: "..."`` line, then its hits best first (or ``(no hits)``)."""
    reranked = any(hit.maxsim_score is not None for hits in results for hit in hits)
    blocks: list[RenderableType] = []
    for number, (query, hits) in enumerate(zip(queries, results, strict=True), start=1):
        title = f"query {number}" if len(queries) > 1 else "query"
        title = f"{title}: {json.dumps(query, ensure_ascii=False)}"
        body = _hits_table(hits, reranked) if hits else Text("(no hits)")
        blocks.append(_titled(title, body))
    return _blocks(blocks)


def _hits_table(hits: Sequence[Hit], reranked: bool) -> Table:
    columns = [_fixed("#", right=True), _fixed("score", right=True)]
    if reranked:  # the score is MaxSim or the hybrid; show both parts
        columns += [_fixed("cosine", right=True), _fixed("maxsim", right=True)]
    columns += [_fixed("id", max_width=40), _flexible("text", 80), _flexible("metadata", 60)]
    rows = [
        (
            rank,
            score(hit.score),
            *((score(hit.cosine), score(hit.maxsim_score or 0.0)) if reranked else ()),
            hit.id,
            hit.text,
            metadata_text(hit.metadata),
        )
        for rank, hit in enumerate(hits, start=1)
    ]
    return _table(columns, rows)


def documents_table(documents: Sequence[Document]) -> Table:
    columns = [_fixed("id", max_width=40), _flexible("text", 80), _flexible("metadata", 60)]
    return _table(columns, [(doc.id, doc.text, metadata_text(doc.metadata)) for doc in documents])


def upsert_summary(collection: str, result: UpsertResult, seconds: float) -> str:
    """``upserted 1,000 documents into 'demo' in 3.2 s (312 docs/s); 2 truncated``."""
    rate = result.upserted / seconds if seconds > 0 else 0.0
    line = (
        f"upserted {documents_count(result.upserted)} into {collection!r} "
        f"in {seconds:.1f} s ({rate:,.0f} docs/s)"
    )
    if result.truncated:
        shown = ", ".join(result.truncated[:5])
        more = f" and {len(result.truncated) - 5:,} more" if len(result.truncated) > 5 else ""
        line += f"; {len(result.truncated):,} truncated: {shown}{more}"
    return line


def documents_count(count: int) -> str:
    """``1 document``, ``2,048 documents``."""
    return f"{count:,} document{'s' * (count != 1)}"


# -- embeddings, pairs and tokens -----------------------------------------------------------


def vector_preview(vector: FloatArray) -> str:
    """``[0.0123, -0.0456, 0.0789, 0.0012, …, 0.0345]``: the first values and the last one."""
    values = [f"{v:.4f}" for v in vector.tolist()]
    if len(values) > _PREVIEW + 1:
        values = [*values[:_PREVIEW], "…", values[-1]]
    return "[" + ", ".join(values) + "]"


def embeddings_text(texts: Sequence[str], result: SentenceEmbeddings, description: str) -> Group:
    """The shape line, then per text its norm and the start of its vector."""
    n, d = result.embeddings.shape
    columns = [_fixed("#", right=True), _flexible("text", 80), _fixed("norm", right=True)]
    columns.append(_fixed("embedding"))
    norms = np.linalg.norm(result.embeddings, axis=1)
    rows = [
        (i, text, f"{norm:.4f}", vector_preview(vector))
        for i, (text, norm, vector) in enumerate(zip(texts, norms, result.embeddings, strict=True))
    ]
    parts: list[RenderableType] = [Text(f"{n} × {d} float32, {description}"), _table(columns, rows)]
    return Group(*parts, *_truncated_note("texts", result.truncated))


def compare_text(
    pairs: Sequence[tuple[str, str]], result: CompareResult, written: Sequence[str]
) -> Group:
    """The scores of each pair; the token alignments when asked for (each pair's, unless
    heatmaps of several pairs were written); the heatmap files written."""
    blocks: list[RenderableType] = [_compare_table(pairs, result)]
    if result.alignments is not None and (not written or len(pairs) == 1):
        for number, (pair, alignment) in enumerate(zip(pairs, result.alignments, strict=True), 1):
            blocks.append(_titled(f"pair {number}:", alignment_table(pair, alignment)))
    blocks += [Text(f"wrote {path}") for path in written]
    return _blocks(blocks)


def _compare_table(pairs: Sequence[tuple[str, str]], result: CompareResult) -> Group:
    columns = [_fixed("cosine" if result.maxsim is not None else "score", right=True)]
    extra: list[list[float]] = []
    if result.maxsim is not None:
        columns.append(_fixed("maxsim", right=True))
        extra.append(result.maxsim.tolist())
    if result.hybrid is not None:
        columns.append(_fixed("hybrid", right=True))
        extra.append(result.hybrid.tolist())
    columns += [_flexible("a", 60), _flexible("b", 60)]
    rows = [
        (score(s), *(score(values[i]) for values in extra), a, b)
        for i, ((a, b), s) in enumerate(zip(pairs, result.scores.tolist(), strict=True))
    ]
    return Group(_table(columns, rows), *_truncated_note("pairs", result.truncated))


def alignment_table(pair: tuple[str, str], alignment: Alignment) -> Group:
    """Each token of a, the token of b it matches best, where both are in their texts, and
    their cosine; tokens left out by the token selection show "-"."""
    columns = [_fixed("#", right=True), _fixed("a token"), _fixed("a text"), _fixed("a at")]
    columns += [_fixed("b token"), _fixed("b text"), _fixed("b at"), _fixed("cosine", right=True)]
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
    return Group(_table(columns, rows), Text(mean))


def _span(text: str, offsets: np.ndarray) -> tuple[str, str]:
    """The characters a token covers and ``start:end``; blank for special tokens."""
    start, end = int(offsets[0]), int(offsets[1])
    if start == end:
        return "", ""
    return text[start:end], f"{start}:{end}"


def tokens_table(texts: Sequence[str], tokens: TokenEmbeddings) -> Group:
    """One row per token: its string, vocabulary id, offsets and the text they cover; then
    how many tokens are unknown to the vocabulary, and whether the input was truncated.

    texts: the input, or the two texts of a pair (then a segment column says which).
    """
    columns = [_fixed("#", right=True), _fixed("token"), _fixed("id", right=True)]
    columns += [_fixed("offsets"), _fixed("text"), _fixed("special")]
    if len(texts) > 1:
        columns.append(_fixed("segment", right=True))
    rows = [_token_row(texts, tokens, i)[: len(columns)] for i in range(len(tokens.tokens))]
    notes = [Text(f"unknown tokens: {tokens.unknown_tokens}")]
    if tokens.truncated:
        notes.append(Text("(truncated to the model's maximum length)"))
    return Group(_table(columns, rows), *notes)


def _token_row(texts: Sequence[str], tokens: TokenEmbeddings, i: int) -> tuple[object, ...]:
    start, end = (int(x) for x in tokens.offsets[i])
    segment = int(tokens.segment_ids[i])
    special = bool(tokens.special_mask[i])
    covered = "" if special or segment >= len(texts) else texts[segment][start:end]
    flag = "yes" if special else ""
    return (i, tokens.tokens[i], int(tokens.token_ids[i]), f"{start}:{end}", covered, flag, segment)


def unknown_tokens_warning(tokens: TokenEmbeddings) -> str | None:
    """What to tell a user whose text the vocabulary cannot represent, if anything."""
    if not tokens.unknown_tokens:
        return None
    pieces = f"{tokens.unknown_tokens} piece{'s' * (tokens.unknown_tokens != 1)}"
    return (
        f"the model's vocabulary has no tokens for {pieces} of this text ([UNK]): serve a "
        "model trained on its language (simsearch serve --model ...)"
    )


def _truncated_note(what: str, indices: Sequence[int]) -> list[Text]:
    if not indices:
        return []
    listed = ", ".join(str(i) for i in indices)
    return [Text(f"truncated to the model's maximum length: {what} {listed}")]

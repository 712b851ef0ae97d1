"""Results as rich renderables for the terminal, laid out from their JSON form: each result
type is described once, in ``json_output``; here a table column or a listed field is only a
JSON key with a header and a number format.

Scores have four decimals, counts thousands separators. Every cell is one line: runs of
whitespace become one space, and long cells end in "…" (rich counts wide characters such as
中文 as two columns). Texts and metadata shrink first when a table is wider than the terminal.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Column, Table
from rich.text import Text

from simsearch.cli import json_output
from simsearch.client.results import CompareResult, ServerInfo, UpsertResult
from simsearch.types import (
    Alignment,
    CalibrationState,
    CollectionInfo,
    Document,
    Hit,
    Metadata,
    SentenceEmbeddings,
    TokenEmbeddings,
)

__all__ = [
    "alignment_table",
    "calibration_text",
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

Item = Mapping[str, Any]  # one result (or one row of it) as json_output describes it

_PREVIEW = 4  # leading values shown of each vector
_MIN_FLEXIBLE = 8  # a shrinking column keeps at least this many columns
_UNKNOWN = object()  # a value the server could not tell: shown "-"


def score(value: float) -> str:
    return f"{value:.4f}"


def metadata_text(metadata: Metadata) -> str:
    """Compact JSON with sorted keys (a Struct on the wire keeps no key order)."""
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True) if metadata else ""


def timestamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def documents_count(number: int) -> str:
    """``1 document``, ``2,048 documents``."""
    return f"{number:,} document{'s' * (number != 1)}"


def vector_preview(vector: Sequence[float]) -> str:
    """``[0.0123, -0.0456, 0.0789, 0.0012, …, 0.0345]``: the first values and the last one."""
    values = [score(v) for v in vector]
    if len(values) > _PREVIEW + 1:
        values = [*values[:_PREVIEW], "…", values[-1]]
    return "[" + ", ".join(values) + "]"


# -- building blocks -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Col:
    """A table column or a listed field: the JSON key of its values, its header (default: the
    key), how a value is shown. width: the column shrinks, down to a few characters, when the
    table is too wide (texts, metadata); 0: as wide as its widest cell, up to max_width.
    optional: left out when no row has the key (a rerank's scores, a compare's MaxSim)."""

    key: str
    header: str = ""
    show: Callable[[Any], object] = str
    right: bool = False
    width: int = 0
    max_width: int | None = None
    optional: bool = False

    @property
    def label(self) -> str:
        return self.header or self.key

    def column(self) -> Column:
        floor = max(_MIN_FLEXIBLE, len(self.label)) if self.width else None
        justify: JustifyMethod = "right" if self.right else "left"
        return Column(
            self.label,
            justify=justify,
            no_wrap=not self.width,
            max_width=self.width or self.max_width,
            min_width=floor,
            overflow="ellipsis",
        )

    def text(self, item: Item) -> str:
        """The value as one line: blank when the item lacks the key."""
        value = item.get(self.key)
        shown = "" if value is None else "-" if value is _UNKNOWN else self.show(value)
        return " ".join(str(shown).split())


def _score(key: str, header: str = "", *, optional: bool = True) -> _Col:
    return _Col(key, header, score, right=True, optional=optional)


_RANK, _ID = _Col("#", right=True), _Col("id", max_width=40)
_TEXT, _METADATA = _Col("text", width=80), _Col("metadata", show=metadata_text, width=60)


def _table(columns: Sequence[_Col], items: Sequence[Item]) -> Table:
    """Two spaces between columns, bold headers on a terminal (rich's default), no borders."""
    shown = [c for c in columns if not c.optional or any(c.key in item for item in items)]
    table = Table(*(c.column() for c in shown), box=None, pad_edge=False, padding=(0, 1))
    for item in items:
        table.add_row(*(Text(c.text(item), no_wrap=True, overflow="ellipsis") for c in shown))
    return table


def _numbered(items: Sequence[Item], start: int) -> list[Item]:
    return [{"#": number, **item} for number, item in enumerate(items, start=start)]


def _fields(fields: Sequence[tuple[str, object]]) -> Text:
    """A key/value listing, keys aligned: ``name       demo``. Values are never cut or
    wrapped (a cause or a path is read, and grepped, whole)."""
    width = max((cell_len(key) for key, _ in fields), default=0)
    lines = [
        f"{key}{' ' * (width - cell_len(key))}  {' '.join(str(value).split())}"
        for key, value in fields
    ]
    return Text("\n".join(lines), no_wrap=True, overflow="ignore")


def _listed(columns: Sequence[_Col], item: Item) -> list[tuple[str, object]]:
    return [(c.label, c.text(item)) for c in columns]


def _blocks(blocks: Sequence[RenderableType]) -> Group:
    """Blocks separated by a blank line."""
    spaced: list[RenderableType] = []
    for block in blocks:
        spaced += [Text(""), block] if spaced else [block]
    return Group(*spaced)


def _truncated_note(what: str, items: Sequence[Item]) -> list[Text]:
    listed = ", ".join(str(i) for i, item in enumerate(items) if item["truncated"])
    return [Text(f"truncated to the model's maximum length: {what} {listed}")] if listed else []


# -- the server and its collections ---------------------------------------------------------


def server_info_text(info: ServerInfo) -> Text:
    described = json_output.server_info_json(info)
    model, limits, head = described["model"], described["limits"], described["model"]["head"]
    encoder, replicas = model["encoder"], model["replicas"]
    if encoder != "local":
        encoder += f" ({replicas} replica{'s' * (replicas != 1)})"
    return _fields(
        [
            ("version", described["version"]),
            ("model", model["name"]),
            ("fingerprint", model["fingerprint"]),
            ("dimension", model["hidden_size"]),
            ("max length", f"{model['max_length']:,} tokens"),
            ("vocabulary", f"{model['vocab_size']:,} tokens"),
            ("device", model["device"]),
            ("engine", model["engine"]),
            ("encoder", encoder),
            ("store", described["store"]),
            ("precision", model["precision"]),
            ("poolings", ", ".join(described["poolings"])),
            *([("classifier", _head_text(head))] if head else []),
            ("max batch", f"{limits['max_batch']:,}"),
            ("max k", f"{limits['max_k']:,}"),
            ("max text", f"{limits['max_text_chars']:,} characters"),
            ("max message", f"{limits['max_message_bytes'] / 2**20:,.0f} MiB"),
            ("max rerank depth", f"{limits['max_rerank_depth']:,}"),
            ("max filter keys", f"{limits['max_filter_keys']:,}"),
            ("concurrent RPCs", f"{limits['max_concurrent_rpcs']:,} (streams: half)"),
            ("encoder queue", f"{limits['max_queue_depth']:,} texts"),
            ("stream idle", f"{limits['stream_idle_timeout_s']:g} s"),
        ]
    )


def _head_text(head: Item) -> str:
    """``entailment, neutral, contradiction (single_label_classification); cross-encoder
    reranks by entailment``."""
    relevance = head["relevance_label"]
    rerank = f"cross-encoder reranks by {relevance}" if relevance else "no cross-encoder rerank"
    return f"{', '.join(head['labels'])} ({head['problem_type']}); {rerank}"


def calibration_text(state: CalibrationState) -> str:
    """``none``; ``center, fitted on 1,000 documents (2026-…)``; ``whiten keeping 128
    dimensions, not fitted yet: fitted automatically at 1,000 documents, or by simsearch
    calibrate``."""
    return _calibration_text(json_output.calibration_json(state))


def _calibration_text(calibration: Item) -> str:
    kind: str = calibration["kind"]
    if kind == "none":
        return kind
    if calibration["dimensions"]:
        kind += f" keeping {calibration['dimensions']} dimensions"
    if calibration["fitted"]:
        fitted_at = timestamp(calibration["fitted_at"])
        return f"{kind}, fitted on {documents_count(calibration['fitted_on'])} ({fitted_at})"
    threshold = calibration["fit_threshold"]
    automatically = f"automatically at {documents_count(threshold)}, or " if threshold else ""
    return f"{kind}, not fitted yet: fitted {automatically}by simsearch calibrate"


def _calibration_cell(calibration: Item) -> str:
    """``none``, ``center``, ``whiten 128``; ``(not fitted)`` until it is."""
    kind, dimensions = calibration["kind"], calibration["dimensions"]
    shown = f"{kind} {dimensions}" if dimensions else kind
    return shown if calibration["fitted"] or kind == "none" else f"{shown} (not fitted)"


_DOCUMENTS = _Col("count", "documents", lambda n: f"{n:,}", right=True)
_DIMENSION, _POOLING, _INDEX = _Col("dimension", right=True), _Col("pooling"), _Col("index")
_MODEL, _CREATED = _Col("model_name", "model", width=60), _Col("created_at", "created", timestamp)
_STORE_TOKENS = _Col(
    "store_tokens",
    "store tokens",
    lambda stored: "yes (MaxSim reranks without re-encoding)" if stored else "no",
)
_SPEC_FIELDS = (
    _DIMENSION,
    _POOLING,
    _INDEX,
    _STORE_TOKENS,
    _Col("calibration", show=_calibration_text),
    _MODEL,
    _Col("model_fingerprint", "fingerprint"),
    _CREATED,
)


def collection_text(info: CollectionInfo) -> Text:
    """Describe output; an unavailable collection leads with why and what to do about it."""
    item = json_output.collection_json(info)
    name, unavailable = item["name"], item["unavailable"]
    if unavailable:
        fix = (
            f"drop it (simsearch drop {name}), or repair its files and restart the server; "
            "it serves nothing until then"
        )
        fields = [("name", name), ("status", f"UNAVAILABLE: {unavailable}"), ("to fix", fix)]
        return _fields(fields + (_listed(_SPEC_FIELDS, item) if _spec_known(item) else []))
    compatible = "yes" if item["compatible"] else "no: built with another model"
    listed = _listed((_DOCUMENTS, *_SPEC_FIELDS), item)
    return _fields([("name", name), *listed, ("compatible", compatible)])


def _spec_known(item: Item) -> bool:
    """False for an unavailable collection whose store could not even be read (name only)."""
    return bool(item["dimension"] > 0)


def collections_table(infos: Sequence[CollectionInfo]) -> RenderableType:
    """The collections; a "calibration" column appears only when some collection has one, an
    "unavailable" column (why) and a closing hint only when some could not be opened."""
    if not infos:
        return Text("no collections")
    items = [json_output.collection_json(info) for info in infos]
    columns = [_Col("name"), _DOCUMENTS, _DIMENSION, _POOLING, _INDEX]
    if any(item["calibration"]["kind"] != "none" for item in items):
        columns.append(_Col("calibration", show=_calibration_cell))
    columns += [_MODEL, _CREATED, _Col("compatible", show=lambda ok: "yes" if ok else "no")]
    columns.append(_Col("unavailable", width=200, optional=True))
    table = _table(columns, [_collection_row(item) for item in items])
    unavailable = [item["name"] for item in items if item["unavailable"]]
    if not unavailable:
        return table
    hint = (
        f"unavailable: {', '.join(unavailable)} (`simsearch describe NAME` says why): drop "
        "them, or repair their files and restart the server"
    )
    return _blocks([table, Text(hint)])


def _collection_row(item: Item) -> Item:
    """The table's view of a collection: "-" for what an unavailable one cannot tell."""
    if not item["unavailable"]:
        return {key: value for key, value in item.items() if key != "unavailable"}
    unknown = ["count", "compatible"]
    if not _spec_known(item):
        unknown = [key for key in item if key not in ("name", "unavailable")]
    return {**item, **dict.fromkeys(unknown, _UNKNOWN)}


# -- documents and hits ---------------------------------------------------------------------

# After a rerank the score is the MaxSim, hybrid or relevance score: its parts are shown too.
_HIT_SCORES = [_score("cosine"), _score("maxsim"), _score("relevance_score", "relevance")]
_HIT_COLUMNS = (_RANK, _score("score", optional=False), *_HIT_SCORES, _ID, _TEXT, _METADATA)


def hits_text(queries: Sequence[str], results: Sequence[Sequence[Hit]]) -> Group:
    """Per query: a ``query: "..."`` line, then its hits best first (or ``(no hits)``)."""
    blocks: list[RenderableType] = []
    for number, result in enumerate(json_output.search_json(queries, results), start=1):
        title = f"query {number}" if len(queries) > 1 else "query"
        title = f"{title}: {json.dumps(result['query'], ensure_ascii=False)}"
        hits = result["hits"]
        body = _table(_HIT_COLUMNS, _numbered(hits, 1)) if hits else Text("(no hits)")
        blocks.append(Group(Text(title), body))
    return _blocks(blocks)


def documents_table(documents: Sequence[Document]) -> Table:
    return _table((_ID, _TEXT, _METADATA), [json_output.document_json(doc) for doc in documents])


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


# -- embeddings, pairs and tokens -----------------------------------------------------------

_EMBEDDING_COLUMNS = (
    _RANK,
    _TEXT,
    _score("norm", optional=False),
    _Col("embedding", show=vector_preview),
)


def embeddings_text(texts: Sequence[str], result: SentenceEmbeddings, description: str) -> Group:
    """The shape line, then per text its norm and the start of its vector."""
    items = json_output.embeddings_json(texts, result, vectors=False)
    vectors = result.embeddings.tolist()
    rows = [
        {**item, "norm": math.hypot(*vector), "embedding": vector}
        for item, vector in zip(items, vectors, strict=True)
    ]
    shape = "{} × {} float32, {}".format(*result.embeddings.shape, description)
    table = _table(_EMBEDDING_COLUMNS, _numbered(rows, 0))
    return Group(Text(shape), table, *_truncated_note("texts", items))


def compare_text(
    pairs: Sequence[tuple[str, str]], result: CompareResult, written: Sequence[str]
) -> Group:
    """The scores of each pair; the token alignments when asked for (each pair's, unless
    heatmaps of several pairs were written); the heatmap files written."""
    items = json_output.compare_json(pairs, result, vectors=False)
    cosine = _score("score", "cosine" if result.maxsim is not None else "score", optional=False)
    columns = (cosine, _score("maxsim"), _score("hybrid"), _Col("a", width=60), _Col("b", width=60))
    blocks: list[RenderableType] = [Group(_table(columns, items), *_truncated_note("pairs", items))]
    if not written or len(pairs) == 1:
        blocks += [
            Group(Text(f"pair {number}:"), _alignment_table(pair, item["alignment"]))
            for number, (pair, item) in enumerate(zip(pairs, items, strict=True), start=1)
            if "alignment" in item
        ]
    return _blocks(blocks + [Text(f"wrote {path}") for path in written])


_SIDES = ("a token", "a text", "a at", "b token", "b text", "b at")
_ALIGNMENT_COLUMNS = (_RANK, *map(_Col, _SIDES), _score("cosine", optional=False))


def alignment_table(pair: tuple[str, str], alignment: Alignment) -> Group:
    """Each token of a, the token of b it matches best, where both are in their texts, and
    their cosine; tokens left out by the token selection show "-"."""
    return _alignment_table(pair, json_output.alignment_json(alignment, vectors=False))


def _alignment_table(pair: tuple[str, str], aligned: Item) -> Group:
    rows = []
    for number, token in enumerate(aligned["a"]):
        row = {"#": number, **_aligned_token("a", token, pair[0])}
        if token["match"] < 0:
            row.update({"b token": _UNKNOWN, "cosine": _UNKNOWN})
        else:
            row.update(_aligned_token("b", aligned["b"][token["match"]], pair[1]))
            row["cosine"] = token["similarity"]
        rows.append(row)
    counted = [token["similarity"] for token in aligned["a"] if token["counted"]]
    mean = score(sum(counted) / len(counted)) if counted else "-"
    summary = Text(f"MaxSim a->b = {mean} over {len(counted)} tokens")
    return Group(_table(_ALIGNMENT_COLUMNS, rows), summary)


def _aligned_token(side: str, token: Item, text: str) -> dict[str, object]:
    """The token, the characters it covers and ``start:end`` (none for special tokens)."""
    start, end = token["start"], token["end"]
    row: dict[str, object] = {f"{side} token": token["token"]}
    if start != end:
        row.update({f"{side} text": text[start:end], f"{side} at": f"{start}:{end}"})
    return row


_TOKEN_COLUMNS = (
    _RANK,
    _Col("token"),
    _Col("id", right=True),
    _Col("offsets"),
    _Col("text"),
    _Col("special", show=lambda special: "yes" if special else ""),
    _Col("segment", right=True, optional=True),  # a pair only
)


def tokens_table(texts: Sequence[str], tokens: TokenEmbeddings) -> Group:
    """One row per token: its string, vocabulary id, offsets and the text they cover; then
    how many tokens are unknown to the vocabulary, and whether the input was truncated.

    texts: the input, or the two texts of a pair (then a segment column says which).
    """
    described = json_output.tokens_json(tokens, vectors=False)
    rows = [_token_row(texts, token) for token in described["tokens"]]
    notes = [Text(f"unknown tokens: {described['unknown_tokens']}")]
    if described["truncated"]:
        notes.append(Text("(truncated to the model's maximum length)"))
    return Group(_table(_TOKEN_COLUMNS, _numbered(rows, 0)), *notes)


def _token_row(texts: Sequence[str], token: Item) -> Item:
    start, end, segment = token["start"], token["end"], token["segment"]
    covered = "" if token["special"] or segment >= len(texts) else texts[segment][start:end]
    row = {**token, "offsets": f"{start}:{end}", "text": covered}
    if len(texts) == 1:
        del row["segment"]
    return row


def unknown_tokens_warning(tokens: TokenEmbeddings) -> str | None:
    """What to tell a user whose text the vocabulary cannot represent, if anything."""
    if not tokens.unknown_tokens:
        return None
    pieces = f"{tokens.unknown_tokens} piece{'s' * (tokens.unknown_tokens != 1)}"
    return (
        f"the model's vocabulary has no tokens for {pieces} of this text ([UNK]): serve a "
        "model trained on its language (simsearch serve --model ...)"
    )

"""The text output of the CLI: aligned columns, "…" for long cells, wide characters, one-line
cells, summaries, and every field of `info` and `describe` (rendered as a pipe gets it)."""

from __future__ import annotations

import json

import numpy as np
from rich.cells import cell_len

from simsearch.cli import json_output, render
from simsearch.cli.output import plain_text
from simsearch.client.results import ServerInfo, UpsertResult
from simsearch.types import (
    Calibration,
    CalibrationKind,
    CalibrationState,
    ClassifierHead,
    CollectionInfo,
    CollectionSpec,
    Document,
    Hit,
    Limits,
    ModelInfo,
    Pooling,
    SentenceEmbeddings,
)


def lines(renderable: object, width: int = 120) -> list[str]:
    return plain_text(renderable, width).splitlines()  # type: ignore[arg-type]


def fields(renderable: object) -> dict[str, str]:
    return {line.split("  ", 1)[0]: line.split("  ", 1)[1].strip() for line in lines(renderable)}


def test_hits_show_scores_with_four_decimals_without_trailing_spaces() -> None:
    hits = [[Hit("d1", 0.912345, "a cat sat", {"year": 2012}), Hit("d2", 0.5, "a dog", {})]]
    assert lines(render.hits_text(["cat?"], hits)) == [
        'query: "cat?"',
        "#   score  id  text       metadata",
        '1  0.9123  d1  a cat sat  {"year": 2012}',
        "2  0.5000  d2  a dog",
    ]
    assert plain_text(render.hits_text(["a", "b"], [[], []])).split("\n\n") == [
        'query 1: "a"\n(no hits)',
        'query 2: "b"\n(no hits)',
    ]


def test_long_cells_shrink_to_the_width_with_an_ellipsis_and_stay_one_line() -> None:
    documents = [Document("d1", "word " * 40 + "two\nlines", {"k": "v" * 100})]
    table = lines(render.documents_table(documents), width=80)
    assert len(table) == 2
    assert max(cell_len(line) for line in table) <= 80
    assert table[1].startswith("d1  word word") and "…" in table[1]


def test_wide_characters_keep_columns_aligned() -> None:
    documents = [Document("中文", "x", {}), Document("ab", "y", {})]
    _, first, second = lines(render.documents_table(documents))
    assert cell_len(first[: first.index("x")]) == second.index("y") == 6


def test_the_upsert_summary_counts_in_words() -> None:
    result = UpsertResult(1000, ("a", "b"))
    assert render.upsert_summary("demo", result, 3.2) == (
        "upserted 1,000 documents into 'demo' in 3.2 s (312 docs/s); 2 truncated: a, b"
    )
    many = UpsertResult(10, tuple("abcdefg"))
    assert render.upsert_summary("demo", many, 1.0).endswith(
        "7 truncated: a, b, c, d, e and 2 more"
    )
    assert render.upsert_summary("demo", UpsertResult(0), 0.0).endswith("(0 docs/s)")
    assert render.upsert_summary("demo", UpsertResult(1), 1.0).startswith("upserted 1 document ")


def test_embeddings_show_the_shape_and_a_preview() -> None:
    embeddings = (np.arange(20).reshape(2, 10) / 100).astype(np.float32)
    text = lines(render.embeddings_text(["a", "b"], SentenceEmbeddings(embeddings, (1,)), "cls"))
    assert text[0] == "2 × 10 float32, cls"
    assert text[2].endswith("[0.0000, 0.0100, 0.0200, 0.0300, …, 0.0900]")
    assert text[-1] == "truncated to the model's maximum length: texts 1"


def test_info_text_lists_the_precision_and_every_limit() -> None:
    model = ModelInfo("m", "f" * 16, 8, 64, 100, precision="bfloat16")
    limits = Limits(max_filter_keys=7, stream_idle_timeout_s=2.5, max_concurrent_rpcs=12)
    shown = fields(render.server_info_text(ServerInfo(model, [Pooling.MEAN], limits, "9.9")))
    assert shown["precision"] == "bfloat16"
    assert shown["max filter keys"] == "7"
    assert shown["stream idle"] == "2.5 s"
    assert shown["concurrent RPCs"] == "12 (streams: half)"
    assert shown["encoder queue"] == "4,096 texts"


def test_info_text_says_where_the_model_runs_and_where_collections_live() -> None:
    def shown(info: ServerInfo) -> dict[str, str]:
        return fields(render.server_info_text(info))

    local = shown(ServerInfo(ModelInfo("m", "f", 8, 64, 100), [Pooling.CLS], Limits(), "9.9"))
    assert (local["encoder"], local["store"]) == ("local", "faiss")
    remote = ModelInfo("m", "f", 8, 64, 100, encoder="ray", replicas=3)
    scaled = shown(ServerInfo(remote, [Pooling.CLS], Limits(), "9.9", store="milvus"))
    assert (scaled["encoder"], scaled["store"]) == ("ray (3 replicas)", "milvus")
    one = ModelInfo("m", "f", 8, 64, 100, encoder="ray", replicas=1)
    assert shown(ServerInfo(one, [Pooling.CLS], Limits(), "9.9"))["encoder"] == "ray (1 replica)"


def test_describe_shows_whether_token_embeddings_are_stored() -> None:
    def described(store_tokens: bool) -> str:
        spec = CollectionSpec("c", Pooling.MEAN, "flat", 8, "m", "f", store_tokens=store_tokens)
        return fields(render.collection_text(CollectionInfo(spec, 3, 1.7e9, True)))["store tokens"]

    assert described(True).startswith("yes")
    assert described(False) == "no"


def _collection(calibration: CalibrationState | None = None) -> CollectionInfo:
    calibration = calibration or CalibrationState()
    spec = CollectionSpec(
        "c", Pooling.CLS, "flat", 8, "m", "f", calibration=calibration.calibration
    )
    return CollectionInfo(spec, 3, 1.7e9, True, calibration=calibration)


WHITENED = CalibrationState(
    Calibration(CalibrationKind.WHITEN, 4), 100, fitted=True, fitted_at=1.7e9, fitted_on=1234
)
CENTERED = CalibrationState(Calibration(CalibrationKind.CENTER), fit_threshold=1000)


def test_describe_shows_the_calibration_and_its_fit() -> None:
    def shown(state: CalibrationState) -> str:
        return fields(render.collection_text(_collection(state)))["calibration"]

    assert shown(CalibrationState()) == "none"
    assert shown(WHITENED) == (
        "whiten keeping 4 dimensions, fitted on 1,234 documents (2023-11-14 22:13:20 UTC)"
    )
    assert shown(CENTERED) == (
        "center, not fitted yet: fitted automatically at 1,000 documents, or by simsearch calibrate"
    )
    assert render.calibration_text(CENTERED) == shown(CENTERED)


def test_calibration_json_is_an_object_with_the_fit() -> None:
    described = json.loads(json.dumps(json_output.collection_json(_collection(WHITENED))))
    assert described["calibration"] == {
        "kind": "whiten",
        "dimensions": 4,
        "fitted": True,
        "fitted_on": 1234,
        "fitted_at": 1.7e9,
        "fit_threshold": 100,
    }
    plain = json_output.collection_json(_collection())["calibration"]
    assert (plain["kind"], plain["fitted"]) == ("none", False)


def test_the_collections_table_has_a_calibration_column_only_when_one_is_calibrated() -> None:
    assert "calibration" not in lines(render.collections_table([_collection()]))[0]
    header, plain, whitened, centered = lines(
        render.collections_table([_collection(), _collection(WHITENED), _collection(CENTERED)])
    )
    assert header.split()[5] == "calibration"
    assert plain.split()[5] == "none"
    assert whitened.split()[5:7] == ["whiten", "4"]
    assert "center (not fitted)" in centered


def test_info_shows_the_classifier_head_only_when_the_model_has_one() -> None:
    head = ClassifierHead(
        ("entailment", "neutral", "contradiction"), "single_label_classification", "entailment"
    )
    with_head = ServerInfo(ModelInfo("m", "f", 8, 64, 100, head=head), [Pooling.CLS], Limits(), "1")
    assert fields(render.server_info_text(with_head))["classifier"] == (
        "entailment, neutral, contradiction (single_label_classification); "
        "cross-encoder reranks by entailment"
    )
    assert json.loads(json.dumps(json_output.server_info_json(with_head)))["model"]["head"] == {
        "labels": ["entailment", "neutral", "contradiction"],
        "problem_type": "single_label_classification",
        "relevance_label": "entailment",
    }
    without = ServerInfo(ModelInfo("m", "f", 8, 64, 100), [Pooling.CLS], Limits(), "1")
    assert "classifier" not in fields(render.server_info_text(without))
    assert json_output.server_info_json(without)["model"]["head"] is None
    no_relevance = ClassifierHead(("a", "b", "c"), "multi_label_classification")
    odd = ServerInfo(
        ModelInfo("m", "f", 8, 64, 100, head=no_relevance), [Pooling.CLS], Limits(), "1"
    )
    assert fields(render.server_info_text(odd))["classifier"].endswith("no cross-encoder rerank")


def test_a_cross_encoder_rerank_shows_the_relevance_score_and_the_cosine() -> None:
    reranked = Hit("d1", 0.75, "a cat", {}, sentence_score=0.5, relevance_score=0.75)
    assert lines(render.hits_text(["cat?"], [[reranked]]))[1:] == [
        "#   score  cosine  relevance  id  text      metadata",
        "1  0.7500  0.5000     0.7500  d1  a cat",
    ]
    assert json_output.hit_json(reranked) == {
        "id": "d1",
        "score": 0.75,
        "text": "a cat",
        "metadata": {},
        "cosine": 0.5,
        "relevance_score": 0.75,
    }
    plain = json_output.hit_json(Hit("d2", 0.5, "a dog"))
    assert "relevance_score" not in plain and "cosine" not in plain
    assert "relevance" not in lines(render.hits_text(["q"], [[Hit("d2", 0.5, "a dog")]]))[1]

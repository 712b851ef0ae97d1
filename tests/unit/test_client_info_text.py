"""`simsearch info` shows every limit a caller must respect, the new ones included."""

from __future__ import annotations

from simsearch.client.render import server_info_text
from simsearch.client.results import ServerInfo
from simsearch.types import Limits, ModelInfo, Pooling


def test_info_text_lists_the_precision_and_every_limit() -> None:
    model = ModelInfo("m", "f" * 16, 8, 64, 100, precision="bfloat16")
    limits = Limits(max_filter_keys=7, stream_idle_timeout_s=2.5, max_concurrent_rpcs=12)
    text = server_info_text(ServerInfo(model, [Pooling.MEAN], limits, "9.9"))
    lines = {line.split("  ", 1)[0]: line.split("  ", 1)[1].strip() for line in text.splitlines()}
    assert lines["precision"] == "bfloat16"
    assert lines["max filter keys"] == "7"
    assert lines["stream idle"] == "2.5 s"
    assert lines["concurrent RPCs"] == "12 (streams: half)"
    assert lines["encoder queue"] == "4,096 texts"


def test_info_text_says_where_the_model_runs_and_where_collections_live() -> None:
    def fields(info: ServerInfo) -> dict[str, str]:
        text = server_info_text(info)
        return {
            line.split("  ", 1)[0]: line.split("  ", 1)[1].strip() for line in text.splitlines()
        }

    local = fields(ServerInfo(ModelInfo("m", "f", 8, 64, 100), [Pooling.CLS], Limits(), "9.9"))
    assert (local["encoder"], local["store"]) == ("local", "faiss")
    remote = ModelInfo("m", "f", 8, 64, 100, encoder="ray", replicas=3)
    scaled = fields(ServerInfo(remote, [Pooling.CLS], Limits(), "9.9", store="milvus"))
    assert (scaled["encoder"], scaled["store"]) == ("ray (3 replicas)", "milvus")
    one = ModelInfo("m", "f", 8, 64, 100, encoder="ray", replicas=1)
    assert fields(ServerInfo(one, [Pooling.CLS], Limits(), "9.9"))["encoder"] == "ray (1 replica)"

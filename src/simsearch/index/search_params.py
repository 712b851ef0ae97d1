"""A request's search parameters (efSearch, nprobe) checked against its index: one rule for
every collection backend (FAISS and Milvus alike)."""

from __future__ import annotations

from simsearch.errors import InvalidArgumentError
from simsearch.types import SearchParams

__all__ = ["check_search_params"]


def check_search_params(params: SearchParams | None, index: str, nlist: int) -> None:
    """InvalidArgumentError for parameters never valid for ``index`` (non-positive values,
    nprobe above its ``nlist`` lists); parameters that do not apply to it are ignored."""
    if params is None:
        return
    for name in ("ef_search", "nprobe"):
        value = getattr(params, name)
        if value is not None and (not _is_int(value) or value <= 0):
            raise InvalidArgumentError(f"params.{name} must be a positive integer, got {value!r}")
    if nlist and params.nprobe is not None and params.nprobe > nlist:
        raise InvalidArgumentError(
            f"params.nprobe is {params.nprobe} but index {index!r} has {nlist} "
            f"lists; nprobe={nlist} searches them all"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

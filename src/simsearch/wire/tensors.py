"""numpy arrays <-> ``simsearch.v1.Tensor`` (shape, dtype, raw little-endian row-major bytes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.errors import InvalidArgumentError
from simsearch.types import FloatArray
from simsearch.v1 import tensor_pb2

__all__ = ["array_to_tensor", "floats_from_wire", "tensor_to_array"]

_NUMPY_DTYPES: dict[tensor_pb2.DType.ValueType, np.dtype[Any]] = {
    tensor_pb2.DTYPE_FLOAT32: np.dtype("<f4"),
    tensor_pb2.DTYPE_FLOAT16: np.dtype("<f2"),
    tensor_pb2.DTYPE_INT64: np.dtype("<i8"),
}
_WIRE_DTYPES = {dtype: wire for wire, dtype in _NUMPY_DTYPES.items()}


def array_to_tensor(array: npt.NDArray[Any]) -> tensor_pb2.Tensor:
    """Encode an array of float32, float16 or int64 (any byte order) as a Tensor."""
    dtype = array.dtype.newbyteorder("<")
    if dtype not in _WIRE_DTYPES:
        raise TypeError(f"cannot send dtype {array.dtype} as a Tensor")
    data = np.ascontiguousarray(array, dtype=dtype).tobytes()
    return tensor_pb2.Tensor(shape=list(array.shape), dtype=_WIRE_DTYPES[dtype], data=data)


def tensor_to_array(tensor: tensor_pb2.Tensor) -> npt.NDArray[Any]:
    """Decode a Tensor as a read-only view of its bytes. protobuf (upb) hands out a new copy of
    a bytes field at each read, so the field is read once: one copy, none more.

    Raises InvalidArgumentError when the dtype is unknown, a dimension is negative, or the
    byte count does not match the shape.
    """
    dtype = _NUMPY_DTYPES.get(tensor.dtype)
    if dtype is None:
        raise InvalidArgumentError(f"tensor dtype {tensor.dtype} is not supported")
    shape = tuple(int(n) for n in tensor.shape)
    if any(n < 0 for n in shape):
        raise InvalidArgumentError(f"tensor shape {list(shape)} has a negative dimension")
    expected = dtype.itemsize
    for n in shape:  # Python ints: no overflow on hostile shapes
        expected *= n
    data = tensor.data
    if len(data) != expected:
        raise InvalidArgumentError(
            f"tensor of shape {list(shape)} and dtype {dtype.name} needs {expected} bytes, "
            f"got {len(data)}"
        )
    try:
        return np.frombuffer(data, dtype=dtype).reshape(shape)
    except ValueError as exc:  # e.g. a zero-size shape whose product overflows numpy's limit
        raise InvalidArgumentError(f"tensor shape {list(shape)} is not usable: {exc}") from None


def floats_from_wire(tensor: tensor_pb2.Tensor, what: str) -> FloatArray:
    """A float tensor as float32: a read-only view of the message's bytes when it travelled as
    float32 (no copy), converted when float16. ``what`` names it in the error for other dtypes.
    """
    array = tensor_to_array(tensor)
    if array.dtype.kind != "f":
        raise InvalidArgumentError(f"{what} must be float32 or float16, not {array.dtype}")
    floats: FloatArray = array if array.dtype == np.float32 else array.astype(np.float32)
    return floats

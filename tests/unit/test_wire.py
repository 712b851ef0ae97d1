"""Wire conversions: tensors, JSON-like structs and the error <-> status-code table."""

from __future__ import annotations

import math
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2

from simsearch import errors
from simsearch.errors import InvalidArgumentError
from simsearch.v1 import tensor_pb2
from simsearch.wire import (
    array_to_tensor,
    code_for,
    dict_to_struct,
    error_for,
    struct_to_dict,
    tensor_to_array,
)

# -- tensors ------------------------------------------------------------------------------


def _over_the_wire(tensor: tensor_pb2.Tensor) -> tensor_pb2.Tensor:
    return tensor_pb2.Tensor.FromString(tensor.SerializeToString())


def _arrays() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    floats = rng.standard_normal((3, 5)).astype(np.float32)
    return [
        floats,
        floats.astype(np.float16),
        rng.integers(-(2**62), 2**62, size=(4, 2), dtype=np.int64),
        floats.astype(">f4"),
        floats.astype(">f2"),
        np.arange(6, dtype=">i8").reshape(2, 3),
        np.zeros((0, 16), np.float32),
        np.zeros((0, 16), np.float16),
        np.zeros((2, 0), np.int64),
        floats.T,  # not C-contiguous
        floats[:, ::2],  # strided
        rng.standard_normal((2, 3, 4)).astype(np.float32),
        np.array(1.5, np.float32),  # 0-d
    ]


@pytest.mark.parametrize("array", _arrays(), ids=lambda a: f"{a.dtype.str}{a.shape}")
def test_tensor_round_trip(array: np.ndarray) -> None:
    tensor = _over_the_wire(array_to_tensor(array))
    assert list(tensor.shape) == list(array.shape)
    assert tensor.data == array.astype(array.dtype.newbyteorder("<")).tobytes(order="C")
    back = tensor_to_array(tensor)
    assert back.dtype == array.dtype.newbyteorder("<")
    assert back.dtype.byteorder in "<="  # little-endian on the wire and after decoding
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize(
    ("dtype", "wire"),
    [
        (np.float32, tensor_pb2.DTYPE_FLOAT32),
        (np.float16, tensor_pb2.DTYPE_FLOAT16),
        (np.int64, tensor_pb2.DTYPE_INT64),
    ],
)
def test_tensor_dtype_codes(dtype: type, wire: int) -> None:
    assert array_to_tensor(np.ones((1, 2), dtype)).dtype == wire


def test_big_endian_input_is_sent_little_endian() -> None:
    tensor = array_to_tensor(np.array([1.0], ">f4"))
    assert tensor.data == b"\x00\x00\x80\x3f"


def test_decoding_is_zero_copy_and_read_only() -> None:
    tensor = array_to_tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    array = tensor_to_array(tensor)
    assert not array.flags.owndata
    assert not array.flags.writeable
    base: Any = array
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base, bytes)
    assert np.shares_memory(array, np.frombuffer(base, np.uint8))
    with pytest.raises(ValueError, match="read-only"):
        array[0, 0] = 1


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_, np.complex64])
def test_unsupported_dtypes_are_not_sent(dtype: type) -> None:
    with pytest.raises(TypeError, match="dtype"):
        array_to_tensor(np.zeros((1, 2), dtype))


def _tensor(shape: list[int], data: bytes, dtype: int = tensor_pb2.DTYPE_FLOAT32) -> Any:
    return tensor_pb2.Tensor(shape=shape, dtype=dtype, data=data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tensor", "match"),
    [
        (_tensor([2, 2], b"\0" * 15), "needs 16 bytes, got 15"),
        (_tensor([2, 2], b"\0" * 17), "needs 16 bytes, got 17"),
        (_tensor([2, 2], b"\0" * 16, tensor_pb2.DTYPE_FLOAT16), "needs 8 bytes"),
        (_tensor([0, 4], b"\0" * 4), "needs 0 bytes"),
        (_tensor([-1, 4], b"\0" * 16), "negative"),
        (_tensor([4, -1], b""), "negative"),
        (_tensor([2], b"\0" * 8, tensor_pb2.DTYPE_UNSPECIFIED), "dtype"),
        (_tensor([2], b"\0" * 8, 99), "dtype"),
        # a byte count that overflows int64 must not wrap around to 0 and pass
        (_tensor([2**62, 4], b""), "shape"),
        (_tensor([2**62, 0], b""), "shape"),
    ],
    ids=[
        "short",
        "long",
        "float16-size",
        "empty-with-data",
        "negative-first",
        "negative-second",
        "unspecified-dtype",
        "unknown-dtype",
        "byte-count-overflow",
        "too-big-empty",
    ],
)
def test_bad_tensors_are_invalid_arguments(tensor: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        tensor_to_array(_over_the_wire(tensor))


# -- structs ------------------------------------------------------------------------------

METADATA: dict[str, Any] = {
    "year": 2012,
    "negative": -7,
    "zero": 0,
    "largest_exact_int": 2**53 - 1,
    "ratio": 2.5,
    "tiny": 1e-300,
    "none": None,
    "yes": True,
    "no": False,
    "unicode": "héllo ✓ 日本語 🙂",
    "": "empty key",
    "nested": {"list": [1, 2.5, "x", None, True, {"deep": [False, 3]}], "empty": {}},
    "empty_list": [],
}


def _types(value: Any) -> Any:
    """The value with every leaf replaced by its type, to compare int/float/bool exactly."""
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    return type(value)


def test_struct_round_trip_keeps_values_and_types() -> None:
    struct = struct_pb2.Struct.FromString(dict_to_struct(METADATA).SerializeToString())
    back = struct_to_dict(struct)
    assert back == METADATA
    assert _types(back) == _types(METADATA)


def test_struct_of_nothing_is_empty() -> None:
    assert dict_to_struct(None) == struct_pb2.Struct()
    assert dict_to_struct({}) == struct_pb2.Struct()
    assert struct_to_dict(struct_pb2.Struct()) == {}


def test_integral_floats_come_back_as_ints() -> None:
    """Struct numbers are doubles: 2.0 and 2 are the same on the wire (documented)."""
    assert struct_to_dict(dict_to_struct({"a": 2.0})) == {"a": 2}
    beyond = struct_to_dict(dict_to_struct({"a": 2**60}))["a"]
    assert isinstance(beyond, float) and beyond == 2**60


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", ["top", "nested", "in-list"])
def test_non_finite_numbers_are_invalid(value: float, where: str) -> None:
    struct = struct_pb2.Struct()
    if where == "top":
        struct["x"] = value
    elif where == "nested":
        struct.get_or_create_struct("x")["y"] = value
    else:
        struct.get_or_create_list("x").extend([1, value])
    assert math.isnan(value) or math.isinf(value)
    with pytest.raises(InvalidArgumentError, match="finite"):
        struct_to_dict(struct_pb2.Struct.FromString(struct.SerializeToString()))


def _unset_value_at(where: str) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct["kept"] = "x"
    if where == "top":
        struct.fields["genre"].Clear()  # a Value with no kind set
    elif where == "nested":
        struct.get_or_create_struct("genre").fields["sub"].Clear()
    else:
        struct.get_or_create_list("genre").append(1)
        struct.fields["genre"].list_value.values.add()
    return struct_pb2.Struct.FromString(struct.SerializeToString())


@pytest.mark.parametrize(
    ("where", "key"), [("top", "'genre'"), ("nested", "'genre'['sub']"), ("in-list", "'genre'[1]")]
)
def test_a_value_with_no_kind_is_refused_naming_its_key(where: str, key: str) -> None:
    """protobuf's JSON form reads such a Value as null; stored, it would silently be null."""
    with pytest.raises(InvalidArgumentError) as raised:
        struct_to_dict(_unset_value_at(where))
    assert str(raised.value).startswith(f"key {key} holds a google.protobuf.Value with no kind")


def test_an_explicit_null_is_kept() -> None:
    struct = struct_pb2.Struct()
    struct["a"] = None
    assert struct_to_dict(struct) == {"a": None}


@pytest.mark.parametrize("values", [{"a": {1, 2}}, {"a": object()}, {"a": b"bytes"}, {1: "a"}])
def test_values_that_are_not_json_like_are_invalid(values: dict[Any, Any]) -> None:
    with pytest.raises(InvalidArgumentError, match="JSON-like"):
        dict_to_struct(values)


# -- status codes -------------------------------------------------------------------------

TABLE = [
    (errors.InvalidArgumentError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFoundError, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.LimitExceededError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (errors.UnavailableError, grpc.StatusCode.UNAVAILABLE),
    (errors.DataLossError, grpc.StatusCode.DATA_LOSS),
    (errors.DeadlineExceededError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.InternalError, grpc.StatusCode.INTERNAL),
]


@pytest.mark.parametrize(("error", "code"), TABLE, ids=[e.__name__ for e, _ in TABLE])
def test_each_error_maps_to_its_code_and_back(
    error: type[errors.SimsearchError], code: grpc.StatusCode
) -> None:
    assert code_for(error("message")) == code
    assert error_for(code) is error


def test_the_table_covers_every_error_class() -> None:
    exported = (getattr(errors, name) for name in errors.__all__)
    classes = {
        item
        for item in exported
        if isinstance(item, type) and issubclass(item, errors.SimsearchError)
    } - {errors.SimsearchError}
    # OverloadedError travels as its base's RESOURCE_EXHAUSTED: what tells the two apart on the
    # wire is the retry trailer (tests/integration/test_client_retries.py), not the code.
    assert classes - {errors.OverloadedError} == {error for error, _ in TABLE}
    assert code_for(errors.OverloadedError("busy")) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len({code for _, code in TABLE}) == len(TABLE)


def test_a_subclass_maps_to_its_base_class_code() -> None:
    class UnknownDocument(errors.NotFoundError):
        pass

    class Overloaded(errors.LimitExceededError):
        pass

    assert code_for(UnknownDocument("x")) == grpc.StatusCode.NOT_FOUND
    assert code_for(Overloaded("x")) == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_the_base_class_is_internal() -> None:
    assert code_for(errors.SimsearchError("x")) == grpc.StatusCode.INTERNAL


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.OK, grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED]
)
def test_unmapped_codes_give_the_base_class(code: grpc.StatusCode) -> None:
    assert error_for(code) is errors.SimsearchError

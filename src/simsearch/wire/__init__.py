"""Conversions shared by the server and the client: tensors and JSON-like structs on the wire."""

from simsearch.wire.status import code_for, error_for
from simsearch.wire.structs import dict_to_struct, struct_to_dict
from simsearch.wire.tensors import array_to_tensor, tensor_to_array

__all__ = [
    "array_to_tensor",
    "code_for",
    "dict_to_struct",
    "error_for",
    "struct_to_dict",
    "tensor_to_array",
]

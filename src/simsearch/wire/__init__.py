"""Conversions shared by the server and the client: tensors and JSON-like structs on the wire."""

from simsearch.wire.structs import dict_to_struct, struct_to_dict
from simsearch.wire.tensors import array_to_tensor, tensor_to_array

__all__ = ["array_to_tensor", "dict_to_struct", "struct_to_dict", "tensor_to_array"]

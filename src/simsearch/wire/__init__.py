"""The one codec between ``simsearch.v1`` messages and the plain types of ``simsearch.types``,
used by both the server and the client: each message has ``x_to_wire`` / ``x_from_wire`` side by
side, in a module named for what it holds:

- ``documents``: documents and search hits; ``inputs``: texts, pairs, query texts or vectors;
- ``embeddings``: sentence and token embeddings; ``alignments``: MaxSim token alignments;
- ``info``: the model, limits and collection descriptions;
- ``options``: pooling, MaxSim, rerank and search parameters (the enum tables);
- ``calibration``: a collection's calibration and its fit; ``classification``: Classify and
  the model's head; ``mining``: MinePairs requests and scored pairs;
- ``structs`` and ``tensors``: the JSON-like and array payloads; ``status``: errors <-> codes.

Decoding only coerces types: it refuses what cannot be decoded (an unknown enum value, a
malformed tensor, two kinds of input in one request) and leaves what the values mean to the
engine's checks (``simsearch.engine.validation``).
"""

from simsearch.wire.status import code_for, error_for
from simsearch.wire.structs import dict_to_struct, struct_to_dict
from simsearch.wire.tensors import array_to_tensor, floats_from_wire, tensor_to_array

__all__ = [
    "array_to_tensor",
    "code_for",
    "dict_to_struct",
    "error_for",
    "floats_from_wire",
    "struct_to_dict",
    "tensor_to_array",
]

"""Text to vectors with torch, transformers and OpenVINO: the only package that imports them.

``load_encoder(model)`` loads "default" (the bundled all-MiniLM-L6-v2), a local model
directory or a hub id (downloads off unless ``allow_download``) and returns a
:class:`BertEncoder`, which satisfies ``simsearch.engine.ports.Encoder`` structurally.

Modules, one job each: ``loading`` (find and load model and tokenizer, size the inputs),
``fingerprint`` (hash weights and vocabulary), ``precision`` (float32 / bfloat16 / int8 and
threads), ``memory`` (resident memory flat whatever the input shapes), ``tokenization``
(measure, check and truncate), ``batching`` (length-sorted, padded batches at the least cost),
``jobs`` (one caller's request and its result buffer), ``scheduler`` (the cross-request batcher
and its worker thread), ``runner`` (the engine seam and the torch forward pass), ``engines``
(choose and set up torch or OpenVINO), ``openvino_convert`` (checkpoint to OpenVINO, static
int8), ``model_cache`` (the verified on-disk cache of converted models), ``calibration`` (the
texts static int8 is calibrated on), ``openvino_runner`` (the OpenVINO forward pass),
``pooling`` (pure torch pooling), ``classifier_head`` (a checkpoint's sequence-classification
head, read with the model and run on the pooler output), ``bert`` (the encoder), ``options``
(the load arguments as one picklable value), ``ray_serve`` (replicas of the encoder on Ray
Serve, ``--encoder ray``). See ``docs/encoder.md``, ``docs/engines.md`` and ``docs/scale-out.md``.
"""

from simsearch.encoder.bert import BertEncoder, load_encoder
from simsearch.encoder.loading import ModelLoadError
from simsearch.encoder.options import EncoderOptions

__all__ = ["BertEncoder", "EncoderOptions", "ModelLoadError", "load_encoder"]

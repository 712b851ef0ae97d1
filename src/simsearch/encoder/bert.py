"""``BertEncoder``: sentence and token embeddings from a BERT-family model.

It satisfies the engine's ``Encoder`` protocol structurally. Per call: tokenize every input
in full in the caller's thread (an over-long input fails the call before any model work,
unless truncation is asked for), show the tokens to the caller's ``admit`` when it gave one
(the engine refuses answers too large to send there), then hand the job to the
:class:`BatchScheduler`, whose one worker thread batches it with other callers' jobs, runs the
model and pools; rows come back in input order.

The engine (torch or OpenVINO, ``encoder.engines``) and the precision (float32, bfloat16)
change how the model computes, not which model it is: the fingerprint is the hash of the
float32 weights as loaded, so collections built under one of them open under the others
(their vectors agree to a cosine of 0.9999). int8 moves vectors much more (torch dynamic int8:
cosine down to ~0.75 on some inputs), so each int8 variant has a fingerprint of its own and a
collection built in float32 is refused under int8, and vice versa.

A checkpoint with a sequence-classification head (``encoder.classifier_head``) also classifies:
the head runs in numpy on the raw pooler output of the same forward pass the encoder makes for
``Pooling.POOLER``, on either engine. Its weights are part of the fingerprint (a model without
a head keeps the fingerprint it always had).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simsearch.callers import CallerGone, caller_gone
from simsearch.encoder.classifier_head import HeadWeights
from simsearch.encoder.engines import EngineOptions, start_engine
from simsearch.encoder.fingerprint import model_fingerprint
from simsearch.encoder.jobs import Job
from simsearch.encoder.loading import (
    load_pretrained,
    resolve_device,
    resolve_max_length,
    resolve_model,
)
from simsearch.encoder.scheduler import BatchObserver, BatchScheduler, SchedulerSettings
from simsearch.encoder.tokenization import (
    Admit,
    Tokenized,
    admit_tokens,
    token_embeddings,
    token_strings,
    tokenize,
)
from simsearch.errors import FailedPreconditionError, InvalidArgumentError
from simsearch.types import (
    Classifications,
    ModelInfo,
    Pooling,
    SentenceEmbeddings,
    TextInput,
    TokenEmbeddings,
)

__all__ = ["BertEncoder", "load_encoder"]


def load_encoder(
    model: str,
    *,
    device: str = "cpu",
    max_length: int = 0,
    batch_size: int = 64,
    dtype: str = "float32",
    int8: bool = False,
    threads: int = 0,
    batch_tokens: int = 8192,
    batch_wait_ms: float = 2.0,
    max_queue_depth: int = 4096,
    allow_download: bool = False,
    on_batch: BatchObserver | None = None,
    engine: str = "torch",
    cache_dir: Path | None = None,
    int8_calibration: Path | None = None,
) -> BertEncoder:
    """Load ``model`` ("default", a local directory or a hub id) and wrap it.

    ``dtype`` is float32 here (exact) unless asked; the server passes its own default, "auto".
    ``engine``: torch (here by default), openvino or auto (openvino on a CPU where it is
    installed; the server's default). ``cache_dir``: where the openvino engine keeps converted
    models (None: convert in memory on every load). ``int8_calibration``: a text or JSONL file
    of texts to calibrate the openvino engine's static int8 on (None: no int8).
    ``on_batch(rows, tokens)``: told after each forward pass (see ``BertEncoder``).
    Raises ``ModelLoadError`` (an ``OSError``) saying what was tried when it cannot be loaded.
    """
    loaded = load_pretrained(resolve_model(model), allow_download=allow_download)
    return BertEncoder(
        loaded.tokenizer,
        loaded.model,
        name=loaded.name,
        device=device,
        max_length=max_length,
        dtype=dtype,
        int8=int8,
        threads=threads,
        engine=engine,
        cache_dir=cache_dir,
        int8_calibration=int8_calibration,
        batching=SchedulerSettings(
            batch_size=batch_size,
            batch_tokens=batch_tokens,
            batch_wait_ms=batch_wait_ms,
            max_queue_depth=max_queue_depth,
        ),
        on_batch=on_batch,
        head=loaded.head,
    )


class BertEncoder:
    """Texts (or text pairs, as segments A and B) to vectors. Thread-safe.

    ``tokenizer`` must be a fast (Rust) tokenizer; ``model`` a float32 transformers base model
    such as ``BertModel`` (on the torch engine converted in place to ``dtype`` / int8; on the
    openvino engine converted to an OpenVINO model, see ``load_encoder`` for ``engine``,
    ``cache_dir`` and ``int8_calibration``). ``max_length`` 0 uses the model's own limit.
    ``threads`` > 0 sets the engine's inference threads (torch's process-wide).
    ``on_batch(rows, tokens)``, when given, is called by the batching thread after each forward
    pass with its texts and their real (non-padding) tokens: how the server's metrics see the
    model without the encoder knowing of them.
    ``head``: the checkpoint's sequence-classification head (``load_encoder`` reads it), for
    :meth:`classify`; it needs the pooler.
    Call :meth:`close` to stop the batching thread (also done when the encoder is collected).
    """

    def __init__(
        self,
        tokenizer: Any,
        model: Any,
        *,
        name: str,
        device: str = "cpu",
        max_length: int = 0,
        dtype: str = "float32",
        int8: bool = False,
        threads: int = 0,
        engine: str = "torch",
        cache_dir: Path | None = None,
        int8_calibration: Path | None = None,
        batching: SchedulerSettings | None = None,
        on_batch: BatchObserver | None = None,
        head: HeadWeights | None = None,
    ) -> None:
        batching = batching or SchedulerSettings()
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("BertEncoder needs a fast tokenizer (for character offsets)")
        torch_device = resolve_device(device)
        weights = {**model.state_dict(), **(head.tensors() if head is not None else {})}
        fingerprint = model_fingerprint(weights, tokenizer.get_vocab())
        model.eval()
        max_length = resolve_max_length(max_length, tokenizer, model.config)
        options = EngineOptions(engine, dtype, int8, threads, cache_dir, int8_calibration)
        setup = start_engine(
            model,
            tokenizer,
            torch_device,
            fingerprint=fingerprint,
            max_length=max_length,
            options=options,
        )
        self._has_pooler = setup.runner.has_pooler
        self._head = head if self._has_pooler else None
        self._tokenizer = tokenizer
        self._info = ModelInfo(
            name=name,
            fingerprint=setup.fingerprint,
            hidden_size=int(model.config.hidden_size),
            max_length=max_length,
            vocab_size=len(tokenizer),
            device=str(torch_device),
            precision=setup.precision,
            threads=setup.threads,
            poolings=tuple(p for p in Pooling if p is not Pooling.POOLER or self._has_pooler),
            engine=setup.engine,
            head=None if self._head is None else self._head.head,
        )
        self._scheduler = BatchScheduler(
            setup.runner,
            hidden_size=self._info.hidden_size,
            pad_id=int(tokenizer.pad_token_id or 0),
            settings=batching,
            on_batch=on_batch,
        )
        # The worker thread holds the scheduler, not the encoder, so this can run.
        self._finalizer = weakref.finalize(self, self._scheduler.close)

    def __repr__(self) -> str:
        info = self._info
        return (
            f"BertEncoder(name={info.name!r}, device={info.device!r}, {info.engine}, "
            f"{info.precision})"
        )

    @property
    def info(self) -> ModelInfo:
        """Name, fingerprint, hidden size, maximum tokens per input, vocabulary size, device,
        precision (float32, bfloat16, int8 or int8-static), inference threads and engine."""
        return self._info

    @property
    def has_pooler(self) -> bool:
        """Whether ``Pooling.POOLER`` is available (the model has a trained pooler layer)."""
        return self._has_pooler

    @property
    def queued(self) -> int:
        """Texts waiting for the model (submitted, not yet in a forward pass)."""
        return self._scheduler.queued

    def close(self) -> None:
        """Stop the batching thread; calls still queued fail with ``UnavailableError``."""
        self._finalizer()

    def encode(
        self,
        inputs: Sequence[TextInput],
        pooling: Pooling,
        *,
        normalize: bool,
        truncate: bool,
        gone: CallerGone | None = None,
    ) -> SentenceEmbeddings:
        """Sentence embeddings ``(n, d) float32``, row i for ``inputs[i]``.

        ``normalize``: rows scaled to unit L2 norm. ``truncated``: indices of inputs cut to
        ``info.max_length``; without ``truncate`` such an input raises ``InvalidArgumentError``.
        ``gone``: polled while the call waits for the model; True drops it with
        ``DeadlineExceededError`` (for callers that have gone). ``LimitExceededError`` when the
        encoder's queue is full.
        """
        pooling = self._check_pooling(pooling)
        items = self._tokenize(inputs, truncate)
        result = self._scheduler.run(
            Job(items, pooling, normalize, tokens=False), gone or caller_gone.get()
        )
        return SentenceEmbeddings(result.embeddings, _truncated(items))

    def encode_tokens(
        self,
        inputs: Sequence[TextInput],
        *,
        truncate: bool,
        admit: Admit | None = None,
        gone: CallerGone | None = None,
    ) -> list[TokenEmbeddings]:
        """``last_hidden_state`` per input, padding removed, with tokens, offsets and masks.

        Same truncation and queueing rules as :meth:`encode`; ``TokenEmbeddings.truncated``
        marks cut inputs. ``admit``: called in this thread with every input's tokens (each
        ``TokenEmbeddings`` with zero embedding columns) before the job is queued; what it
        raises fails the call before any model work.
        """
        items, strings = self._tokenize_admitted(inputs, truncate, admit)
        result = self._scheduler.run(
            Job(items, None, False, tokens=True), gone or caller_gone.get()
        )
        return token_embeddings(items, strings, result.hidden, self._tokenizer.unk_token_id)

    def encode_with_tokens(
        self,
        inputs: Sequence[TextInput],
        pooling: Pooling,
        *,
        truncate: bool,
        admit: Admit | None = None,
        gone: CallerGone | None = None,
    ) -> tuple[SentenceEmbeddings, list[TokenEmbeddings]]:
        """Normalised sentence embeddings and token embeddings, from one forward pass;
        ``admit`` as in :meth:`encode_tokens`."""
        pooling = self._check_pooling(pooling)
        items, strings = self._tokenize_admitted(inputs, truncate, admit)
        result = self._scheduler.run(
            Job(items, pooling, True, tokens=True), gone or caller_gone.get()
        )
        embeddings = SentenceEmbeddings(result.embeddings, _truncated(items))
        return embeddings, token_embeddings(
            items, strings, result.hidden, self._tokenizer.unk_token_id
        )

    def classify(
        self, inputs: Sequence[TextInput], *, truncate: bool, gone: CallerGone | None = None
    ) -> Classifications:
        """The classification head's logits and probabilities, row i for ``inputs[i]`` (a
        pair is encoded jointly). Truncation, queueing and ``gone`` as in :meth:`encode`;
        ``FailedPreconditionError`` when the model has no head (``info.head`` is None)."""
        if self._head is None:
            raise FailedPreconditionError(
                f"model {self._info.name!r} has no sequence-classification head"
            )
        pooled = self.encode(inputs, Pooling.POOLER, normalize=False, truncate=truncate, gone=gone)
        return self._head.classify(pooled.embeddings, pooled.truncated)

    def _check_pooling(self, pooling: Pooling | str) -> Pooling:
        try:
            pooling = Pooling(pooling)
        except ValueError:
            raise InvalidArgumentError(
                f"unknown pooling {pooling!r}; use pooler, cls or mean"
            ) from None
        if pooling is Pooling.POOLER and not self.has_pooler:
            raise InvalidArgumentError(
                f"model {self._info.name!r} has no pooler layer: ask for pooling 'cls' or 'mean'"
            )
        return pooling

    def _tokenize(self, inputs: Sequence[TextInput], truncate: bool) -> list[Tokenized]:
        # No lock: ``tokenize`` never changes the tokenizer, so concurrent callers are safe.
        return tokenize(
            self._tokenizer, inputs, max_length=self._info.max_length, truncate=truncate
        )

    def _tokenize_admitted(
        self, inputs: Sequence[TextInput], truncate: bool, admit: Admit | None
    ) -> tuple[list[Tokenized], list[tuple[str, ...]]]:
        """Tokenize, then let ``admit`` see the tokens (and refuse) before any model work.

        The token strings are made here once and kept for the answer."""
        items = self._tokenize(inputs, truncate)
        strings = token_strings(self._tokenizer, items)
        if admit is not None:
            admit_tokens(items, strings, admit)
        return items, strings


def _truncated(items: Sequence[Tokenized]) -> tuple[int, ...]:
    return tuple(i for i, item in enumerate(items) if item.truncated)

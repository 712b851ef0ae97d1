"""Replicas of the encoder on Ray Serve (``simsearch serve --encoder ray``), behind this front.

:func:`load_ray_encoder` connects to a Ray cluster (or starts a local one for this process, see
``encoder.ray_session``), starts Serve there without any HTTP or gRPC proxy (the simsearch
server stays the only ingress, with its auth, TLS, limits and health) and deploys, or joins,
an application of N replicas of ``encoder.ray_replica.EncoderReplica``. Each replica runs the
ordinary encoder with its own batcher.

The application is named after a hash of everything that makes it (the encoder options, with
paths made absolute, and the deployment's shape): a second front-end with the same settings
joins the running replicas instead of redeploying them (which would restart the first one's);
a front-end with other settings gets an application of its own beside it, and the two never
disturb each other. Applications outlive the front-ends on an existing cluster (others may
still use them): remove an unused one with ``serve.delete(name)``; a local cluster stops with
its process.

:class:`RayEncoder` satisfies the engine's ``Encoder`` protocol. It sends one Serve call per
request batch, never one per text, and before that:

- drops the call when its caller has gone (``simsearch.callers.caller_gone``); while waiting it
  polls the same, and cancels the Serve call when the caller goes (the replica then drops the
  texts before the model); every call also has a time limit, also known to the replica;
- for token calls, runs ``admit`` here, on tokens from the front's own copy of the tokenizer
  (``encoder.ray_admission``): ``admit`` is a closure of the engine and cannot run on a
  replica.

Ray's own failures map to documented codes (``encoder.ray_errors``), never INTERNAL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simsearch.callers import caller_gone
from simsearch.encoder.loading import resolve_model
from simsearch.encoder.options import EncoderOptions
from simsearch.encoder.ray_admission import Admission, Admit, load_admission
from simsearch.encoder.ray_errors import from_ray
from simsearch.encoder.ray_replica import EncoderReplica, ReplicaDescription, Reply
from simsearch.encoder.ray_session import RaySession, attach, detach
from simsearch.errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    SimsearchError,
    UnavailableError,
)
from simsearch.types import (
    Classifications,
    ModelInfo,
    Pooling,
    SentenceEmbeddings,
    TextInput,
    TokenEmbeddings,
)

__all__ = ["DeploymentShape", "RayEncoder", "app_name", "load_ray_encoder"]

logger = logging.getLogger(__name__)

APP_PREFIX = "simsearch-encoder-"
DEPLOYMENT = "encoder"
CALL_TIMEOUT_S = 300.0  # the longest one Serve call may take, whatever the caller allows
STARTUP_TIMEOUT_S = 600.0  # replicas scheduled and loaded, or startup fails saying why
MAX_ONGOING_REQUESTS = 16  # per replica: requests its batcher can merge into shared passes
MAX_QUEUED_REQUESTS = 256  # per front-end, waiting for a replica; more: RESOURCE_EXHAUSTED
# Serve notices a dead replica at its next health check and only then starts another: 2 s, not
# Serve's 10, so a lost replica costs seconds of reduced capacity (a check is one cheap call).
HEALTH_CHECK_PERIOD_S = 2.0
_POLL_S = 0.05  # how often a waiting call looks whether its caller has gone
_STATUS_POLL_S = 0.2


@dataclasses.dataclass(frozen=True)
class DeploymentShape:
    """How the application is deployed: replicas, CPUs each claims (Ray also sets each
    replica's default thread count to it), and Serve's per-replica and queued request caps."""

    replicas: int
    replica_cpus: float
    max_ongoing_requests: int = MAX_ONGOING_REQUESTS
    max_queued_requests: int = MAX_QUEUED_REQUESTS


def load_ray_encoder(
    options: EncoderOptions,
    *,
    address: str,
    replicas: int,
    replica_cpus: float | None = None,
    max_ongoing_requests: int = MAX_ONGOING_REQUESTS,
    max_queued_requests: int = MAX_QUEUED_REQUESTS,
    call_timeout_s: float = CALL_TIMEOUT_S,
    startup_timeout_s: float = STARTUP_TIMEOUT_S,
) -> RayEncoder:
    """Replicas of ``load_encoder(**options.as_kwargs())`` on the Ray cluster at ``address``
    ("" starts a local cluster for this process, stopped by ``close``).

    ``replica_cpus``: CPUs each replica claims from Ray (None: ``options.threads``, at least 1).
    Raises ``UnavailableError`` when the cluster cannot be reached or the replicas do not
    start within ``startup_timeout_s`` (the message says why, e.g. too few free CPUs),
    ``FailedPreconditionError`` when the application of that name runs other options, and
    ``ModelLoadError`` when the front cannot load the model's tokenizer.
    """
    if replicas < 1:
        raise InvalidArgumentError(f"replicas must be at least 1, got {replicas}")
    shape = DeploymentShape(
        replicas,
        float(replica_cpus if replica_cpus is not None else max(1, options.threads)),
        max_ongoing_requests,
        max_queued_requests,
    )
    # Named as the model in this process would be (replicas see the absolute path).
    model_name = resolve_model(options.model).name
    options = portable(options)
    name = app_name(options, shape)
    session = attach(address, cpus=shape.replicas * shape.replica_cpus)
    try:
        handle = _deploy_or_join(name, options, shape, startup_timeout_s)
        description = _describe(handle, name, startup_timeout_s)
        if description.options != options:
            raise FailedPreconditionError(
                f"the Ray Serve application {name!r} runs other encoder options "
                f"({description.options}) than asked ({options}); delete it "
                f"(serve.delete({name!r})) or change the settings"
            )
        info = dataclasses.replace(
            description.info, name=model_name, encoder="ray", replicas=replicas
        )
        admission = load_admission(options, info.max_length)
    except BaseException:
        detach(session)
        raise
    logger.info(
        "encoder on Ray Serve: application %s, %d replicas of %s (%s)",
        name,
        replicas,
        info.name,
        info.fingerprint[:12],
    )
    return RayEncoder(handle, name, info, admission, session, call_timeout_s)


def portable(options: EncoderOptions) -> EncoderOptions:
    """``options`` with local paths made absolute: replicas run in other directories."""

    def absolute(path: Path | None) -> Path | None:
        return None if path is None else path.expanduser().resolve()

    model = Path(options.model).expanduser()
    return dataclasses.replace(
        options,
        model=str(model.resolve()) if model.is_dir() else options.model,
        cache_dir=absolute(options.cache_dir),
        int8_calibration=absolute(options.int8_calibration),
    )


def app_name(options: EncoderOptions, shape: DeploymentShape) -> str:
    """The Serve application's name: a hash of the options and the shape, the same in every
    front-end configured alike."""
    made_of = {"options": options.as_kwargs(), "shape": dataclasses.asdict(shape)}
    digest = hashlib.sha256(json.dumps(made_of, sort_keys=True, default=str).encode())
    return APP_PREFIX + digest.hexdigest()[:16]


class RayEncoder:
    """The encoder's replicas on Ray Serve, as an ``Encoder``. Thread-safe."""

    def __init__(
        self,
        handle: Any,
        name: str,
        info: ModelInfo,
        admission: Admission,
        session: RaySession,
        call_timeout_s: float,
    ) -> None:
        self._handle = handle
        self._name = name
        self._info = info
        self._admission = admission
        self._session = session
        self._timeout_s = call_timeout_s
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"RayEncoder({self._name!r}, replicas={self._info.replicas})"

    @property
    def info(self) -> ModelInfo:
        """The replicas' model info, with ``encoder="ray"`` and the replica count."""
        return self._info

    @property
    def app_name(self) -> str:
        """The Serve application the replicas belong to."""
        return self._name

    def describe_replica(self) -> ReplicaDescription:
        """What one replica (whichever Serve picks) reports: its options, model and pid."""
        self._check_open()
        return _describe(self._handle, self._name, self._timeout_s)

    def encode(
        self,
        inputs: Sequence[TextInput],
        pooling: Pooling,
        *,
        normalize: bool,
        truncate: bool,
    ) -> SentenceEmbeddings:
        result: SentenceEmbeddings = self._call(
            "encode", list(inputs), pooling, normalize, truncate
        )
        return result

    def encode_tokens(
        self, inputs: Sequence[TextInput], *, truncate: bool, admit: Admit | None = None
    ) -> list[TokenEmbeddings]:
        self._admit(inputs, truncate, admit)
        result: list[TokenEmbeddings] = self._call("encode_tokens", list(inputs), truncate)
        return result

    def encode_with_tokens(
        self,
        inputs: Sequence[TextInput],
        pooling: Pooling,
        *,
        truncate: bool,
        admit: Admit | None = None,
    ) -> tuple[SentenceEmbeddings, list[TokenEmbeddings]]:
        self._admit(inputs, truncate, admit)
        result: tuple[SentenceEmbeddings, list[TokenEmbeddings]] = self._call(
            "encode_with_tokens", list(inputs), pooling, truncate
        )
        return result

    def classify(self, inputs: Sequence[TextInput], *, truncate: bool) -> Classifications:
        """The replicas' classification head (their ``info.head``, the same on each)."""
        result: Classifications = self._call("classify", list(inputs), truncate)
        return result

    def close(self) -> None:
        """Leave the replicas running (other front-ends may use them) and release this
        process's Ray connection (a local cluster stops with the last user). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        detach(self._session)

    def _admit(self, inputs: Sequence[TextInput], truncate: bool, admit: Admit | None) -> None:
        self._check_open()
        if admit is not None:
            self._admission.check(inputs, truncate=truncate, admit=admit)

    def _check_open(self) -> None:
        if self._closed:
            raise UnavailableError("the encoder is closed")

    def _call(self, method: str, *args: Any) -> Any:
        """One Serve call of ``method``; the replica's reply, or its error raised here."""
        self._check_open()
        gone = caller_gone.get()
        if gone is not None and gone():
            raise DeadlineExceededError(
                "the caller went away before its texts were sent to the encoder replicas"
            )
        try:
            response = getattr(self._handle, method).remote(*args, self._timeout_s)
            reply: Reply = self._wait(response, gone)
        except SimsearchError:
            raise
        except Exception as exc:  # Ray's own failures; asyncio's CancelledError included
            raise from_ray(exc, replicas=self._name) from exc
        if reply.error is not None:
            raise reply.error
        return reply.value

    def _wait(self, response: Any, gone: Any) -> Reply:
        """The reply, polling ``gone`` meanwhile; a gone caller or the time limit cancels
        the call."""
        expires = time.monotonic() + self._timeout_s
        while True:
            remaining = expires - time.monotonic()
            if remaining <= 0:
                _cancel(response)
                raise DeadlineExceededError(
                    f"the encoder replicas did not answer within {self._timeout_s:g} s"
                )
            try:
                reply: Reply = response.result(timeout_s=min(_POLL_S, remaining))
                return reply
            except TimeoutError:  # ray's GetTimeoutError included: not yet
                if gone is not None and gone():
                    _cancel(response)
                    raise DeadlineExceededError(
                        "the caller went away; its encoder call was cancelled"
                    ) from None


def _cancel(response: Any) -> None:
    """Cancel a Serve call without waiting: ``cancel`` can block until the call is assigned
    to a replica, and the caller's thread must not wait for that."""
    threading.Thread(target=response.cancel, name="simsearch-ray-cancel", daemon=True).start()


def _deploy_or_join(
    name: str, options: EncoderOptions, shape: DeploymentShape, timeout_s: float
) -> Any:
    """A handle to the application ``name``: joined when it runs (or is starting), deployed
    when it is absent or failed; waits until its replicas run."""
    from ray import serve
    from ray.serve.schema import ApplicationStatus

    try:
        serve.start(proxy_location="Disabled")  # handles only: nothing listens but Ray
        current = serve.status().applications.get(name)
        if current is not None and current.status == ApplicationStatus.DELETING:
            _wait_until(name, timeout_s, lambda status: status is None)
            current = None
        if current is None or current.status == ApplicationStatus.DEPLOY_FAILED:
            _deploy(name, options, shape)
        else:
            logger.info("joining the running Ray Serve application %s", name)
        _wait_until(name, timeout_s, lambda status: status == ApplicationStatus.RUNNING)
        return serve.get_app_handle(name)
    except SimsearchError:
        raise
    except Exception as exc:
        raise UnavailableError(
            f"could not start the encoder replicas ({name}) on Ray Serve: {exc}"
        ) from exc


def _deploy(name: str, options: EncoderOptions, shape: DeploymentShape) -> None:
    from ray import serve

    deployment = serve.deployment(
        name=DEPLOYMENT,
        num_replicas=shape.replicas,
        ray_actor_options={"num_cpus": shape.replica_cpus},
        max_ongoing_requests=shape.max_ongoing_requests,
        max_queued_requests=shape.max_queued_requests,
        health_check_period_s=HEALTH_CHECK_PERIOD_S,
    )(EncoderReplica)
    logger.info("deploying %d encoder replicas on Ray Serve as %s", shape.replicas, name)
    serve.run_many(
        [serve.RunTarget(target=deployment.bind(options), name=name, route_prefix=None)],
        wait_for_applications_running=False,
    )


def _wait_until(name: str, timeout_s: float, done: Any) -> None:
    """Poll the application's status until ``done(status or None)``; UnavailableError with
    Serve's message when it fails to deploy or the time runs out."""
    from ray import serve
    from ray.serve.schema import ApplicationStatus

    expires = time.monotonic() + timeout_s
    while True:
        current = serve.status().applications.get(name)
        status = None if current is None else current.status
        if done(status):
            return
        failed = status == ApplicationStatus.DEPLOY_FAILED
        if failed or time.monotonic() >= expires:
            why = (
                "failed to deploy" if failed else f"are {status or 'absent'} after {timeout_s:g} s"
            )
            raise UnavailableError(
                f"the encoder replicas ({name}) {why}: "
                f"{_status_message(current) or 'Serve gave no reason'} (are there enough free "
                "CPUs on the cluster, and simsearch and the model on its nodes?)"
            )
        time.sleep(_STATUS_POLL_S)


def _status_message(current: Any) -> str:
    """The application's message and its deployments', one line each."""
    if current is None:
        return ""
    lines = [str(current.message or "")]
    for deployment in current.deployments.values():
        lines.append(str(getattr(deployment, "message", "") or ""))
    return "; ".join(line.strip() for line in lines if line.strip())[:1500]


def _describe(handle: Any, name: str, timeout_s: float) -> ReplicaDescription:
    try:
        reply: Reply = handle.describe.remote().result(timeout_s=timeout_s)
    except Exception as exc:
        raise from_ray(exc, replicas=name) from exc
    description: ReplicaDescription = reply.value
    return description

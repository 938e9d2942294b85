"""Run a detector's model on a KServe v2 (Open Inference Protocol) server, over REST or gRPC.

The protocol is Triton's, KServe's and Seldon MLServer's. Only the model's run moves: the
detector letterboxes, normalises, decodes and suppresses here exactly as with the local
session, so the same model file served remotely gives the same detections. Tensors travel with
the protocol's binary data extension (a JSON header, then raw little-endian bytes), which
Triton, KServe and MLServer accept; an answer in plain JSON is read too. A ``grpc://`` URL
takes the protocol's gRPC transport instead (kserve_grpc.py, the `grpc` extra).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
import http.client
import json
import logging
from pathlib import Path
import socket
import ssl
import threading
import time
from typing import Any, Final, Protocol
from urllib.parse import quote, unquote, urlsplit

import numpy as np
import numpy.typing as npt

from vigil_core.config import KServeSpec
from vigil_core.errors import VigilError
from vigil_core.redact import redact_url

from .graph import FREE_INPUT
from .registry import ModelSpec
from .session import ModelSession, Tensor

_LOGGER = logging.getLogger(__name__)

HEADER_LENGTH: Final = "Inference-Header-Content-Length"
"""The binary data extension's header: how many leading bytes of the body are JSON."""

_DATATYPES: Final[dict[str, np.dtype[Any]]] = {
    "FP32": np.dtype("<f4"),
    "FP16": np.dtype("<f2"),
    "FP64": np.dtype("<f8"),
    "UINT8": np.dtype("u1"),
    "INT8": np.dtype("i1"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
}


class RemoteInferenceError(VigilError):
    """The inference server could not run a request (away, too slow, or it refused it)."""

    translation_key = "inference_server_unavailable"


class RemoteModelMismatch(RemoteInferenceError):
    """The server's model does not take the input this detector sends."""

    translation_key = "inference_server_model_mismatch"


class BackendState(StrEnum):
    """Where the detector's model runs now."""

    LOCAL = "local"
    """Configured to run locally."""
    REMOTE = "remote"
    """On the inference server."""
    FALLBACK = "fallback"
    """The server is away: on the local session until it is back."""
    UNAVAILABLE = "unavailable"
    """The server is away and no fallback is configured: frames get no detections."""


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """Where the detector runs, since when, and why it is not where it was configured to."""

    backend: str
    """The configured backend: local or kserve."""
    state: BackendState
    reason: str | None = None
    """Why the server is not used (None while it is, or when the backend is local)."""
    translation_key: str | None = None
    since: float | None = None
    """Unix time of the last change of state."""
    url: str | None = None
    model: str | None = None
    remote_images: int = 0
    """Images the server has run."""
    fallback_images: int = 0
    """Images the local session ran in the server's place."""


LOCAL_STATUS: Final = BackendStatus(backend="local", state=BackendState.LOCAL)


@dataclass(frozen=True, slots=True)
class RemoteModel:
    """What the server's model metadata says about its only input and its outputs."""

    input_name: str
    datatype: str
    shape: tuple[int, ...]
    """Declared input dims; -1 marks a variable one."""
    outputs: tuple[str, ...]


# --------------------------------------------------------------------------------- the client


class KServeClient:
    """Speak the KServe v2 REST protocol to one model; every method is safe from many threads.

    Each thread keeps its own keep-alive connection (http.client), so the batcher's workers
    send requests side by side without a connection setup per frame.
    """

    def __init__(self, url: str, model: str, timeout_s: float) -> None:
        """Remember the server; nothing is sent until a method is called."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        self.url = redact_url(url.rstrip("/"))
        """The server's URL for messages: a user and password in it show as ***."""
        self.model = model
        self._auth: dict[str, str] = {}
        if parts.username is not None:
            # A server behind a reverse proxy with basic authentication.
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self._auth = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        self.timeout_s = timeout_s
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._base = parts.path.rstrip("/")
        self._local = threading.local()

    def ready(self) -> None:
        """Raise RemoteInferenceError unless the server and the model say they are ready."""
        self._call("GET", "/v2/health/ready")
        self._call("GET", f"/v2/models/{quote(self.model, safe='')}/ready")

    def metadata(self) -> RemoteModel:
        """Return the model's declared input and outputs."""
        body = self._json(self._call("GET", f"/v2/models/{quote(self.model, safe='')}")[1])
        try:
            inputs = body["inputs"]
            if len(inputs) != 1:
                raise RemoteModelMismatch(
                    f"model '{self.model}' on {self.url} has {len(inputs)} inputs, expected 1"
                )
            declared = inputs[0]
            return RemoteModel(
                input_name=str(declared["name"]),
                datatype=str(declared["datatype"]),
                shape=tuple(int(dim) for dim in declared["shape"]),
                outputs=tuple(str(output["name"]) for output in body.get("outputs", [])),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise RemoteInferenceError(
                f"model '{self.model}' on {self.url} answered unreadable metadata ({err!r})"
            ) from err

    def infer(
        self, input_name: str, tensor: Tensor, outputs: tuple[str, ...]
    ) -> list[npt.NDArray[Any]]:
        """Run the model on one input tensor; return the named outputs in that order."""
        datatype = "UINT8" if tensor.dtype == np.uint8 else "FP32"
        data = np.ascontiguousarray(tensor, dtype=_DATATYPES[datatype]).tobytes()
        header = {
            "inputs": [
                {
                    "name": input_name,
                    "shape": list(tensor.shape),
                    "datatype": datatype,
                    "parameters": {"binary_data_size": len(data)},
                }
            ],
            "outputs": [{"name": name, "parameters": {"binary_data": True}} for name in outputs],
        }
        head = json.dumps(header, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/octet-stream",
            HEADER_LENGTH: str(len(head)),
        }
        path = f"/v2/models/{quote(self.model, safe='')}/infer"
        response_headers, body = self._call("POST", path, head + data, headers)
        return self._outputs(response_headers, body, outputs)

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            if self._https:
                connection = http.client.HTTPSConnection(
                    self._host,
                    self._port,
                    timeout=self.timeout_s,
                    context=ssl.create_default_context(),
                )
            else:
                connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout_s
                )
            self._local.connection = connection
        return connection

    def _call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[http.client.HTTPMessage, bytes]:
        """Send one request on this thread's connection; any failure closes it."""
        connection = self._connection()
        try:
            connection.request(
                method, self._base + path, body=body, headers={**self._auth, **(headers or {})}
            )
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as err:
            self.close()
            reason = "timed out" if isinstance(err, socket.timeout | TimeoutError) else str(err)
            raise RemoteInferenceError(
                f"inference server {self.url} cannot be reached: {reason or type(err).__name__}",
                {"url": self.url},
            ) from err
        if response.status != 200:
            raise RemoteInferenceError(
                f"inference server {self.url} answered {response.status} to {method} {path}: "
                f"{_error_text(payload)}",
                {"url": self.url},
            )
        return response.msg, payload

    def _json(self, payload: bytes) -> Any:
        try:
            return json.loads(payload)
        except ValueError as err:
            raise RemoteInferenceError(
                f"inference server {self.url} answered something other than JSON"
            ) from err

    def _outputs(
        self, headers: http.client.HTTPMessage, body: bytes, names: tuple[str, ...]
    ) -> list[npt.NDArray[Any]]:
        """Read the answer's outputs: binary (after the JSON header) or JSON data."""
        length = headers.get(HEADER_LENGTH)
        split = int(length) if length is not None and length.isdigit() else len(body)
        answer = self._json(body[:split])
        found: dict[str, npt.NDArray[Any]] = {}
        offset = split
        try:
            for output in answer["outputs"]:
                dtype = _DATATYPES[output["datatype"]]
                shape = tuple(int(dim) for dim in output["shape"])
                size = (output.get("parameters") or {}).get("binary_data_size")
                if size is not None:
                    count = int(size) // dtype.itemsize
                    array = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
                    offset += int(size)
                else:
                    array = np.asarray(output["data"], dtype=dtype)
                found[str(output["name"])] = array.reshape(shape)
        except (KeyError, TypeError, ValueError) as err:
            raise RemoteInferenceError(
                f"inference server {self.url} answered an unreadable result ({err!r})"
            ) from err
        missing = [name for name in names if name not in found]
        if missing:
            raise RemoteInferenceError(
                f"inference server {self.url} left out outputs {', '.join(missing)}"
            )
        return [found[name] for name in names]


def _error_text(payload: bytes) -> str:
    text = payload[:300].decode("utf-8", "replace").strip()
    try:
        error = json.loads(payload).get("error")
    except (ValueError, AttributeError):
        return text or "no detail"
    return str(error) if error else text


class InferenceClient(Protocol):
    """One model on a KServe v2 server, over either transport (REST here, gRPC beside)."""

    url: str
    """The server's URL for messages (no credentials)."""
    model: str

    def ready(self) -> None:
        """Raise RemoteInferenceError unless the server and the model are ready."""

    def metadata(self) -> RemoteModel:
        """Return the model's declared input and outputs."""

    def infer(
        self, input_name: str, tensor: Tensor, outputs: tuple[str, ...]
    ) -> list[npt.NDArray[Any]]:
        """Run the model on one input tensor; return the named outputs in that order."""

    def close(self) -> None:
        """Close the connections."""


def kserve_client(url: str, model: str, timeout_s: float) -> InferenceClient:
    """Return the client of a server URL: gRPC for ``grpc(s)://``, REST for ``http(s)://``."""
    if url.startswith(("grpc://", "grpcs://")):
        from .kserve_grpc import KServeGrpcClient  # noqa: PLC0415 - grpcio only when asked for

        return KServeGrpcClient(url, model, timeout_s)
    return KServeClient(url, model, timeout_s)


# ----------------------------------------------------------------- the session the detector uses


class RemoteSession:
    """Stand in for a ModelSession: run on the server, or locally while it is away.

    The detector is built over the verified local session (its checks and warm-up run there)
    and then runs through this object. While the server answers, every tensor goes to it; when
    a request fails `retries + 1` times the server is marked away, one log line says so, and
    frames run on the local session (fallback local) or raise RemoteInferenceError (fallback
    none: the pipeline goes on without detections) until, every
    `retry_after_s`, one request tries the server again.
    """

    def __init__(
        self,
        local: ModelSession,
        spec: KServeSpec,
        *,
        client: InferenceClient | None = None,
    ) -> None:
        """Wrap the local session; contact the server once to read its model's metadata."""
        self.local = local
        self.settings = spec
        self.spec: ModelSpec = local.spec
        self.path: Path = local.path
        self.rewrite: str | None = local.rewrite
        self.output_shapes = local.output_shapes
        self.input_name = local.input_name
        self.output_names = local.output_names
        self.batch_size: int | None = spec.max_batch
        """Images per detector call: the configured request batch."""
        self.client = client or kserve_client(
            spec.url, spec.model or local.spec.name, spec.timeout_s
        )
        self._lock = threading.Lock()
        self._remote_batch: int | None = None
        self._checked = False
        self._probing = False
        self._next_try = 0.0
        self._status = BackendStatus(
            backend="kserve",
            state=BackendState.REMOTE,
            since=time.time(),
            url=self.client.url,
            model=self.client.model,
        )
        try:
            self._connect()
        except RemoteInferenceError as err:
            self._away(err)

    @property
    def status(self) -> BackendStatus:
        """Return where the model runs now."""
        with self._lock:
            return self._status

    def run(self, tensor: Tensor) -> list[npt.NDArray[np.float32]]:
        """Run on the server when it is there, else as the fallback says."""
        if self._should_try():
            try:
                outputs = self._remote(tensor)
            except RemoteInferenceError as err:
                self._away(err)
            else:
                self._back(len(tensor))
                return outputs
        if self.settings.fallback == "none":
            raise RemoteInferenceError(
                f"inference server {self.client.url} is away and detector.kserve.fallback is "
                f"none: {self.status.reason}",
                {"url": self.client.url},
            )
        with self._lock:
            self._status = _counted(self._status, fallback=len(tensor))
        return _in_pieces(self.local.run, tensor, self.local.batch_size)

    def close(self) -> None:
        """Close the calling thread's connection."""
        self.client.close()

    def _should_try(self) -> bool:
        """Return True while the server is used, and for one request every retry_after_s."""
        with self._lock:
            if self._status.state is BackendState.REMOTE and self._checked:
                return True
            now = time.monotonic()
            if self._probing or now < self._next_try:
                return False
            self._probing = True
            self._next_try = now + self.settings.retry_after_s
            return True

    def _remote(self, tensor: Tensor) -> list[npt.NDArray[np.float32]]:
        """Send the tensor (in pieces of the server's batch), retrying failed requests."""
        if not self._checked:
            self._connect()
        attempts = 1 + (self.settings.retries if self._status.state is BackendState.REMOTE else 0)
        for attempt in range(attempts):
            try:
                return _in_pieces(self._infer, tensor, self._remote_batch)
            except RemoteModelMismatch:
                raise
            except RemoteInferenceError:
                if attempt + 1 == attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _infer(self, tensor: Tensor) -> list[npt.NDArray[np.float32]]:
        outputs = self.client.infer(self.input_name, tensor, self.output_names)
        return [np.asarray(output, dtype=np.float32) for output in outputs]

    def _connect(self) -> None:
        """Check the server is ready and its model takes this detector's input."""
        self.client.ready()
        model = self.client.metadata()
        self._remote_batch = self._check(model)
        self._checked = True

    def _check(self, model: RemoteModel) -> int | None:
        """Raise RemoteModelMismatch when the tensors would not fit; return its fixed batch."""
        declared = self.spec.input
        want_type = "UINT8" if declared.dtype == "uint8" else "FP32"

        def mismatch(detail: str) -> RemoteModelMismatch:
            return RemoteModelMismatch(
                f"model '{self.client.model}' on {self.client.url} does not fit detector "
                f"'{self.spec.name}': {detail}",
                {"url": self.client.url, "model": self.client.model},
            )

        if model.datatype != want_type:
            raise mismatch(f"input type {model.datatype}, expected {want_type}")
        if len(model.shape) != len(declared.shape):
            raise mismatch(f"input shape {list(model.shape)}, expected {list(declared.shape)}")
        spatial = (2, 3) if declared.layout == "NCHW" else (1, 2)
        free = self.rewrite == FREE_INPUT
        for index, dim in enumerate(model.shape[1:], start=1):
            want = declared.shape[index]
            if index in spatial and free and dim != -1:
                raise mismatch(
                    f"its input is fixed at {list(model.shape)}; frames run at their own "
                    "aspect need a variable height and width (serve the graph with free "
                    "dims, or set detector.input_fit: square)"
                )
            if dim != -1 and want is not None and dim != want:
                raise mismatch(f"input shape {list(model.shape)}, expected {list(declared.shape)}")
        if model.outputs and len(model.outputs) != len(self.output_names):
            raise mismatch(f"{len(model.outputs)} outputs, expected {len(self.output_names)}")
        batch = model.shape[0]
        return None if batch <= 0 else batch

    def _away(self, err: RemoteInferenceError) -> None:
        """Mark the server away (one log line when the state changes)."""
        state = (
            BackendState.FALLBACK if self.settings.fallback == "local" else BackendState.UNAVAILABLE
        )
        with self._lock:
            self._probing = False
            self._checked = False
            self._next_try = time.monotonic() + self.settings.retry_after_s
            previous = self._status
            changed = previous.state is not state
            self._status = BackendStatus(
                backend="kserve",
                state=state,
                reason=err.message,
                translation_key=err.translation_key,
                since=time.time() if changed else previous.since,
                url=previous.url,
                model=previous.model,
                remote_images=previous.remote_images,
                fallback_images=previous.fallback_images,
            )
        if changed:
            then = (
                "running the detector on the local session"
                if state is BackendState.FALLBACK
                else "frames get no detections"
            )
            _LOGGER.warning(
                "Inference server away (%s); %s until it answers again (tried every %g s)",
                err.message,
                then,
                self.settings.retry_after_s,
            )

    def _back(self, images: int) -> None:
        """Count the images; mark the server in use again (one log line when it was away)."""
        with self._lock:
            self._probing = False
            previous = self._status
            changed = previous.state is not BackendState.REMOTE
            self._status = _counted(
                BackendStatus(
                    backend="kserve",
                    state=BackendState.REMOTE,
                    since=time.time() if changed else previous.since,
                    url=previous.url,
                    model=previous.model,
                    remote_images=previous.remote_images,
                    fallback_images=previous.fallback_images,
                ),
                remote=images,
            )
        if changed:
            _LOGGER.info(
                "Inference server %s answers again: running the detector there (model %s)",
                self.client.url,
                self.client.model,
            )


def _counted(status: BackendStatus, *, remote: int = 0, fallback: int = 0) -> BackendStatus:
    return BackendStatus(
        backend=status.backend,
        state=status.state,
        reason=status.reason,
        translation_key=status.translation_key,
        since=status.since,
        url=status.url,
        model=status.model,
        remote_images=status.remote_images + remote,
        fallback_images=status.fallback_images + fallback,
    )


def _in_pieces(
    run: Callable[[Tensor], list[npt.NDArray[np.float32]]], tensor: Tensor, batch: int | None
) -> list[npt.NDArray[np.float32]]:
    """Run a batch in pieces of a fixed batch size and join each output along the batch."""
    total = int(tensor.shape[0])
    if batch is None or total <= batch:
        return run(tensor)
    pieces = [run(tensor[start : start + batch]) for start in range(0, total, batch)]
    return [np.concatenate(parts) for parts in zip(*pieces, strict=True)]


def backend_status(detector: object) -> BackendStatus:
    """Return where a detector's model runs (local unless it runs through a RemoteSession)."""
    session = getattr(detector, "session", None)
    return session.status if isinstance(session, RemoteSession) else LOCAL_STATUS

"""Speak the KServe v2 (Open Inference Protocol) gRPC transport: `grpc://host:8001` URLs.

The same four calls as the REST client (`kserve.KServeClient`: ready, metadata, infer, close),
over the protocol's `inference.GRPCInferenceService`, which Triton, KServe and MLServer serve.
Tensors travel as `raw_input_contents` / `raw_output_contents` (little-endian bytes), the
protocol's binary form; an answer holding typed `contents` is read too.

The messages are described here, from the protocol's .proto, and built by protobuf's own
runtime (`descriptor_pool` and `message_factory`) rather than from generated code: generated
modules are tied to the protobuf release that generated them, and the engine already gets
protobuf (through onnx) at whatever release Home Assistant or the server's lock picks. gRPC
needs the `grpc` extra: ``pip install vigil-analytics[grpc]`` (grpcio, Apache-2.0).
"""

from __future__ import annotations

from collections.abc import Callable
import importlib
import threading
from typing import Any, Final
from urllib.parse import urlsplit

from google.protobuf import (  # type: ignore[import-untyped]  # no stubs in the lock
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)
import numpy as np
import numpy.typing as npt

from vigil_core.errors import VigilError

from .kserve import _DATATYPES, RemoteInferenceError, RemoteModel, RemoteModelMismatch
from .session import Tensor

SERVICE: Final = "/inference.GRPCInferenceService"
MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
"""A batch of 416×416 float32 frames is 2 MB each; gRPC's default answer limit is 4 MB."""

_CONTENTS: Final = {
    "FP32": "fp32_contents", "FP64": "fp64_contents", "INT64": "int64_contents",
    "INT32": "int_contents", "INT8": "int_contents", "UINT8": "uint_contents",
}  # fmt: skip
"""Where a typed (not raw) answer keeps each datatype's values."""

_F = descriptor_pb2.FieldDescriptorProto
_STRING, _BOOL, _BYTES, _MESSAGE = _F.TYPE_STRING, _F.TYPE_BOOL, _F.TYPE_BYTES, _F.TYPE_MESSAGE
_INT64, _INT32, _UINT32, _FLOAT, _DOUBLE = (
    _F.TYPE_INT64, _F.TYPE_INT32, _F.TYPE_UINT32, _F.TYPE_FLOAT, _F.TYPE_DOUBLE,
)  # fmt: skip
_ONE, _MANY = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

type Field = tuple[str, int, int, int, str | None]
"""name, number, type, label, message type (the .proto's numbers)."""

_MESSAGES: Final[dict[str, list[Field]]] = {
    "ServerReadyRequest": [],
    "ServerReadyResponse": [("ready", 1, _BOOL, _ONE, None)],
    "ModelReadyRequest": [("name", 1, _STRING, _ONE, None), ("version", 2, _STRING, _ONE, None)],
    "ModelReadyResponse": [("ready", 1, _BOOL, _ONE, None)],
    "ModelMetadataRequest": [
        ("name", 1, _STRING, _ONE, None), ("version", 2, _STRING, _ONE, None),
    ],
    "TensorMetadata": [
        ("name", 1, _STRING, _ONE, None), ("datatype", 2, _STRING, _ONE, None),
        ("shape", 3, _INT64, _MANY, None),
    ],
    "ModelMetadataResponse": [
        ("name", 1, _STRING, _ONE, None), ("versions", 2, _STRING, _MANY, None),
        ("platform", 3, _STRING, _ONE, None), ("inputs", 4, _MESSAGE, _MANY, "TensorMetadata"),
        ("outputs", 5, _MESSAGE, _MANY, "TensorMetadata"),
    ],
    "InferTensorContents": [
        ("bool_contents", 1, _BOOL, _MANY, None), ("int_contents", 2, _INT32, _MANY, None),
        ("int64_contents", 3, _INT64, _MANY, None), ("uint_contents", 4, _UINT32, _MANY, None),
        ("fp32_contents", 6, _FLOAT, _MANY, None), ("fp64_contents", 7, _DOUBLE, _MANY, None),
        ("bytes_contents", 8, _BYTES, _MANY, None),
    ],
    "InferInputTensor": [
        ("name", 1, _STRING, _ONE, None), ("datatype", 2, _STRING, _ONE, None),
        ("shape", 3, _INT64, _MANY, None),
    ],
    "InferRequestedOutputTensor": [("name", 1, _STRING, _ONE, None)],
    "ModelInferRequest": [
        ("model_name", 1, _STRING, _ONE, None), ("model_version", 2, _STRING, _ONE, None),
        ("id", 3, _STRING, _ONE, None), ("inputs", 5, _MESSAGE, _MANY, "InferInputTensor"),
        ("outputs", 6, _MESSAGE, _MANY, "InferRequestedOutputTensor"),
        ("raw_input_contents", 7, _BYTES, _MANY, None),
    ],
    "InferOutputTensor": [
        ("name", 1, _STRING, _ONE, None), ("datatype", 2, _STRING, _ONE, None),
        ("shape", 3, _INT64, _MANY, None),
        ("contents", 5, _MESSAGE, _ONE, "InferTensorContents"),
    ],
    "ModelInferResponse": [
        ("model_name", 1, _STRING, _ONE, None), ("model_version", 2, _STRING, _ONE, None),
        ("id", 3, _STRING, _ONE, None), ("outputs", 5, _MESSAGE, _MANY, "InferOutputTensor"),
        ("raw_output_contents", 6, _BYTES, _MANY, None),
    ],
}  # fmt: skip
"""The protocol's messages this client sends or reads (fields it does not use are left out:
protobuf skips unknown fields, and the nested messages are flattened, which the wire format
does not see). Numbers from KServe's grpc_predict_v2.proto, the Open Inference Protocol."""

_PACKAGE: Final = "vigil.kserve.v2"
"""Our descriptors' own package, so they never collide with another copy of the protocol's."""


def _message_classes() -> dict[str, Any]:
    """Build the message classes from the descriptions above."""
    file = descriptor_pb2.FileDescriptorProto(
        name="vigil_kserve_v2.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            added = message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name is not None:
                added.type_name = f".{_PACKAGE}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    described = pool.Add(file)
    return {
        name: message_factory.GetMessageClass(described.message_types_by_name[name])
        for name in _MESSAGES
    }


class GrpcUnavailable(VigilError):
    """The `grpc` extra is not installed."""

    translation_key = "inference_grpc_missing"


def _grpc() -> Any:
    try:
        return importlib.import_module("grpc")
    except ImportError as err:
        raise GrpcUnavailable(
            "detector.kserve.url is a grpc:// URL but grpcio is not installed: "
            "pip install vigil-analytics[grpc], or use the server's http:// URL"
        ) from err


class KServeGrpcClient:
    """Speak the KServe v2 gRPC protocol to one model; safe from many threads (one channel)."""

    def __init__(self, url: str, model: str, timeout_s: float) -> None:
        """Remember the server; the channel opens on the first call."""
        parts = urlsplit(url)
        if parts.scheme not in ("grpc", "grpcs") or not parts.hostname:
            raise ValueError(f"not a grpc(s) URL: {url}")
        if parts.username is not None or parts.path.strip("/"):
            raise ValueError(f"a grpc URL has no user or path: {parts.hostname}")
        self._grpc = _grpc()
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.model = model
        self.timeout_s = timeout_s
        self._target = parts.netloc
        self._tls = parts.scheme == "grpcs"
        self._messages = _message_classes()
        self._lock = threading.Lock()
        self._channel: Any = None
        self._calls: dict[str, Callable[..., Any]] = {}

    def ready(self) -> None:
        """Raise RemoteInferenceError unless the server and the model say they are ready."""
        if not self._call("ServerReady", self._messages["ServerReadyRequest"]()).ready:
            raise RemoteInferenceError(f"inference server {self.url} is not ready")
        request = self._messages["ModelReadyRequest"](name=self.model)
        if not self._call("ModelReady", request).ready:
            raise RemoteInferenceError(f"model '{self.model}' on {self.url} is not ready")

    def metadata(self) -> RemoteModel:
        """Return the model's declared input and outputs."""
        request = self._messages["ModelMetadataRequest"](name=self.model)
        answer = self._call("ModelMetadata", request)
        if len(answer.inputs) != 1:
            raise RemoteModelMismatch(
                f"model '{self.model}' on {self.url} has {len(answer.inputs)} inputs, expected 1"
            )
        declared = answer.inputs[0]
        return RemoteModel(
            input_name=declared.name,
            datatype=declared.datatype,
            shape=tuple(int(dim) for dim in declared.shape),
            outputs=tuple(output.name for output in answer.outputs),
        )

    def infer(
        self, input_name: str, tensor: Tensor, outputs: tuple[str, ...]
    ) -> list[npt.NDArray[Any]]:
        """Run the model on one input tensor; return the named outputs in that order."""
        datatype = "UINT8" if tensor.dtype == np.uint8 else "FP32"
        data = np.ascontiguousarray(tensor, dtype=_DATATYPES[datatype]).tobytes()
        messages = self._messages
        request = messages["ModelInferRequest"](
            model_name=self.model,
            inputs=[
                messages["InferInputTensor"](
                    name=input_name, datatype=datatype, shape=list(tensor.shape)
                )
            ],
            outputs=[messages["InferRequestedOutputTensor"](name=name) for name in outputs],
            raw_input_contents=[data],
        )
        return self._outputs(self._call("ModelInfer", request), outputs)

    def close(self) -> None:
        """Close the channel (the next call opens another)."""
        with self._lock:
            channel, self._channel = self._channel, None
            self._calls = {}
        if channel is not None:
            channel.close()

    def _method(self, name: str) -> Callable[..., Any]:
        with self._lock:
            found = self._calls.get(name)
            if found is not None:
                return found
            if self._channel is None:
                grpc = self._grpc
                options = [
                    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ]
                self._channel = (
                    grpc.secure_channel(self._target, grpc.ssl_channel_credentials(), options)
                    if self._tls
                    else grpc.insecure_channel(self._target, options)
                )
            answer = self._messages[_ANSWERS[name]]
            call: Callable[..., Any] = self._channel.unary_unary(
                f"{SERVICE}/{name}",
                request_serializer=lambda message: message.SerializeToString(),
                response_deserializer=answer.FromString,
            )
            self._calls[name] = call
            return call

    def _call(self, name: str, request: Any) -> Any:
        try:
            return self._method(name)(request, timeout=self.timeout_s)
        except self._grpc.RpcError as err:
            code = err.code() if hasattr(err, "code") else None
            detail = err.details() if hasattr(err, "details") else str(err)
            if code is not None and code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                reason = "timed out" if code.name == "DEADLINE_EXCEEDED" else "unreachable"
                message = f"inference server {self.url} cannot be reached: {reason}"
            else:
                label = code.name if code is not None else "error"
                message = f"inference server {self.url} answered {label} to {name}: {detail}"
            raise RemoteInferenceError(message, {"url": self.url}) from err

    def _outputs(self, answer: Any, names: tuple[str, ...]) -> list[npt.NDArray[Any]]:
        """Read the answer's outputs: raw bytes in order, or typed contents."""
        found: dict[str, npt.NDArray[Any]] = {}
        raw = list(answer.raw_output_contents)
        try:
            for index, output in enumerate(answer.outputs):
                dtype = _DATATYPES[output.datatype]
                shape = tuple(int(dim) for dim in output.shape)
                if raw:
                    array = np.frombuffer(raw[index], dtype=dtype)
                else:
                    values = getattr(output.contents, _CONTENTS[output.datatype])
                    array = np.asarray(values, dtype=dtype)
                found[output.name] = array.reshape(shape)
        except (KeyError, IndexError, ValueError) as err:
            raise RemoteInferenceError(
                f"inference server {self.url} answered an unreadable result ({err!r})"
            ) from err
        missing = [name for name in names if name not in found]
        if missing:
            raise RemoteInferenceError(
                f"inference server {self.url} left out outputs {', '.join(missing)}"
            )
        return [found[name] for name in names]


_ANSWERS: Final = {
    "ServerReady": "ServerReadyResponse",
    "ModelReady": "ModelReadyResponse",
    "ModelMetadata": "ModelMetadataResponse",
    "ModelInfer": "ModelInferResponse",
}

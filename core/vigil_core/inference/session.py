"""Open one onnxruntime session per model file and share it between every camera."""

from __future__ import annotations

from dataclasses import dataclass
import logging
from pathlib import Path
import threading

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]

from vigil_core.config import InferenceSpec
from vigil_core.errors import ModelInvalid

from .graph import DENSE_HEAD, FREE_INPUT, GraphRewriteError, free_input_size, yolov8_dense_head
from .registry import InputSpec, ModelSpec

_LOGGER = logging.getLogger(__name__)

PROVIDERS = ("CPUExecutionProvider",)

type Tensor = npt.NDArray[np.float32] | npt.NDArray[np.uint8]

REWRITES = {DENSE_HEAD: yolov8_dense_head, FREE_INPUT: free_input_size}
"""In-memory graph rewrites a session can be loaded with, by name (see graph.py)."""


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """The onnxruntime settings that make two sessions of the same file differ."""

    intra_op_threads: int = 1
    spinning: bool = False

    @classmethod
    def from_spec(cls, spec: InferenceSpec) -> SessionOptions:
        """Take the thread settings from the engine's inference config."""
        return cls(intra_op_threads=spec.intra_op_threads, spinning=spec.spinning)

    def to_ort(self) -> ort.SessionOptions:
        """Build onnxruntime options: explicit threads, no spinning unless asked, all graph opts."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning threads burn a core while waiting; with several sessions and decoders sharing
        # two cores that made 2 threads slower than 1 (see HARNESS.md).
        spin = "1" if self.spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
        options.log_severity_level = 3
        return options


class ModelSession:
    """A loaded, shape-checked and warmed-up model; run() is safe from many threads at once."""

    def __init__(
        self, spec: ModelSpec, path: Path, options: SessionOptions, rewrite: str | None = None
    ) -> None:
        """Load the file and check it against the registry (ModelInvalid when it does not fit).

        `rewrite` names an in-memory graph rewrite from `REWRITES` applied before loading.
        """
        self.spec = spec
        self.path = path
        self.options = options
        self.rewrite = rewrite
        model: str | bytes = str(path)
        if rewrite is not None:
            try:
                model = REWRITES[rewrite](path.read_bytes())
            except (GraphRewriteError, OSError) as err:
                raise ModelInvalid(
                    f"model '{spec.name}' file {path} cannot be prepared ({rewrite}): {err}",
                    {"model": spec.name, "path": str(path)},
                ) from err
        try:
            self._session = ort.InferenceSession(
                model, sess_options=options.to_ort(), providers=list(PROVIDERS)
            )
        except Exception as err:
            raise ModelInvalid(
                f"model '{spec.name}' file {path} cannot be loaded by onnxruntime: "
                f"{_first_line(err)}",
                {"model": spec.name, "path": str(path)},
            ) from err
        self.batch_size = _check_input(self._session, spec, path)
        """Fixed batch size of the input, or None when it is dynamic."""
        self.input_name = spec.input.name
        outputs = self._session.get_outputs()
        self.output_names = tuple(output.name for output in outputs)
        self.output_shapes: tuple[tuple[int | None, ...], ...] = tuple(
            tuple(dim if isinstance(dim, int) else None for dim in output.shape)
            for output in outputs
        )
        """Declared output shapes; None marks a dynamic dim."""
        self.warmup()

    def run(self, tensor: Tensor) -> list[npt.NDArray[np.float32]]:
        """Run the model on one input tensor and return every output, in model order."""
        outputs = self._session.run(None, {self.input_name: tensor})
        return [np.asarray(output) for output in outputs]

    def warmup(self) -> None:
        """Run once on a blank input.

        The first run allocates buffers and picks kernels; doing it at load time keeps that
        cost out of the first camera frame's latency.
        """
        self.run(blank_input(self.spec.input, self.batch_size or 1))


class SessionCache:
    """One ModelSession per (file, options, rewrite), created on first use and shared afterwards."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[Path, SessionOptions, str | None], ModelSession] = {}
        self._lock = threading.Lock()

    def get(
        self,
        spec: ModelSpec,
        path: Path,
        inference: InferenceSpec | SessionOptions,
        *,
        rewrite: str | None = None,
    ) -> ModelSession:
        """Return the shared session for this file, options and rewrite, loading it once."""
        options = (
            inference
            if isinstance(inference, SessionOptions)
            else SessionOptions.from_spec(inference)
        )
        key = (path.resolve(), options, rewrite)
        # Held while loading: two cameras starting together must not load the same file twice.
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                _LOGGER.debug("loading %s with %s", path, options)
                session = ModelSession(spec, path, options, rewrite)
                self._sessions[key] = session
            return session

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def clear(self) -> None:
        """Forget every session (they are freed when the last detector lets go)."""
        with self._lock:
            self._sessions.clear()


def blank_input(spec: InputSpec, batch: int = 1) -> Tensor:
    """Return a zero tensor of the model's input shape and type."""
    shape = tuple(batch if dim is None else dim for dim in spec.shape)
    shape = (batch, *shape[1:])
    dtype = np.uint8 if spec.dtype == "uint8" else np.float32
    return np.zeros(shape, dtype=dtype)


def _check_input(session: ort.InferenceSession, spec: ModelSpec, path: Path) -> int | None:
    """Compare the model's only input with the registry; return its fixed batch size or None."""
    inputs = session.get_inputs()
    declared = spec.input
    expected_type = f"tensor({'uint8' if declared.dtype == 'uint8' else 'float'})"

    def invalid(detail: str) -> ModelInvalid:
        return ModelInvalid(
            f"model '{spec.name}' file {path} does not match the registry: {detail}",
            {"model": spec.name, "path": str(path)},
        )

    if len(inputs) != 1:
        raise invalid(f"it has {len(inputs)} inputs, expected 1")
    actual = inputs[0]
    if actual.name != declared.name:
        raise invalid(f"input is named '{actual.name}', expected '{declared.name}'")
    if actual.type != expected_type:
        raise invalid(f"input type is {actual.type}, expected {expected_type}")
    dims = list(actual.shape)
    if len(dims) != len(declared.shape) or any(
        isinstance(dim, int) and want is not None and dim != want
        for dim, want in zip(dims, declared.shape, strict=False)
    ):
        raise invalid(f"input shape is {dims}, expected {list(declared.shape)}")
    batch = dims[0]
    return batch if isinstance(batch, int) and batch > 0 else None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__

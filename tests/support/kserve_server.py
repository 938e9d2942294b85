"""A real KServe v2 model server (the `kserve` package's ModelServer) hosting a registry model.

Run as a program it serves one model on 127.0.0.1 with onnxruntime:

    python -m tests.support.kserve_server --port 8080 --model yolox_nano [--models-dir DIR]
        [--input-fit aspect|square] [--grpc-port 8081]

The model file is found and sha256-checked by Vigil's own loader; with `--input-fit aspect` it
is served with its input height and width freed (the same in-memory rewrite the local session
uses), so frames can run at their own aspect. The batch dim is declared variable: a request of
N images runs image by image on the graph (batch 1), as a server's batching would.

`KServeServer` starts that program in a subprocess for a test, waits until the protocol says the
model is ready, and can stop it (SIGTERM or SIGKILL) and start it again on the same port.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time
from types import TracebackType
from typing import Any, Self

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 180.0
"""Importing kserve (FastAPI, pandas, the Kubernetes client) and onnxruntime on a busy machine."""


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class KServeServer:
    """The kserve ModelServer in a subprocess, on 127.0.0.1 and a fixed port."""

    def __init__(
        self,
        model: str = "yolox_nano",
        *,
        input_fit: str = "aspect",
        port: int | None = None,
        log: Path | None = None,
        grpc: bool = False,
    ) -> None:
        """Choose the model and port; nothing runs until start() (`grpc`: serve gRPC too)."""
        self.model = model
        self.input_fit = input_fit
        self.port = port
        """Chosen at the first start (tests may open sockets only inside a test) and kept."""
        self.grpc = grpc
        self.grpc_port: int | None = None
        self.log = log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        if self.port is None:
            raise RuntimeError("the server has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_url(self) -> str:
        """Return the server's gRPC address as Vigil's configuration writes it."""
        if self.grpc_port is None:
            raise RuntimeError("the server has not been started with gRPC")
        return f"grpc://127.0.0.1:{self.grpc_port}"

    @property
    def pid(self) -> int | None:
        """Return the server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> Self:
        """Start the server and wait until the model is ready (RuntimeError if it dies)."""
        if self._process is not None and self._process.poll() is None:
            return self
        if self.port is None:
            self.port = free_port()
        if self.grpc and self.grpc_port is None:
            self.grpc_port = free_port()
        command = [
            sys.executable,
            "-m",
            "tests.support.kserve_server",
            "--port",
            str(self.port),
            "--model",
            self.model,
            "--input-fit",
            self.input_fit,
            *(["--grpc-port", str(self.grpc_port)] if self.grpc_port is not None else []),
        ]
        out = self.log.open("ab") if self.log is not None else subprocess.DEVNULL
        try:
            self._process = subprocess.Popen(
                command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=_child_env()
            )
        finally:
            if self.log is not None and not isinstance(out, int):
                out.close()
        self._wait_ready()
        return self

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGKILL with kill, else SIGTERM then SIGKILL after 15 s)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        path = f"/v2/models/{self.model}/ready"
        while time.monotonic() < deadline:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise RuntimeError(f"the KServe model server exited ({code}); see {self.log}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                try:
                    connection.request("GET", path)
                    if connection.getresponse().status == 200:
                        return
                finally:
                    connection.close()
            time.sleep(0.2)
        self.stop(kill=True)
        raise RuntimeError(f"the KServe model server was not ready in {READY_TIMEOUT_S:.0f} s")


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    # One core's worth of onnxruntime threads: the tests share two cores with the engine.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


# ---------------------------------------------------------------------- the server program


def _serve(
    port: int, model_name: str, input_fit: str, models_dir: str | None, grpc_port: int | None
) -> None:
    """Serve one registry model with onnxruntime until SIGTERM (and gRPC on `grpc_port`)."""
    import kserve  # noqa: PLC0415 - only in the server process
    from kserve import InferOutput, InferRequest, InferResponse  # noqa: PLC0415
    from kserve import model_server as kserve_model_server  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import onnxruntime as ort  # type: ignore[import-untyped]  # noqa: PLC0415

    from vigil_core.inference.graph import free_input_size  # noqa: PLC0415
    from vigil_core.inference.loader import resolve_model  # noqa: PLC0415
    from vigil_core.inference.registry import default_registry  # noqa: PLC0415

    spec = default_registry().get(model_name)
    path = resolve_model(model_name, models_dir=models_dir)
    data = path.read_bytes()
    aspect = input_fit == "aspect" and spec.input.aspect
    if aspect:
        data = free_input_size(data)

    class OnnxModel(kserve.Model):  # type: ignore[misc]
        """Run the verified ONNX graph on each image of a request."""

        def __init__(self) -> None:
            super().__init__(model_name)
            self.session: Any = None

        def load(self) -> bool:
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
            self.ready = True
            return True

        def get_input_types(self) -> list[dict[str, Any]]:
            shape = [-1, 3, -1, -1] if aspect else [-1, *spec.input.shape[1:]]
            datatype = "UINT8" if spec.input.dtype == "uint8" else "FP32"
            return [{"name": spec.input.name, "datatype": datatype, "shape": shape}]

        def get_output_types(self) -> list[dict[str, Any]]:
            return [
                {"name": output.name, "datatype": "FP32", "shape": [-1, -1, -1]}
                for output in self.session.get_outputs()
            ]

        def predict(
            self, payload: InferRequest, headers: dict[str, str] | None = None
        ) -> InferResponse:
            tensor = payload.inputs[0].as_numpy()
            names = [output.name for output in self.session.get_outputs()]
            runs = [
                self.session.run(None, {spec.input.name: tensor[index : index + 1]})
                for index in range(tensor.shape[0])
            ]
            outputs = []
            for number, name in enumerate(names):
                array = np.concatenate([run[number] for run in runs]).astype(np.float32)
                output = InferOutput(name=name, shape=list(array.shape), datatype="FP32")
                output.set_data_from_numpy(array, binary_data=True)
                outputs.append(output)
            return InferResponse(
                response_id=payload.id or "",
                model_name=model_name,
                infer_outputs=outputs,
                use_binary_outputs=payload.use_binary_outputs,
                requested_outputs=payload.request_outputs,
            )

    class LoopbackRESTServer(kserve_model_server.RESTServer):  # type: ignore[misc]
        """kserve's REST server, listening on 127.0.0.1 only (it binds 0.0.0.0 itself)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.config.host = "127.0.0.1"
            self._server.config.host = "127.0.0.1"

    kserve_model_server.RESTServer = LoopbackRESTServer
    _loopback_grpc()
    model = OnnxModel()
    model.load()
    kserve.ModelServer(
        http_port=port,
        grpc_port=grpc_port or 0,
        enable_grpc=grpc_port is not None,
        enable_docs_url=False,
    ).start([model])


def _loopback_grpc() -> None:
    """Make kserve's gRPC server listen on 127.0.0.1 only (it binds [::] itself)."""
    from types import SimpleNamespace  # noqa: PLC0415

    from grpc import aio  # noqa: PLC0415
    from kserve.protocol.grpc import server as grpc_server  # noqa: PLC0415

    def server(*args: Any, **kwargs: Any) -> Any:
        made = aio.server(*args, **kwargs)
        add = made.add_insecure_port
        made.add_insecure_port = lambda address: add(address.replace("[::]", "127.0.0.1"))
        return made

    grpc_server.aio = SimpleNamespace(server=server)


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="yolox_nano")
    parser.add_argument("--input-fit", choices=("aspect", "square"), default="aspect")
    parser.add_argument("--models-dir")
    parser.add_argument("--grpc-port", type=int)
    args = parser.parse_args(argv)
    # kserve's ModelServer reads sys.argv for its own options: leave it only the program name.
    sys.argv = sys.argv[:1]
    _serve(args.port, args.model, args.input_fit, args.models_dir, args.grpc_port)


if __name__ == "__main__":
    main()

"""Where a camera's frames and events come from: its stream, Frigate, its ONVIF service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from vigil_core.redact import StreamAddress
from vigil_core.specs import Spec, secret_text


class SourceSpec(Spec):
    """Where frames come from: a local file or an RTSP / HTTP(S) URL, and its credentials.

    Credentials never stay inside `url`: a URL given with ``user:password@`` (or with secret
    parameters such as Dahua's ``/user=…_password=…``, ``;pwd=…``, ``?u=…&p=…``) is split when
    parsed, into `username`, `password` and `url_secrets`, and `url` keeps ``***`` where a secret
    parameter's value was. The decoder composes the full URL only to open the stream
    (`address`); logs, errors and events show `url`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: Annotated[
        str,
        Field(
            description="A file path, file:// URL, rtsp(s):// or http(s):// URL; credentials in "
            "it are split out into the fields below."
        ),
    ]
    username: Annotated[
        str | None, Field(description="User name the stream asks for (or in the url's user@).")
    ] = None
    password: Annotated[
        SecretStr | None,
        Field(description="Its password; never logged, shown or put in an event."),
    ] = None
    url_secrets: Annotated[
        tuple[SecretStr, ...],
        Field(
            description="Values of the url's secret parameters, one per *** in it, in order "
            "(filled in when a url holding them is parsed)."
        ),
    ] = ()
    transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    read_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    stall_s: Annotated[
        float,
        Field(gt=0, le=120, description="No frame for this long marks a live source stalled."),
    ] = 3.0
    backoff_initial_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    backoff_max_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    realtime: Annotated[
        bool,
        Field(description="Pace file sources at their native speed (live sources always are)."),
    ] = False
    decode_threads: Annotated[
        int,
        Field(
            ge=0,
            le=16,
            description="Decoder threads; 0 picks 1 (two frame threads cost each frame more "
            "CPU, and every camera decodes on its own thread already).",
        ),
    ] = 0

    @model_validator(mode="before")
    @classmethod
    def _split_credentials(cls, data: Any) -> Any:
        """Split the credentials out of a url that holds them (user:password@, parameters)."""
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            return data
        if data.get("url_secrets"):
            return data  # a url split before (a copy of a validated spec): keep it as it is
        address = StreamAddress.parse(
            data["url"],
            username=data.get("username"),
            password=secret_text(data.get("password")),
            strict=True,
        )
        return {
            **data,
            "url": address.url,
            "username": address.username,
            "password": address.password,
            "url_secrets": address.url_secrets,
        }

    @field_validator("url")
    @classmethod
    def _url_ok(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("is empty")
        scheme = value.split("://", 1)[0].lower() if "://" in value else "file"
        if scheme not in {"file", "rtsp", "rtsps", "rtmp", "http", "https"}:
            raise ValueError(
                f"scheme '{scheme}' is not supported (file, rtsp, rtsps, rtmp, http, https)"
            )
        return value

    @model_validator(mode="after")
    def _secrets_match_the_url(self) -> Self:
        self.address  # noqa: B018 - raises ValueError when the masks and the values disagree
        return self

    @property
    def address(self) -> StreamAddress:
        """Return the url and its credentials apart, for the decoder to compose when opening."""
        password = self.password.get_secret_value() if self.password is not None else None
        secrets = tuple(secret.get_secret_value() for secret in self.url_secrets)
        return StreamAddress.of(self.url, self.username, password, secrets)

    @property
    def display_url(self) -> str:
        """Return the url for logs, errors and events (no secret; ***@ for credentials)."""
        return self.address.display

    @property
    def is_file(self) -> bool:
        """Return whether the source is a local file."""
        return "://" not in self.url or self.url.lower().startswith("file://")

    @property
    def path(self) -> Path:
        """Return the local path of a file source."""
        return Path(self.url[7:] if self.url.lower().startswith("file://") else self.url)


class FrigateDetectionSpec(Spec):
    """A camera whose objects Frigate detects: its tracks come from Frigate's MQTT messages."""

    camera: Annotated[str, Field(min_length=1, description="The camera's name in Frigate.")]
    detect_size: Annotated[
        tuple[int, int],
        Field(description="Frigate's detect resolution (width, height): its boxes are in it."),
    ]
    topic_prefix: Annotated[
        str, Field(min_length=1, description="MQTT topic prefix of the Frigate server.")
    ] = "frigate"
    stale_s: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="An object not mentioned this long is dropped (Frigate mentions a live "
            "one every minute).",
        ),
    ] = 90.0
    pixels: Annotated[
        Literal["auto", "always", "never"],
        Field(
            description="Decode the camera's stream too: when a check needs pixels (tamper, "
            "object left, Vigil's plate reading), always, or never."
        ),
    ] = "auto"
    pixel_fps: Annotated[
        float,
        Field(gt=0, le=60, description="Frames per second decoded from the stream: a low rate."),
    ] = 2.0
    plates: Annotated[
        Literal["frigate", "vigil"],
        Field(description="With plate reading on: Frigate's own reads (0.16+) or Vigil's."),
    ] = "frigate"

    @field_validator("detect_size")
    @classmethod
    def _size_ok(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] <= 0 or value[1] <= 0:
            raise ValueError("width and height must be positive")
        return value


class FrigateMqttSpec(Spec):
    """The broker Frigate publishes on, for the standalone engine (Home Assistant uses its own)."""

    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 60


class OnvifSpec(Spec):
    """An ONVIF camera's device service: its own analytics become events (PullPoint or polling)."""

    host: Annotated[str, Field(min_length=1, description="The camera's address.")]
    port: Annotated[int, Field(ge=1, le=65535, description="The ONVIF device service's port.")] = 80
    username: str = ""
    password: Annotated[str, Field(repr=False)] = ""
    events: Annotated[
        bool, Field(description="Follow the camera's own analytics (motion, tamper, lines...).")
    ] = True

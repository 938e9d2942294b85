"""Fuzz every parser of outside input: it reads the input or refuses it with its own error.

Cameras (ONVIF event XML), Frigate (MQTT payloads, /api/config), users (config YAML and dicts,
watchlist patterns) and any string that may hold a URL (redaction) are fed recorded samples
mutated at random places with hostile values (numbers too big for a float, inf, NaN, digits
that are not ASCII, deep or wrong shapes) and plain random input. Whatever comes in, the
parser returns a value or raises its documented error; nothing else escapes.

Case counts come from the profile (tests/conftest.py): quick by default (a few seconds per
parser), 20,000 per test with `--fuzz-long` before a release. `--hypothesis-show-statistics`
prints how many cases each test ran.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import copy
import json
from pathlib import Path
import re
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from lxml import etree
from pydantic import ValidationError
import pytest
import yaml

from tests.support.frigate_api import VERSIONS as API_VERSIONS
from tests.support.frigate_api import load_config
from tests.support.frigate_payloads import VERSIONS as MQTT_VERSIONS
from tests.support.frigate_payloads import load_scenario
from tests.support.onvif_event_service import EVENT_FIXTURES, sample_names
from vigil_core.cli import load_config as load_config_file
from vigil_core.config import EngineConfig, SourceSpec, WatchlistEntry, WatchlistSpec
from vigil_core.errors import ConfigInvalid, FrigateConfigInvalid
from vigil_core.feeds.frigate import frigate_server, zone_polygon
from vigil_core.feeds.frigate_mqtt import FrigateRouter, MalformedPayload, parse_message
from vigil_core.feeds.onvif_messages import MalformedMessage, notification_from_element
from vigil_core.feeds.onvif_states import TopicStates
from vigil_core.feeds.onvif_topics import PARSERS
from vigil_core.plates.watchlist import InvalidPlate, Watchlist, parse_pattern
from vigil_core.redact import MASK, StreamAddress, redact_text, redact_url

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# The long profile runs for many minutes a test: the 5-minute hang guard would cut it off (and
# hypothesis would then report the interrupted case as flaky).
pytestmark = pytest.mark.timeout(0 if settings().max_examples >= 10_000 else 300)

# Hostile values ---------------------------------------------------------------------------

HOSTILE_TEXT = st.sampled_from(
    [
        "1e999", "-1e999", "inf", "-inf", "nan", "NaN", "Infinity", "9" * 400, "-0", "1e-999",
        "²", "٣", "0x10", "1_000", "", " ", "true", "TRUE", "null", "-", "1.5", "-1", "*",
        "***", "a" * 600, "%00", "\u202e", "../../etc/passwd",
    ]
)  # fmt: skip
TEXT = st.one_of(HOSTILE_TEXT, st.text(max_size=16))
NUMBER = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(),  # NaN and infinities included
    st.booleans(),
)
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | NUMBER | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=10,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Yield the path of every value inside nested dicts and lists (the root included)."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _replace(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = root
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return root


@st.composite
def mutated(draw: st.DrawFn, base: Any, values: st.SearchStrategy[Any] = JSON) -> Any:
    """Return a deep copy of `base` with one to three values replaced by hostile ones."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(data))
        # Leaves deep in the sample are where parsers read numbers and lists.
        path = draw(st.sampled_from(paths[1:] or paths))
        data = _replace(data, path, draw(values))
    return data


# ONVIF event XML ----------------------------------------------------------------------------

SAMPLES = {name: (EVENT_FIXTURES / f"{name}.xml").read_text() for name in sample_names()}
PLACEHOLDER = re.compile(r"\$(\w+)")
XML_TEXT = st.one_of(
    HOSTILE_TEXT.filter(lambda text: text.isprintable()),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=16),
)


@st.composite
def onvif_notifications(draw: st.DrawFn) -> etree._Element:
    """Return a recorded notification with hostile values, maybe with its structure changed."""
    name = draw(st.sampled_from(sorted(SAMPLES)))
    text = PLACEHOLDER.sub(lambda _match: escape(draw(XML_TEXT), {'"': "&quot;"}), SAMPLES[name])
    root = etree.fromstring(text.encode())
    elements = list(root.iter())
    for _ in range(draw(st.integers(0, 3))):
        element = draw(st.sampled_from(elements))
        action = draw(st.sampled_from(["attribute", "drop", "text", "tag", "copy"]))
        if action == "attribute" and element.attrib:
            key = draw(st.sampled_from(sorted(element.attrib)))
            element.set(key, draw(XML_TEXT))
        elif action == "drop" and element.getparent() is not None:
            element.getparent().remove(element)
            elements = list(root.iter())
        elif action == "text":
            element.text = draw(XML_TEXT)
        elif action == "tag":
            element.tag = draw(st.sampled_from(["Message", "SimpleItem", "Data", "Topic", "x"]))
        elif action == "copy" and element.getparent() is not None:
            element.getparent().append(copy.deepcopy(element))
            elements = list(root.iter())
    return root


@FUZZ
@given(onvif_notifications())
def test_onvif_event_xml(root: etree._Element) -> None:
    states = TopicStates("cam")
    try:
        message = notification_from_element(root)
        reading = PARSERS.parse(message)
    except MalformedMessage as err:
        assert err.translation_key == "malformed_message"
        return
    if reading is not None:
        states.apply(message, reading)


# Frigate MQTT payloads ----------------------------------------------------------------------

MQTT_MESSAGES = [
    (topic.removeprefix("frigate/"), payload)
    for version in MQTT_VERSIONS
    for topic, payload in load_scenario(version)
]


@st.composite
def frigate_messages(draw: st.DrawFn) -> tuple[str, bytes]:
    topic, base = draw(st.sampled_from(MQTT_MESSAGES))
    kind = draw(st.sampled_from(["mutated", "json", "bytes"]))
    if kind == "mutated" and isinstance(base, dict):
        return topic, json.dumps(draw(mutated(base))).encode()
    if kind == "bytes":
        return topic, draw(st.binary(max_size=200))
    return topic, json.dumps(draw(JSON)).encode()


class _Transport:
    async def subscribe(self, topic: str, on_message: Any) -> Any:
        return lambda: None


ROUTER = FrigateRouter(_Transport(), "frigate")  # type: ignore[arg-type]


@FUZZ
@given(frigate_messages())
def test_frigate_mqtt_payloads(message: tuple[str, bytes]) -> None:
    topic, payload = message
    try:
        parse_message(topic, payload)
    except MalformedPayload as err:
        assert err.translation_key == "malformed_payload"
    ROUTER._on_message(f"frigate/{topic}", payload)  # never raises, whatever it holds


# Frigate /api/config ------------------------------------------------------------------------

API_CONFIGS = [load_config(version) for version in API_VERSIONS]


@st.composite
def frigate_configs(draw: st.DrawFn) -> Any:
    base = draw(st.sampled_from(API_CONFIGS))
    if draw(st.booleans()):
        return draw(mutated(base))
    return {"cameras": draw(st.dictionaries(TEXT, JSON, max_size=3)), **draw(mutated(base))}


@FUZZ
@given(frigate_configs())
def test_frigate_api_config(config: Any) -> None:
    assume(isinstance(config, dict))
    try:
        server = frigate_server("0.16.0", config, host="127.0.0.1", where="http://127.0.0.1:5000")
    except FrigateConfigInvalid as err:
        assert err.translation_key == "frigate_config_invalid"
        return
    for camera in server.cameras:
        for polygon in camera.zones.values():
            assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in polygon)


@FUZZ
@given(st.one_of(TEXT, st.lists(TEXT, max_size=8), JSON), st.one_of(st.none(), NUMBER))
def test_frigate_zone_coordinates(coordinates: Any, width: Any) -> None:
    try:
        polygon = zone_polygon(coordinates, width, width)
    except ValueError:
        return
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in polygon)


# Configuration (dicts and YAML) ------------------------------------------------------------

CONFIG: dict[str, Any] = {
    "detector": {"model": "yolox_nano", "confidence": 0.2},
    "tracker": {"lost_s": 2.0},
    "cameras": [
        {
            "id": "gate",
            "source": {"url": "rtsp://viewer:pw@127.0.0.1:8554/gate", "open_timeout_s": 5},
            "fps": 5,
            "zones": [{"id": "yard", "polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}],
            "rules": [
                {"type": "line_crossing", "id": "door", "line": [[0.5, 0.1], [0.5, 0.9]]},
                {"type": "loitering", "id": "stay", "zone": "yard", "dwell_s": 30},
                {"type": "crowd", "id": "many", "zone": "yard", "max_count": 5},
            ],
            "privacy_masks": [[[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]]],
            "anpr": {"enabled": True, "countries": ["fr"]},
        },
        {"id": "file", "source": "clip.mp4", "tamper": {"enabled": False}},
    ],
    "anpr": {
        "watchlist": {
            "entries": [
                {
                    "id": "van",
                    "plate": "AB-123-CD",
                    "reason": "reported stolen",
                    "expires": "2030-01-01",
                }
            ]
        }
    },
}


@FUZZ
@given(st.one_of(mutated(CONFIG), JSON))
def test_config_dicts(data: Any) -> None:
    try:
        EngineConfig.parse(data)
    except ConfigInvalid as err:
        assert str(err).startswith("invalid config at ")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "vigil.yaml"


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=200),
        mutated(CONFIG).map(lambda data: yaml.safe_dump(data, allow_unicode=True)),
        st.binary(max_size=200).map(lambda data: data.decode("latin-1")),
    ),
    raw_bytes=st.booleans(),
)
def test_config_yaml(config_file: Path, text: str, raw_bytes: bool) -> None:
    if raw_bytes:
        config_file.write_bytes(text.encode("latin-1", errors="replace"))
    else:
        config_file.write_text(text, encoding="utf-8")
    with contextlib.suppress(ConfigInvalid):
        load_config_file(config_file)


# Watchlist patterns -----------------------------------------------------------------------

PLATE_TEXT = st.one_of(
    TEXT,
    st.text(alphabet="AB0189-* ?·.oO", max_size=14),
    st.from_regex(r"[A-Z]{2}-[0-9*?]{1,4}-[A-Z]{2}", fullmatch=True),
)


def _refusal(bad: str) -> str:
    """Return the message parse_pattern refuses a bad pattern with."""
    try:
        parse_pattern(bad)
    except InvalidPlate as err:
        return str(err)
    raise AssertionError(f"{bad!r} was accepted")


PLATE_MESSAGES = frozenset(map(_refusal, ["A!1", "A", "A*1", "A" * 11]))
"""The fixed texts InvalidPlate carries: a bad character, too short, too loose, too long."""
WATCHLIST = Watchlist.from_spec(
    WatchlistSpec.model_validate(
        {
            "entries": [
                {"id": id_, "plate": plate, "reason": "reported stolen", "expires": "2030-01-01"}
                for id_, plate in (("a", "AB-123-CD"), ("b", "EF-*-GH"))
            ]
        }
    )
)


@FUZZ
@given(PLATE_TEXT, PLATE_TEXT, st.one_of(mutated({"id": "van", "plate": "AB-1-CD"}), JSON))
def test_watchlist_patterns(pattern: str, read: str, entry: Any) -> None:
    try:
        canonical = parse_pattern(pattern)
    except InvalidPlate as err:
        # The value is never repeated: the message is one of the fixed texts (a plain
        # `pattern not in message` fails on a pattern that is a piece of the text itself).
        assert str(err) in PLATE_MESSAGES
    else:
        assert re.fullmatch(r"[A-Z0-9*?]+", canonical)
    WATCHLIST.match(read, 0.0)
    with contextlib.suppress(ConfigInvalid):
        WatchlistEntry.parse(entry)


# URLs for redaction -----------------------------------------------------------------------

SECRET = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="*"),
    min_size=4,
    max_size=16,
)
PARAMETER = st.text(
    st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="-.~%!$"),
    min_size=4,
    max_size=12,
)
HOST = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5})?", fullmatch=True),
    st.ip_addresses(v=4).map(str),
)
SECRET_KEY = st.sampled_from(["u", "p", "user", "password", "pwd", "token", "PassWord", "auth"])


@st.composite
def urls_with_secrets(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Return a URL as typed (nothing encoded) and the secrets in it."""
    scheme = draw(st.sampled_from(["rtsp", "rtsps", "http", "https"]))
    port = draw(st.one_of(st.none(), st.integers(1, 65535)))
    host = draw(HOST) + (f":{port}" if port else "")
    secrets: list[str] = []
    userinfo = ""
    form = draw(st.sampled_from(["userinfo", "query", "dahua", "matrix"]))
    if form == "userinfo":
        user, password = draw(PARAMETER), draw(SECRET)
        userinfo, secrets = f"{user}:{password}@", [password]
        path = draw(st.sampled_from(["/", "/stream1", "/cam/realmonitor", ""]))
    elif form == "query":
        values = draw(st.lists(PARAMETER, min_size=1, max_size=3))
        keys = draw(st.lists(SECRET_KEY, min_size=len(values), max_size=len(values)))
        query = "&".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
        path, secrets = f"/live?channel=1&{query}", values
    elif form == "dahua":
        user, password = draw(PARAMETER), draw(PARAMETER)
        path, secrets = f"/user={user}_password={password}_channel=1_stream=0.sdp", [user, password]
    else:
        password = draw(PARAMETER)
        path, secrets = f"/ch0;pwd={password}/main", [password]
    return f"{scheme}://{userinfo}{host}{path}", secrets


def _ambiguous_refusal() -> str:
    """Return the error a url with an ambiguous '@' after host:port is refused with."""
    try:
        SourceSpec(url="rtsp://admin:1234/x@h/s")
    except ValidationError as err:
        return str(err)
    raise AssertionError("user:1234/x@host was accepted")


AMBIGUOUS = _ambiguous_refusal()
assert "'@' after its host and port" in AMBIGUOUS


@FUZZ
@given(urls_with_secrets())
@example(("rtsp://admin:1234/x@h/s", ["1234/x"]))  # refused: a port, or a password with '/'?
def test_no_secret_survives_redaction(case: tuple[str, list[str]]) -> None:
    url, secrets = case
    shown = redact_url(url)
    in_text = redact_text(f"Server returned 401: '{url}' (retrying)")
    try:
        spec = SourceSpec(url=url)
    except ValidationError as err:
        # Only an ambiguous one (user:1234/x@host: a port, or a password?) is refused.
        # The same text for every url refused so (nothing of the url is repeated).
        assert str(err) == AMBIGUOUS
        return
    held = [spec.password, *spec.url_secrets]
    described = " ".join([spec.url, *(repr(secret) for secret in held if secret is not None)])
    for secret in secrets:
        assume(url.count(secret) == 1 and secret not in MASK)
        assert secret not in shown
        assert secret not in in_text
        assert secret not in spec.url
        assert secret not in spec.display_url
        assert secret not in described


@FUZZ
@given(urls_with_secrets())
def test_split_credentials_compose_back(case: tuple[str, list[str]]) -> None:
    """What the decoder opens is the typed URL (userinfo percent-encoded), parsed the same."""
    url, _secrets = case
    try:
        address = SourceSpec(url=url).address
    except ValidationError:
        assume(False)  # an ambiguous URL, refused (see the test above)
        return
    again = StreamAddress.parse(address.authenticated())
    assert again == address


@FUZZ
@given(st.text(max_size=80))
def test_any_text_redacts_without_error(text: str) -> None:
    redact_text(text)
    shown = redact_url(text)
    assert redact_url(shown) == shown or MASK in shown

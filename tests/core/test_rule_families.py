"""Each rule family is one module: its spec, its rule, its detector kind, registered once."""

from __future__ import annotations

import typing

from pydantic import ValidationError
import pytest

from vigil_core import health
from vigil_core.anpr import stage as anpr_stage
from vigil_core.config import CameraSpec
from vigil_core.privacy.purposes import PURPOSES
from vigil_core.rules import RuleSpec
from vigil_core.rules.base import RuleSpecBase
from vigil_core.rules.registry import registered_spec_types
from vigil_core.specs import RESERVED_RULE_IDS


def _union_members() -> set[type]:
    annotated = RuleSpec.__value__
    (union, *_) = typing.get_args(annotated)
    return set(typing.get_args(union))


def test_the_config_union_and_the_registry_name_the_same_families() -> None:
    members = _union_members()
    assert members == set(registered_spec_types())
    for spec in members:
        # The spec lives in the module of the rule built from it.
        assert spec.__module__.startswith("vigil_core.rules."), spec
        assert issubclass(spec, RuleSpecBase)


def test_every_family_declares_a_detector_the_privacy_table_knows() -> None:
    for spec in _union_members():
        assert spec.detector_kind in PURPOSES, spec


BOTH = ["left", "removed"]


def test_a_rule_restricted_to_part_of_its_detectors_keeps_only_that_part() -> None:
    camera = CameraSpec.model_validate(
        {
            "id": "hall",
            "source": "file:///clip.mp4",
            "zones": [{"id": "door", "polygon": [[0, 0], [1, 0], [1, 1]]}],
            "rules": [
                {
                    "id": "bags",
                    "type": "object_left",
                    "zone": "door",
                    "detect": ["left", "removed"],
                },
                {"id": "crowd", "type": "crowd", "zone": "door", "movement": {}},
                {"id": "line", "type": "line_crossing", "line": [[0, 0.5], [1, 0.5]]},
            ],
        }
    )
    bags, crowd, line = camera.rules
    left_only = bags.restricted_to([bags.detector_kinds()[0]])
    assert left_only is not None and left_only.detect == ["left"]
    assert bags.restricted_to([]) is None
    levels_only = crowd.restricted_to([crowd.detector_kind])
    assert levels_only is not None and levels_only.movement is None
    assert crowd.restricted_to(crowd.detector_kinds()) is crowd
    assert line.restricted_to([line.detector_kind]) is line
    assert [rule.zone_refs() for rule in camera.rules] == [["door"], ["door"], []]
    assert not any(rule.needs_calibration() for rule in camera.rules)
    assert [rule.needs_pixels for rule in camera.rules] == [True, False, False]


@pytest.mark.parametrize("taken", ["tamper", "anpr"])
def test_a_zone_or_rule_may_not_take_an_id_the_engines_detectors_use(taken: str) -> None:
    assert {health.RULE_ID, anpr_stage.RULE_ID} == RESERVED_RULE_IDS.keys()
    zone = {"id": taken, "polygon": [[0, 0], [1, 0], [1, 1]]}
    line = {"id": taken, "type": "line_crossing", "line": [[0, 0.5], [1, 0.5]]}
    for camera in ({"zones": [zone]}, {"rules": [line]}):
        with pytest.raises(ValidationError, match=f"the id '{taken}' is reserved"):
            CameraSpec.model_validate({"id": "hall", "source": "file:///clip.mp4", **camera})

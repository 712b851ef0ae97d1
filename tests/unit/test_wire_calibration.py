"""Calibrations on the wire: round trips, unset fields, unknown kinds."""

from __future__ import annotations

import pytest

from simsearch.errors import InvalidArgumentError
from simsearch.types import (
    Calibration,
    CalibrationKind,
    CalibrationState,
    CollectionInfo,
    CollectionSpec,
    Pooling,
)
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire.calibration import (
    calibration_from_wire,
    calibration_state_from_wire,
    calibration_state_to_wire,
    calibration_to_wire,
)
from simsearch.wire.info import collection_from_wire, collection_to_wire


@pytest.mark.parametrize(
    "calibration",
    [
        Calibration(),
        Calibration(CalibrationKind.CENTER),
        Calibration(CalibrationKind.WHITEN, 128),
    ],
)
def test_calibration_round_trip(calibration: Calibration) -> None:
    assert calibration_from_wire(calibration_to_wire(calibration)) == calibration


def test_unset_is_none_and_unknown_is_invalid() -> None:
    assert calibration_from_wire(pb.Calibration()) == Calibration()
    with pytest.raises(InvalidArgumentError, match="unknown calibration kind 9"):
        calibration_from_wire(pb.Calibration(kind=9))  # type: ignore[arg-type]
    # A newer server's kind in a description reads as none rather than failing the client.
    state = pb.CalibrationState(calibration=pb.Calibration(kind=9))  # type: ignore[arg-type]
    assert calibration_state_from_wire(state).calibration.kind == CalibrationKind.NONE


def test_collection_info_carries_the_fit() -> None:
    calibration = Calibration(CalibrationKind.WHITEN, 64)
    spec = CollectionSpec("c", Pooling.CLS, "flat", 384, "m", "f", calibration=calibration)
    state = CalibrationState(calibration, 1000, True, 1_700_000_000.5, 1234)
    info = CollectionInfo(spec, 1234, 1.0, calibration=state)
    assert collection_from_wire(collection_to_wire(info)) == info
    assert calibration_state_from_wire(calibration_state_to_wire(state)) == state
    # An older server sends no calibration: none, not fitted.
    older = collection_to_wire(info)
    older.ClearField("calibration")
    decoded = collection_from_wire(older)
    assert decoded.calibration == CalibrationState()
    assert decoded.spec.calibration == Calibration()

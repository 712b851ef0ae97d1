"""Vector calibrations on the wire: the kind, the dimensions kept, and a collection's fit."""

from __future__ import annotations

from simsearch.errors import InvalidArgumentError
from simsearch.types import Calibration, CalibrationKind, CalibrationState
from simsearch.v1 import simsearch_pb2 as pb

__all__ = [
    "calibration_from_wire",
    "calibration_state_from_wire",
    "calibration_state_to_wire",
    "calibration_to_wire",
]

_KINDS: dict[CalibrationKind, pb.CalibrationKind.ValueType] = {
    CalibrationKind.NONE: pb.CALIBRATION_KIND_NONE,
    CalibrationKind.CENTER: pb.CALIBRATION_KIND_CENTER,
    CalibrationKind.WHITEN: pb.CALIBRATION_KIND_WHITEN,
}
_FROM_KIND: dict[int, CalibrationKind] = {
    pb.CALIBRATION_KIND_UNSPECIFIED: CalibrationKind.NONE,
    **{wire: kind for kind, wire in _KINDS.items()},
}


def calibration_to_wire(calibration: Calibration) -> pb.Calibration:
    return pb.Calibration(kind=_KINDS[calibration.kind], dimensions=calibration.dimensions)


def calibration_from_wire(message: pb.Calibration) -> Calibration:
    """The calibration a message names (unset: none); InvalidArgumentError for an unknown
    kind (the range of ``dimensions`` is the engine's check)."""
    kind = _FROM_KIND.get(message.kind)
    if kind is None:
        raise InvalidArgumentError(
            f"unknown calibration kind {message.kind}: use CALIBRATION_KIND_NONE, "
            "CALIBRATION_KIND_CENTER or CALIBRATION_KIND_WHITEN"
        )
    return Calibration(kind, message.dimensions)


def calibration_state_to_wire(state: CalibrationState) -> pb.CalibrationState:
    return pb.CalibrationState(
        calibration=calibration_to_wire(state.calibration),
        fit_threshold=state.fit_threshold,
        fitted=state.fitted,
        fitted_at=state.fitted_at,
        fitted_on=state.fitted_on,
    )


def calibration_state_from_wire(message: pb.CalibrationState) -> CalibrationState:
    """An older server's unset field reads as none, not fitted; a kind unknown here as none."""
    calibration = Calibration(
        _FROM_KIND.get(message.calibration.kind, CalibrationKind.NONE),
        message.calibration.dimensions,
    )
    return CalibrationState(
        calibration=calibration,
        fit_threshold=message.fit_threshold,
        fitted=message.fitted,
        fitted_at=message.fitted_at,
        fitted_on=message.fitted_on,
    )

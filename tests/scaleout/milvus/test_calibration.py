"""Milvus collections have no calibration: creating one with a calibration is refused with
the reason, and a plain one reports calibration none and calibrates vectors as themselves."""

from __future__ import annotations

import numpy as np
import pytest

from scaleout.milvus.helpers import make_spec, unique_name
from simsearch.errors import FailedPreconditionError
from simsearch.index.milvus import MilvusCatalog
from simsearch.types import Calibration, CalibrationKind, CalibrationState


@pytest.mark.parametrize("kind", [CalibrationKind.CENTER, CalibrationKind.WHITEN])
def test_a_calibration_is_refused_with_the_reason(lite_uri: str, kind: CalibrationKind) -> None:
    catalog = MilvusCatalog(lite_uri)
    try:
        with pytest.raises(FailedPreconditionError, match="not available on Milvus"):
            catalog.create(make_spec(unique_name("calibrated"), calibration=Calibration(kind)))
        assert catalog.names() == []
    finally:
        catalog.close()


def test_a_milvus_collection_is_calibration_none(lite_uri: str) -> None:
    catalog = MilvusCatalog(lite_uri)
    try:
        collection = catalog.create(make_spec(unique_name("plain")))
        assert collection.calibration_state() == CalibrationState()
        vectors = np.eye(2, 8, dtype=np.float32)
        np.testing.assert_array_equal(collection.calibrated(vectors), vectors)
        with pytest.raises(FailedPreconditionError, match="nothing to fit"):
            collection.calibrate()
    finally:
        catalog.close()

"""Request timestamps become naive UTC, whatever mix of offsets the client sends."""

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from service.service import utc_index

AEST, AEDT = timezone(timedelta(hours=10)), timezone(timedelta(hours=11))


@pytest.mark.parametrize("ds", [
    [datetime(2024, 1, 1, 0, 0), datetime(2024, 1, 1, 0, 30)],  # naive: taken as UTC
    [datetime(2024, 1, 1, 10, tzinfo=AEST), datetime(2024, 1, 1, 11, tzinfo=AEST)],
    [datetime(2024, 4, 7, 2, tzinfo=AEDT), datetime(2024, 4, 7, 2, tzinfo=AEST)],  # DST end
    [datetime(2024, 1, 1, 0, 0), datetime(2024, 1, 1, 11, 30, tzinfo=AEST)],  # mixed
])
def test_same_instants_as_to_datetime_utc(ds):
    got = utc_index(ds)
    assert got.tz is None
    expected = pd.to_datetime(ds, utc=True).tz_localize(None)
    assert list(got.as_unit("ns").asi8) == list(expected.as_unit("ns").asi8)

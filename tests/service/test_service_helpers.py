"""Request timestamps become naive UTC; the frozen heap still lets a replaced model go."""

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


def test_freeze_heap_still_frees_a_replaced_model_in_a_cycle():
    import gc
    import weakref

    from service.service import freeze_heap

    class Model:
        pass

    old = Model()
    old.self_reference = old  # only the cycle collector can free it
    alive = weakref.ref(old)
    freeze_heap()  # as at start-up: the old model is now out of the collector's reach
    assert gc.get_freeze_count() > 0
    del old
    gc.collect()
    assert alive() is not None  # frozen: a plain collection does not see it
    freeze_heap()  # as after a reload
    assert alive() is None
    gc.unfreeze()

"""Tables the study saves and loads again keep their figures to the last bit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.tables import read_saved_table


def test_a_saved_table_reads_back_to_the_same_floats_and_the_same_file(tmp_path):
    values = np.random.default_rng(0).random(2000) * 1000  # pandas' fast parser misses some
    path = tmp_path / "table.csv"
    pd.DataFrame({"seconds": values}).to_csv(path, index=False)
    table = read_saved_table(path)
    np.testing.assert_array_equal(table["seconds"].to_numpy(), values)
    again = tmp_path / "again.csv"
    table.to_csv(again, index=False)
    assert again.read_text() == path.read_text()

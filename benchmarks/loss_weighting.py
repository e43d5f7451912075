"""How a panel's series share the training loss (`model.loss_weighting`): the same family
trained with `equal` (every series alike, in its own scaled units) and `scale` (each in
proportion to its training spread: the loss in the data's units), scored on the peer
benchmark's test windows (benchmarks/setting_ab.py does the work).

Single-series sets (vic_elec) are left out: with one series every weight is 1 and the two
settings train the same model (a test holds that).

Run: .venv/bin/python benchmarks/loss_weighting.py [--sets tourism air_quality robust ...]
     [--models lstm gru transformer] [--seeds 0 1 2] [--output loss_weighting]
Prints one line per set, family and weighting as it goes; writes
benchmarks/results/OUTPUT.json and .md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from setting_ab import main, parser  # noqa: E402

PANEL_SETS = ["tourism", "air_quality", "robust", "pedestrian", "panel"]

if __name__ == "__main__":
    main(parser(__doc__, PANEL_SETS, "model.loss_weighting", ("equal", "scale"),
                "loss_weighting").parse_args())

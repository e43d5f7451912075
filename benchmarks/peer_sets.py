"""The data sets of the peer benchmark: four real ones and the ones made from them in code.

Every set is a long frame (unique_id, ds, y, covariates) plus the task: lookback, horizon,
season, and the sizes of the validation and test parts at the end of every series. Test
origins are one horizon apart from the first test step, so each set's test part is
`test_size / horizon` non-overlapping windows per series, the same for every library.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from datasets import pedestrian_frame

from forecast.data.loading import load_vic_elec

HOURS_PER_WEEK = 168


@dataclass(frozen=True)
class BenchSet:
    name: str
    frame: pd.DataFrame
    freq: str
    lookback: int
    horizon: int
    season: int
    val_size: int
    test_size: int
    why: str
    past_covariates: list[str] = field(default_factory=list)
    future_covariates: list[str] = field(default_factory=list)
    calendar: list[str] = field(default_factory=lambda: ["hour", "dayofweek", "dayofyear"])
    seasons: tuple[int, ...] = ()  # the cycles statistical models decompose; () = (season,)

    @property
    def cycles(self) -> tuple[int, ...]:
        return self.seasons or (self.season,)

    @property
    def n_series(self) -> int:
        return self.frame["unique_id"].nunique()

    def shrunk(self, train_units: int = 4, max_series: int = 10) -> BenchSet:
        """The quick preset's copy: one unit (a season, or a horizon when that is longer:
        a week of the hourly sets) of validation, one of test, `train_units` of training
        before them (plus a lookback), at most `max_series` series (the first by id), so
        every library's plumbing runs in minutes."""
        unit = max(self.season, self.horizon)
        keep = (train_units + 2) * unit + self.lookback
        first = sorted(self.frame["unique_id"].unique())[:max_series]
        frame = self.frame[self.frame["unique_id"].isin(first)]
        frame = frame.groupby("unique_id").tail(keep).reset_index(drop=True)
        return dataclasses.replace(self, frame=frame, val_size=unit, test_size=unit)

    def ending_earlier(self, steps: int) -> BenchSet:
        """The same set with the last `steps` of every series dropped: its test origins move
        by that many steps against anything anchored at the series' start (a file that ends a
        month earlier), the task unchanged."""
        if steps <= 0:
            return self
        from_end = self.frame.groupby("unique_id").cumcount(ascending=False)
        return dataclasses.replace(self, name=f"{self.name}, {steps} step(s) earlier",
                                   frame=self.frame[from_end >= steps].reset_index(drop=True))

    def train_windows(self) -> int:
        """Training windows one step apart, summed over series (sizes the window step)."""
        lengths = self.frame.groupby("unique_id").size().to_numpy()
        return int(np.maximum(lengths - self.val_size - self.test_size - self.lookback
                              - self.horizon + 1, 0).sum())

    def before_test(self) -> pd.DataFrame:
        """Every series without its test part: what a peer trains on."""
        from_end = self.frame.groupby("unique_id").cumcount(ascending=False)
        return self.frame[from_end >= self.test_size].reset_index(drop=True)

    def truth(self) -> pd.DataFrame:
        return self.frame.groupby("unique_id").tail(self.test_size)[["unique_id", "ds", "y"]]


def vic_elec_set() -> BenchSet:
    return BenchSet(
        "vic_elec", load_vic_elec(), "30min", 336, 48, 336, 2688, 2688,
        "the default task: one week of half-hours in, one day out, the last 8 weeks as test",
        past_covariates=["Temperature"], future_covariates=["Holiday"], seasons=(48, 336))


def pedestrian_set() -> BenchSet:
    return BenchSet(
        "pedestrian", pedestrian_frame(), "h", HOURS_PER_WEEK, 24, HOURS_PER_WEEK, 1344, 1344,
        "hourly counts of the sensors with half a year or more after their last long outage; "
        "one week in (the weekly cycle of foot traffic), one day out, the last 8 weeks of 2016 "
        "as test, as on vic_elec; no covariates (the data set has none)", seasons=(24, 168))


def tourism_set() -> BenchSet:
    """Quarterly overnight trips in Australia, 1998-2017 (fpp3 `tourism`): 304 series (region
    x state x purpose of travel) of 80 quarters each, a panel of short series with a yearly
    cycle, trends and small counts, the kind where statistical models usually win (the
    Tourism forecasting competition). The task the `own data` defaults give quarterly data:
    16 quarters in, 8 out; the last 8 quarters as test (one window per series), the 8 before
    as validation."""
    from importlib import resources

    raw = pd.read_csv(resources.files("tsdata") / "fpp3" / "tourism.csv")
    frame = pd.DataFrame({
        "unique_id": raw["Region"] + " / " + raw["State"] + " / " + raw["Purpose"],
        "ds": pd.PeriodIndex(raw["Quarter"].str.replace(" ", ""), freq="Q").to_timestamp(),
        "y": raw["Trips"].astype(float)}).sort_values(["unique_id", "ds"])
    return BenchSet("tourism", frame.reset_index(drop=True), "QS", 16, 8, 4, 8, 8,
                    inspect_doc(tourism_set), calendar=["month"])


def air_quality_set() -> BenchSet:
    """Daily PM2.5, PM10 and NO2 in Warsaw, 2014 to May 2025 (fpp3 `warsaw_air_quality`): 3
    series of about 4,150 days, noisy, with a yearly cycle and a weak weekly one; missing days
    (about 4%, outages of up to a week) are interpolated. The `own data` defaults for daily
    data: 56 days in, 14 out, season 7; the last 16 weeks as test (8 windows per series), the
    16 weeks before as validation. No covariates: the other pollutants are series of their
    own."""
    from importlib import resources

    raw = pd.read_csv(resources.files("tsdata") / "fpp3" / "warsaw_air_quality.csv",
                      skipinitialspace=True)
    raw.columns = [c.strip() for c in raw.columns]
    raw["date"] = pd.to_datetime(raw["date"], format="%m/%d/%y")
    raw = raw.sort_values("date").set_index("date")
    grid = pd.date_range(raw.index.min(), raw.index.max(), freq="D")
    parts = []
    for pollutant in ("pm25", "pm10", "no2"):
        y = pd.to_numeric(raw[pollutant], errors="coerce").reindex(grid)
        y = y.interpolate(limit_direction="both")
        parts.append(pd.DataFrame({"unique_id": pollutant, "ds": grid, "y": y.to_numpy()}))
    return BenchSet("air_quality", pd.concat(parts, ignore_index=True), "D", 56, 14, 7, 112,
                    112, inspect_doc(air_quality_set), calendar=["dayofweek", "dayofyear"])


def own_defaults_set(name: str, frame: pd.DataFrame, why: str) -> BenchSet:
    """A file as a new user hands it over, at the task `forecast train --data` resolves for
    it (no setting given); series too short for that task are left out, as training does."""
    from forecast.data.defaults import DataProfile, resolve_task
    from forecast.data.validation import validate_frame

    clean, freq = validate_frame(frame)
    task = resolve_task({}, DataProfile.of(clean, freq))
    lengths = clean.groupby("unique_id")["y"].transform("size")
    return BenchSet(name, clean[lengths >= task.needed()].reset_index(drop=True), freq,
                    task.lookback, task.horizon, task.season, task.val_size, task.test_size,
                    why, calendar=list(task.calendar))


def fpp3(name: str) -> pd.DataFrame:
    from importlib import resources

    return pd.read_csv(resources.files("tsdata") / "fpp3" / f"{name}.csv")


def retail_set() -> BenchSet:
    """Monthly turnover of Australian retail industries by state, 1982-2018 (fpp3
    `aus_retail`): 152 series of up to 441 months, trends, yearly cycles and level shifts.
    Chosen after the defaults were settled and never tuned on (as are `prison`, `livestock`
    and `gasoline`): how the defaults do on files nobody tuned them for."""
    raw = fpp3("aus_retail")
    return own_defaults_set("retail", pd.DataFrame(
        {"unique_id": raw["Series ID"], "ds": raw["Month"], "y": raw["Turnover"]}),
        inspect_doc(retail_set))


def prison_set() -> BenchSet:
    """Quarterly prisoner counts in Australia by state, gender, legal status and indigenous
    status, 2005-2016 (fpp3 `prison`): 64 series of 48 quarters, short, with small counts."""
    raw = fpp3("prison")
    uid = raw["State"] + " / " + raw["Gender"] + " / " + raw["Legal"] + " / " + raw["Indigenous"]
    return own_defaults_set("prison", pd.DataFrame(
        {"unique_id": uid, "ds": raw["Quarter"], "y": raw["Count"].astype(float)}),
        inspect_doc(prison_set))


def livestock_set() -> BenchSet:
    """Monthly livestock slaughtered in Australia by animal and state, 1976-2018 (fpp3
    `aus_livestock`): 54 series of up to 558 months, some of them mostly zeros."""
    raw = fpp3("aus_livestock")
    return own_defaults_set("livestock", pd.DataFrame(
        {"unique_id": raw["Animal"] + " / " + raw["State"], "ds": raw["Month"],
         "y": raw["Count"].astype(float)}), inspect_doc(livestock_set))


def gasoline_set() -> BenchSet:
    """Weekly US finished motor gasoline supplied, 1991-2017 (fpp3 `us_gasoline`): one
    series of 1,355 weeks, a trend and a yearly cycle of 52.18 weeks."""
    raw = fpp3("us_gasoline")
    return own_defaults_set("gasoline", pd.DataFrame(
        {"unique_id": "us", "ds": raw["Week"], "y": raw["Barrels"]}), inspect_doc(gasoline_set))


def hourly_base(weeks: int) -> pd.DataFrame:
    """vic_elec averaged to hours beside the pedestrian sensors: the raw material of the
    made-up sets, each series cut to its last `weeks` weeks, no covariates."""
    vic = load_vic_elec().set_index("ds")["y"].resample("h").mean()
    vic_frame = pd.DataFrame({"unique_id": "vic_elec", "ds": vic.index, "y": vic.to_numpy()})
    frame = pd.concat([vic_frame, pedestrian_frame()], ignore_index=True)
    return frame.groupby("unique_id").tail(weeks * HOURS_PER_WEEK).reset_index(drop=True)


def hourly_set(name: str, frame: pd.DataFrame, why: str, weeks_val: int = 4,
               weeks_test: int = 4) -> BenchSet:
    return BenchSet(name, frame, "h", HOURS_PER_WEEK, 24, HOURS_PER_WEEK,
                    weeks_val * HOURS_PER_WEEK, weeks_test * HOURS_PER_WEEK, why)


def new_regime(frame: pd.DataFrame, weeks_from_end: int, draw) -> pd.DataFrame:
    """Each series' last `weeks_from_end` weeks moved to a new level and spread:
    y -> max(m + k * (y - m) + d * s, 0) (m, s: the series' mean and standard deviation),
    with (k, d) = draw(i), series i in id order."""
    parts = []
    for i, (_, g) in enumerate(frame.groupby("unique_id", sort=True)):
        y = g["y"].to_numpy().copy()
        m, s = y.mean(), y.std()
        k, d = draw(i)
        cut = len(y) - weeks_from_end * HOURS_PER_WEEK
        y[cut:] = np.maximum(m + k * (y[cut:] - m) + d * s, 0.0)
        parts.append(g.assign(y=y))
    return pd.concat(parts, ignore_index=True)


def shifted_set(weeks: int = 26, seed: int = 0) -> BenchSet:
    """After the training part, each series moves to a new level and spread:
    y -> m + k * (y - m) + d * s from the first validation step on (m, s: the series' mean and
    standard deviation; k in [1.5, 2.5] or [0.4, 0.7], d in [-1.5, 1.5])."""
    rng = np.random.default_rng(seed)

    def draw(i: int) -> tuple[float, float]:
        k = rng.uniform(1.5, 2.5) if i % 2 == 0 else rng.uniform(0.4, 0.7)
        return k, rng.uniform(-1.5, 1.5)

    frame = new_regime(hourly_base(weeks), 8, draw)  # validation (4 weeks) and test (4 weeks)
    return hourly_set("shifted", frame, inspect_doc(shifted_set))


def late_shift_set(weeks: int = 26, seed: int = 0, weeks_shifted: int = 4) -> BenchSet:
    """After validation, in the test part only, each series grows more volatile and rises:
    y -> m + k * (y - m) + d * s in the last `weeks_shifted` weeks (k in [1.5, 2.5], d in
    [0, 1]): a shift no calibration measured on the validation part has seen."""
    rng = np.random.default_rng(seed)
    frame = new_regime(hourly_base(weeks), weeks_shifted,
                       lambda i: (rng.uniform(1.5, 2.5), rng.uniform(0.0, 1.0)))
    return hourly_set("late_shift", frame, inspect_doc(late_shift_set))


def mixed_scales_set(weeks: int = 26) -> BenchSet:
    """The same hourly series in one panel, multiplied by 10^k with k spread evenly over
    [-2, 3]: one model must serve series five orders of magnitude apart."""
    return hourly_set("mixed_scales", scaled_apart(hourly_base(weeks)),
                      inspect_doc(mixed_scales_set))


def scaled_apart(frame: pd.DataFrame) -> pd.DataFrame:
    """Series i of n multiplied by 10^(-2 + 5 i / (n - 1)), in id order."""
    ids = sorted(frame["unique_id"].unique())
    factor = {uid: 10.0 ** (-2 + 5 * i / max(len(ids) - 1, 1)) for i, uid in enumerate(ids)}
    return frame.assign(y=frame["y"] * frame["unique_id"].map(factor))


def robust_set(weeks: int = 26) -> BenchSet:
    """Both robustness conditions in one panel: the `shifted` series (a new level and spread
    from the first validation step on), each multiplied by 10^k as in `mixed_scales`."""
    return hourly_set("robust", scaled_apart(shifted_set(weeks).frame), inspect_doc(robust_set))


def panel_set(n_series: int = 100, weeks: int = 26, seed: int = 1) -> BenchSet:
    """`n_series` series made from the hourly ones: series i copies base series i mod n,
    shifted in phase by 0-167 hours, scaled by 10^u (u uniform in [-1, 2]) and given 5%
    multiplicative noise; every series covers the same `weeks` weeks."""
    base, rng = hourly_base(weeks + 1), np.random.default_rng(seed)
    groups = [g["y"].to_numpy() for _, g in base.groupby("unique_id", sort=True)]
    length = weeks * HOURS_PER_WEEK
    ds = pd.date_range(base["ds"].max() - pd.Timedelta(hours=length - 1), periods=length,
                       freq="h")
    parts = []
    for i in range(n_series):
        y = groups[i % len(groups)]
        phase = int(rng.integers(0, HOURS_PER_WEEK))
        values = y[len(y) - length - phase: len(y) - phase]
        values = values * 10.0 ** rng.uniform(-1, 2) * rng.lognormal(0, 0.05, length)
        parts.append(pd.DataFrame({"unique_id": f"s{i:03d}", "ds": ds, "y": values}))
    return hourly_set("panel", pd.concat(parts, ignore_index=True), inspect_doc(panel_set))


def inspect_doc(function) -> str:
    return " ".join((function.__doc__ or "").split())


SETS = {"vic_elec": vic_elec_set, "pedestrian": pedestrian_set, "robust": robust_set,
        "panel": panel_set, "shifted": shifted_set, "mixed_scales": mixed_scales_set,
        "late_shift": late_shift_set, "tourism": tourism_set, "air_quality": air_quality_set,
        "retail": retail_set, "prison": prison_set, "livestock": livestock_set,
        "gasoline": gasoline_set}
# shifted, mixed_scales, late_shift and the sets never tuned on (retail, ...): on demand
DEFAULT_SETS = ["vic_elec", "pedestrian", "robust", "panel", "tourism", "air_quality"]


@functools.cache
def load_set(name: str, preset: str) -> BenchSet:
    """The set as `preset` uses it, built once per process (the run and its report share it)."""
    if name == "late_shift" and preset == "quick":  # the quick test part is one week
        return late_shift_set(weeks_shifted=1).shrunk()
    bench = SETS[name]()
    return bench.shrunk() if preset == "quick" else bench

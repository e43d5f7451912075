from __future__ import annotations

import pytest

from forecast import ConfigError, Forecaster, build_config, load_config
from forecast.data.defaults import TASK_KEYS
from forecast.data.loading import VIC_ELEC_PATCH_LEN, VIC_ELEC_PRESET


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"trainer\.max_epoch: unknown key.*'max_epochs'"):
        build_config({"trainer": {"max_epoch": 3}})


def test_unknown_model_lists_choices():
    with pytest.raises(ConfigError, match="model.name.*'lstm'.*'transformer'"):
        Forecaster("rnn")


def test_unknown_model_in_compare_list():
    with pytest.raises(ConfigError, match=r"unknown model\(s\) \['prophet'\]"):
        build_config({"models": ["lstm", "prophet"]})


def test_heads_must_divide_width():
    with pytest.raises(ConfigError, match="divisible by n_heads"):
        build_config({"model": {"transformer": {"d_model": 10, "n_heads": 4}}})


def test_overrides_parse_yaml_scalars(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trainer: {max_epochs: 5}\n")
    config = load_config(path, ["trainer.max_epochs=2", "data.calendar=[hour]",
                                "model.quantiles=[0.9, 0.5, 0.1]"])
    assert config.trainer.max_epochs == 2
    assert config.data.calendar == ["hour"]
    assert config.model.quantiles == [0.1, 0.5, 0.9]


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text", ["", "# tuned later\n"])
def test_a_config_file_without_settings_is_refused_not_read_as_the_defaults(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"c\.yaml holds no settings"):
        load_config(path)


def test_presets_leave_the_task_to_the_data():
    for name in ("default", "quick"):
        config = load_config(f"pipelines/configs/{name}.yaml")
        assert all(getattr(config.data, key) is None for key in TASK_KEYS)
        assert config.model.transformer.patch_len is None and config.backtest.step is None


def test_the_vic_elec_preset_file_writes_out_the_librarys_preset():
    config = load_config("pipelines/configs/vic_elec.yaml")
    assert {k: getattr(config.data, k) for k in VIC_ELEC_PRESET} == VIC_ELEC_PRESET
    assert config.model.transformer.patch_len == VIC_ELEC_PATCH_LEN

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sa_munit.config import ConfigError, ExperimentConfig, config_from_dict, load_config

from .conftest import MODEL_EXPORT_DIR


@pytest.mark.parametrize("name", ["sa_munit_reference.yaml", "munit_baseline.yaml", "random_tiny.yaml"])
def test_committed_configs_load(name: str) -> None:
    cfg = load_config(MODEL_EXPORT_DIR / "configs" / name)
    assert cfg.image_size % cfg.size_multiple == 0


def test_reference_config_file_is_the_default() -> None:
    assert load_config(MODEL_EXPORT_DIR / "configs" / "sa_munit_reference.yaml") == ExperimentConfig()


@pytest.mark.parametrize(
    "raw,field",
    [
        ({"gen": {"dim": 0}}, "gen.dim"),
        ({"gen": {"dim": -4}}, "gen.dim"),
        ({"gen": {"style_dim": 0}}, "gen.style_dim"),
        ({"gen": {"mlp_dim": -1}}, "gen.mlp_dim"),
        ({"gen": {"n_downsample": -1}}, "gen.n_downsample"),
        ({"dis": {"num_scales": 0}}, "dis.num_scales"),
        ({"image_size": 0}, "image_size"),
        ({"image_size": 250}, "image_size"),  # not a multiple of 4
        ({"image_size": 32}, "image_size"),  # too small for 4 layers x 3 scales
        ({"gen": {"dimm": 64}}, "gen.dimm"),
        ({"unknown": 1}, "unknown"),
        ({"gen": {"activ": "gelu"}}, "gen.activ"),
        ({"gen": {"dim": "64"}}, "gen.dim"),
        ({"gen": {"dim": True}}, "gen.dim"),
        ({"attention": {"enabled": "yes"}}, "attention.enabled"),
        ({"dis": {"spectral_norm": 1}}, "dis.spectral_norm"),
        ({"gen": [1, 2]}, "gen"),
        ({"domains": {"a": "cats", "b": "cats"}}, "domains"),
        ({"domains": {"a": "Cats!"}}, "domains.a"),
        ({"name": "Bad Name"}, "name"),
    ],
)
def test_impossible_values_name_the_field(raw: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, "test.yaml")
    assert f"{field}:" in str(info.value)
    assert "test.yaml" in str(info.value)


def test_every_problem_is_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"gen": {"dim": 0, "style_dim": 0}, "typo": 1})
    message = str(info.value)
    assert "gen.dim" in message and "gen.style_dim" in message and "typo" in message


def test_pooled_decoder_attention_doubles_the_size_multiple() -> None:
    pooled = config_from_dict({"attention": {"pool_key_value": True}})
    assert ExperimentConfig().size_multiple == 4
    assert pooled.size_multiple == 8
    assert config_from_dict({"attention": {"enabled": False, "pool_key_value": True}}).size_multiple == 4


def test_unreadable_and_invalid_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file .*missing.yaml"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("gen: [unclosed")
    with pytest.raises(ConfigError, match="broken.yaml is not valid YAML"):
        load_config(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text(yaml.safe_dump(3))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(scalar)

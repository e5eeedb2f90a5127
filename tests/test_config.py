"""Errors of benchmark.config: every bad key is named with its full dotted path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
import yaml

from benchmark.config import ConfigError, flatten, from_dict, load_section, read_params
from benchmark.data.params import DataParams

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Inner:
    size: int
    rate: float
    names: list[str]


@dataclass
class Outer:
    mode: Literal["a", "b"]
    path: str | None
    inner: Inner

    def validate(self) -> None:
        if self.inner.size < 0:
            raise ConfigError(f"'x.inner.size' must be >= 0, got {self.inner.size}")


GOOD = {"mode": "a", "path": None, "inner": {"size": 3, "rate": 1, "names": ["p", "q"]}}


def _with(**changes) -> dict:
    data = {**GOOD, "inner": dict(GOOD["inner"])}
    for key, value in changes.items():
        node = data
        *parents, last = key.split("__")
        for parent in parents:
            node = node[parent]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return data


def test_good_section_loads_with_coercion():
    outer = from_dict(Outer, GOOD, "x")
    assert outer.inner.rate == 1.0 and isinstance(outer.inner.rate, float)
    assert outer.inner.names == ["p", "q"] and outer.path is None


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (_with(extra=1), "x.extra"),
        (_with(inner__extra=1), "x.inner.extra"),
        (_with(inner__size=KeyError), "x.inner.size"),
        (_with(mode=KeyError), "x.mode"),
        (_with(inner__size="3"), "x.inner.size"),
        (_with(inner__size=True), "x.inner.size"),
        (_with(inner__size=2.5), "x.inner.size"),
        (_with(inner__rate="fast"), "x.inner.rate"),
        (_with(inner__names=["p", 3]), "x.inner.names[1]"),
        (_with(inner__names="p"), "x.inner.names"),
        (_with(mode="c"), "x.mode"),
        (_with(path=5), "x.path"),
        (_with(inner=[1]), "x.inner"),
        (_with(inner__size=-1), "x.inner.size"),
    ],
)
def test_errors_name_the_key(data, named):
    with pytest.raises(ConfigError) as info:
        from_dict(Outer, data, "x")
    assert f"'{named}'" in str(info.value)


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match="valid keys: names, rate, size"):
        from_dict(Outer, _with(inner__sise=1), "x")


def test_load_section_nested_and_missing(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"models": {"m1": GOOD}}))
    assert load_section("models.m1", Outer, path).mode == "a"
    with pytest.raises(ConfigError, match="missing section 'models.m2'"):
        load_section("models.m2", Outer, path)
    with pytest.raises(ConfigError, match="params file not found"):
        read_params(tmp_path / "nope.yaml")
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        read_params(path)


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


def test_repo_data_section_loads():
    params = load_section("data", DataParams, REPO / "params.yaml")
    assert params.source in ("synthetic", "dcase2020", "local")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"synthetic": {"ids_per_type": 0}}, "data.synthetic.ids_per_type"),
        ({"synthetic": {"ids_per_type": 7}}, "data.synthetic.ids_per_type"),
        ({"synthetic": {"test_anomaly_per_id": 0}}, "data.synthetic.test_anomaly_per_id"),
        ({"clip_samples": 0}, "data.clip_samples"),
        ({"machine_types": ["fan", "drill"]}, "data.machine_types[1]"),
        ({"machine_types": []}, "data.machine_types"),
        ({"source": "local"}, "data.local.path"),
        ({"source": "zenodo"}, "data.source"),
        ({"dcase2020": {"base_url": "ftp://x"}}, "data.dcase2020.base_url"),
        ({"dcase2020": {"retries": -1}}, "data.dcase2020.retries"),
        ({"dcase2020": {"max_compression_ratio": 0.5}}, "data.dcase2020.max_compression_ratio"),
        ({"synthetic": {"seed": "0"}}, "data.synthetic.seed"),
    ],
)
def test_data_params_validation_names_the_key(data_params, overrides, named):
    with pytest.raises(ConfigError) as info:
        data_params(**overrides)
    assert f"'{named}'" in str(info.value)


def test_ids_per_type_limit_depends_on_selected_types(data_params):
    params = data_params(machine_types=["fan", "pump"], synthetic={"ids_per_type": 7})
    assert params.synthetic.ids_per_type == 7
    assert data_params(machine_types=["pump", "fan"]).selected_types() == ("fan", "pump")

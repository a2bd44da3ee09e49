"""Platform settings from TOML, mappings and keywords; bad ones are refused clearly."""

from __future__ import annotations

import pytest

from qlambda.core.errors import ConfigurationError
from qlambda.platform import Function, PlatformConfig
from qlambda.platform.units import parse_megabytes, parse_seconds


def test_a_toml_file_configures_platform_and_backends(tmp_path):
    path = tmp_path / "qlambda.toml"
    path.write_text(
        "[platform]\nworkers = 1\npolicy = 'weighted'\nc_max = 10\n\n"
        "[[backend]]\nname = 'one'\nkind = 'aer'\nnum_qubits = 12\n"
    )
    config = PlatformConfig.build(path, seed=5)
    assert (config.workers, config.policy, config.c_max, config.seed) == (1, "weighted", 10, 5)
    assert [(b.name, b.num_qubits) for b in config.resolved_backends()] == [("one", 12)]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"platform": {"wrokers": 2}}, r"unknown platform setting\(s\) \['wrokers'\]"),
        ({"platfrom": {}}, r"unknown configuration section\(s\) \['platfrom'\]"),
        ({"platform": {"policy": "sjf"}}, "unknown scheduling policy 'sjf'; accepted: fifo"),
        ({"platform": {"q_max": 0}}, "q_max must be a positive integer"),
        ({"backend": [{"name": "x", "kind": "ion"}]}, "ion"),
    ],
)
def test_bad_settings_are_refused_with_what_is_accepted(source, message):
    with pytest.raises(ConfigurationError, match=message):
        PlatformConfig.build(source)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        PlatformConfig.build(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[platform\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        PlatformConfig.build(broken)


def test_units():
    assert parse_seconds("5m") == 300
    assert parse_seconds(2) == 2
    assert parse_megabytes("2GB") == 2048
    with pytest.raises(ValueError, match="cannot read timeout 'soon'"):
        parse_seconds("soon")
    with pytest.raises(ValueError, match="must be positive"):
        parse_megabytes(0)


def test_functions_validate_their_declaration():
    with pytest.raises(ValueError, match="exactly one of"):
        Function("f")
    with pytest.raises(ValueError, match=r"'path/to/file\.py:function_name'"):
        Function("f", entrypoint="script")
    with pytest.raises(ValueError, match="cpus must be a positive integer"):
        Function("f", callable=print, cpus=0)
    assert Function("f", callable=print, timeout="1m").timeout_s == 60

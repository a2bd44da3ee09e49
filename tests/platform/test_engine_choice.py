"""Choosing an engine: pilot descriptions and platform settings reject what cannot work."""

from __future__ import annotations

import pytest

from qlambda.core.errors import ConfigurationError
from qlambda.pilot import PilotDescription
from qlambda.platform import PlatformConfig


def test_a_pilot_description_names_a_known_engine_and_a_sensible_address():
    assert PilotDescription(engine="ray", address="auto").address == "auto"
    assert PilotDescription(engine="dask", cores=2).cores == 2
    with pytest.raises(ConfigurationError, match="unknown engine 'spark'; available: local, ray"):
        PilotDescription(engine="spark")
    with pytest.raises(ConfigurationError, match="needs engine='ray' or engine='dask'"):
        PilotDescription(engine="local", address="auto")
    with pytest.raises(ConfigurationError, match="uses the cluster's cores: leave cores unset"):
        PilotDescription(engine="ray", address="auto", cores=4)


def test_platform_settings_take_an_engine_and_its_address():
    config = PlatformConfig.build({"platform": {"engine": "ray", "engine_address": "auto"}})
    assert (config.engine, config.engine_address) == ("ray", "auto")
    assert PlatformConfig().engine == "local"
    with pytest.raises(
        ConfigurationError, match="unknown engine 'yarn'; accepted: local, ray, dask"
    ):
        PlatformConfig(engine="yarn")
    with pytest.raises(ConfigurationError, match="needs engine 'ray' or 'dask'"):
        PlatformConfig(engine_address="auto")

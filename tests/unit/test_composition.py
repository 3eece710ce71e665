"""The composition root builds the service from settings; any port can be replaced by name."""

from __future__ import annotations

import pytest

from exports.composition import build_service
from shared.settings import Settings
from tests.unit.conftest import World


def test_the_unit_world_is_built_by_the_composition_root_with_in_memory_ports(world: World) -> None:
    assert world.service.jobs is world.jobs and world.service.work is world.queue


def test_a_port_with_a_wrong_name_is_refused() -> None:
    settings = Settings(storage_connection_string="UseDevelopmentStorage=true")
    with pytest.raises(TypeError, match="no port named job_store"):
        build_service(settings, job_store=object())

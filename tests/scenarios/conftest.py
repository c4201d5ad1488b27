import pytest

from fusion.sim import simulate


@pytest.fixture(scope="session")
def sim_recording(tmp_path_factory):
    """simulate(scenario, seed) -> folder, cached for the session."""
    cache = {}

    def make(scenario: str, seed: int, duration_s: float | None = None):
        key = (scenario, seed, duration_s)
        if key not in cache:
            out = tmp_path_factory.mktemp(f"{scenario}-{seed}")
            simulate(scenario, seed, out, duration_s=duration_s)
            cache[key] = out
        return cache[key]
    return make

import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

from omasgan.ops import available_backends

BACKENDS = available_backends("cpu")

# The real datasets (MNIST, ...) in torchvision's layout, for the tests that read them: $OMASGAN_DATA,
# else the data folder that CI lays beside the checkout (../shared/data). Tests that need a dataset
# missing from it skip; the package itself never looks there.
DATA_ROOT = Path(os.environ.get("OMASGAN_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")

# The fixtures here are stateless (a backend name, a seed), so sharing them across examples is safe.
# `make test` draws the same examples every run (derandomize): a build is red because of a change,
# never because of a draw. HYPOTHESIS_PROFILE=explore draws new ones each run, to hunt for bugs.
_COMMON = dict(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
settings.register_profile("omasgan", derandomize=True, **_COMMON)
settings.register_profile("explore", **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "omasgan"))


def pytest_report_header(config):
    return f"omasgan backends on cpu: {', '.join(BACKENDS)}"


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def required_backends():
    """$OMASGAN_REQUIRE_BACKENDS (comma list, set by `make test`): a missing build fails loudly."""
    return [b for b in os.environ.get("OMASGAN_REQUIRE_BACKENDS", "").split(",") if b]

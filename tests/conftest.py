import sys
from pathlib import Path

# Test helpers (fdm_reference, plan_invariants) are imported as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))

import pytest


@pytest.fixture(scope="module")
def one_thread():
    """The models in tests are tiny: with a second busy process on the machine, torch's
    intra-op threads spin against it and a 0.1 s run takes 20 s. One thread is fastest
    there. Modules that run models use it with ``pytestmark = usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

import pytest


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    """Each test builds its own Accelerator (with its own precision): reset accelerate's process-wide state."""
    yield
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)

"""Options for the mutation fuzzer: a short run in `make test`, a long one in `make fuzz`."""
import pytest

# Mutated inputs per seed file. The short run keeps tests/fuzz to well under a minute on
# two cores; `make fuzz` (pytest tests/fuzz --fuzz-long) runs far more, with other seeds.
SHORT_CASES = 40
LONG_CASES = 1500


def pytest_addoption(parser):
    group = parser.getgroup("goleak fuzz")
    group.addoption("--fuzz-long", action="store_true", default=False,
                    help="run the mutation fuzzer long (thousands of inputs per seed file)")
    group.addoption("--fuzz-cases", type=int, default=None,
                    help="mutated inputs per seed file (overrides --fuzz-long)")
    group.addoption("--fuzz-seed", type=int, default=0,
                    help="random seed for the mutations (the short CI run always uses 0)")


def _option(config, name, default):
    try:
        return config.getoption(name)
    except ValueError:  # this conftest was loaded after option parsing (pytest tests)
        return default


@pytest.fixture(scope="session")
def fuzz_cases(pytestconfig) -> int:
    cases = _option(pytestconfig, "--fuzz-cases", None)
    if cases:
        return cases
    return LONG_CASES if _option(pytestconfig, "--fuzz-long", False) else SHORT_CASES


@pytest.fixture(scope="session")
def fuzz_seed(pytestconfig) -> int:
    return _option(pytestconfig, "--fuzz-seed", 0)

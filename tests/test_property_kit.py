"""The property tests' kinds of bad input, over all areas (issue 16: >= 150); each
area's registry lives beside its module's tests (see ``_property_kit``)."""
import importlib.util
import pathlib
import sys

TESTS = pathlib.Path(__file__).resolve().parent
AREAS = {"optim": "test_optim_properties", "schedules": "test_schedules_properties",
         "layers": "test_layers_properties", "models": "test_models_properties",
         "losses": "test_losses_properties", "data": "test_data_properties",
         "train": "test_train_properties", "text": "test_text_properties"}


def _area(name):
    """The test module ``name`` (a unique basename under tests/), as pytest imports it."""
    if name not in sys.modules:
        path, = TESTS.rglob(f"{name}.py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_kinds_count():
    """The kinds of bad input the property tests cover, over all areas (issue 16: >= 150)."""
    areas = {area: _area(name).BAD_KINDS for area, name in AREAS.items()}
    total = sum(len(v) for v in areas.values())
    print(f"kinds of bad input: {total} ("
          + ", ".join(f"{k} {len(v)}" for k, v in areas.items()) + ")")
    assert len(set().union(*map(set, areas.values()))) == total   # no kind counted twice
    assert total >= 150

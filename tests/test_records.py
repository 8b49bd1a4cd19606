"""@frozen builds exactly what dataclasses' own __init__ builds, for every class that uses it."""
import dataclasses

import pytest

from goleak import compare, model, summary
from goleak.records import frozen
from goleak.report import compare_view, view

CLASSES = [c for m in (model, view, compare_view, compare, summary) for c in vars(m).values()
           if isinstance(c, type) and c.__module__ == m.__name__ and hasattr(c, "__dataclass_init__")]


def sample_arguments(cls) -> dict:
    """A distinct, non-default value per init field (types do not matter to __init__)."""
    return {f.name: ("value-%d" % i if f.type in (str, "str") else i + 1)
            for i, f in enumerate(dataclasses.fields(cls)) if f.init and f.name not in ("frames", "created_by")}


def build_with_dataclass_init(cls, **kw):
    obj = object.__new__(cls)
    cls.__dataclass_init__(obj, **kw)
    return obj


def test_the_hot_classes_use_it():
    names = {c.__name__ for c in CLASSES}
    assert {"Frame", "Stack", "StackGroup", "Cluster", "LabelCount", "FrameView", "ClusterView",
            "ComparedCluster", "ComparedClusterView"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_same_fields_as_dataclass_init(cls):
    kw = sample_arguments(cls)
    if cls is model.Stack:
        kw = {"frames": (model.Frame("main.f", "/a.go", 3),), "created_by": model.Frame("main.main", "/a.go", 9)}
    required = [f.name for f in dataclasses.fields(cls)
                if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    for name in required:
        kw.setdefault(name, ())
    ours = cls(**kw)
    theirs = build_with_dataclass_init(cls, **kw)
    assert vars(ours) == vars(theirs)
    assert ours == theirs
    # Defaults too: only the required fields given.
    only = {k: kw[k] for k in required}
    assert vars(cls(**only)) == vars(build_with_dataclass_init(cls, **only))


def test_still_frozen_and_hashable():
    f = model.Frame("main.f", "/a.go", 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.line = 4
    assert hash(f) == hash(model.Frame("main.f", "/a.go", 3))
    assert dataclasses.replace(f, line=4) == model.Frame("main.f", "/a.go", 4)


def test_defaults_factories_and_post_init():
    @frozen
    class Thing:
        a: int
        b: list = dataclasses.field(default_factory=list)
        c: str = "c"
        d: int = dataclasses.field(default=0, init=False)

        def __post_init__(self):
            object.__setattr__(self, "d", self.a * 2)

    assert vars(Thing(4)) == {"a": 4, "b": [], "c": "c", "d": 8}
    assert vars(Thing(1, [2], "x")) == {"a": 1, "b": [2], "c": "x", "d": 2}
    assert Thing(1).b is not Thing(2).b  # a new default per instance

"""Names, roll-ups and option validation of the scan results (no weights needed)."""

import pytest

from lorascope.errors import InputError
from lorascope.pipelines.scan import ScanOptions
from lorascope.results import layer_of, module_type_of


@pytest.mark.parametrize("name, layer, module", [
    ("model.layers.3.self_attn.q_proj.weight", 3, "self_attn.q_proj"),
    ("encoder.layer.11.attention.output.dense.weight", 11, "attention.output.dense"),
    ("bert.encoder.layer.0.output.dense.weight", 0, "output.dense"),
    ("transformer.h.2.attn.c_attn.weight", 2, "attn.c_attn"),
    ("lm_head.weight", None, "lm_head"),
])
def test_layer_and_module_type(name, layer, module):
    assert layer_of(name) == layer
    assert module_type_of(name) == module


@pytest.mark.parametrize("kwargs, needle", [
    ({"k": 0}, "k must be"),
    ({"epsilon": 0.0}, "epsilon must be in (0, 1]"),
    ({"epsilon": 1.5}, "epsilon must be in (0, 1]"),
    ({"epsilons": (0.5, 2.0)}, "epsilons must be in (0, 1]"),
    ({"k_fractions": (0.0,)}, "k_fractions"),
    ({"map_size": 0}, "map_size"),
    ({"solver": "fast"}, "solver"),
])
def test_bad_options_are_named(kwargs, needle):
    with pytest.raises(InputError, match=None) as e:
        ScanOptions(**kwargs)
    assert needle in str(e.value)


def test_epsilon_one_is_allowed():
    assert ScanOptions(epsilon=1.0).epsilon == 1.0

import pytest

import gbas_jax as gb

pytestmark = pytest.mark.fast


def test_defaults_valid_and_hashable():
    cfg = gb.EGBASConfig()
    assert hash(cfg) == hash(gb.EGBASConfig())
    assert cfg.ber_init > cfg.threshold
    assert cfg.replace(capacity=10).capacity == 10


def test_interval_list_becomes_tuple():
    cfg = gb.EGBASConfig(interval=[1.0, 2.0])
    assert cfg.interval == (1.0, 2.0)
    hash(cfg)


@pytest.mark.parametrize("bad", [
    dict(capacity=0), dict(proposals=0), dict(reject_capacity=0), dict(ber_steps=0),
    dict(max_iterations=-1), dict(ber_samples=1.5), dict(capacity=True),
    dict(threshold=1.5), dict(threshold=-0.1), dict(threshold=float("nan")),
    dict(ber_lr=0.0), dict(ber_lambda=-1.0), dict(ber_tol=-1e-3), dict(temperature=0.0),
    dict(ber_init=1.0), dict(ber_init=0.4), dict(step_size=0.0), dict(step_size=float("inf")),
    dict(interval=0.0), dict(interval=()), dict(interval=(1.0, -1.0)), dict(relaxation="gumbel"),
])
def test_bad_settings_raise_value_error(bad):
    with pytest.raises(ValueError):
        gb.EGBASConfig(**bad)

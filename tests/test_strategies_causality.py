"""No strategy reads the future: altering any bars strictly after t, in every column, leaves
every output at t and before unchanged (bit for bit), and fit() on in-sample rows ignores
everything after them."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_strategies_cases import CASES, bars, make

N_ROWS, N_FIT = 900, 600
NAMES = sorted(CASES)


@lru_cache(maxsize=None)
def _fitted(name: str):
    df = bars("eurusd_1h", name).iloc[:N_ROWS]
    s = make(name).fit(df.iloc[:N_FIT])
    return s, df, s.predict(df)


def _alter(df: pd.DataFrame, t: int, how: str, seed: int) -> pd.DataFrame:
    """Change every column of every row after position t."""
    out = df.copy()
    tail = out.iloc[t + 1:]
    rng = np.random.default_rng(seed)
    if how == "scale":
        new = tail * rng.uniform(0.5, 2.0, size=tail.shape)
    elif how == "nan":
        new = tail * np.nan
    elif how == "extreme":
        new = tail * 0 + rng.choice([1e-9, 1e9], size=tail.shape)
    else:  # "reverse": the same values, time-reversed
        new = pd.DataFrame(tail.to_numpy()[::-1], index=tail.index, columns=tail.columns)
    out.iloc[t + 1:] = new.to_numpy()
    return out


ALTERATIONS = st.sampled_from(["scale", "nan", "extreme", "reverse"])


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=30)
@given(t=st.integers(0, N_ROWS - 2), how=ALTERATIONS, seed=st.integers(0, 2**16))
def test_predict_at_t_ignores_bars_after_t(name, t, how, seed):
    s, df, base = _fitted(name)
    altered = s.predict(_alter(df, t, how, seed))
    np.testing.assert_array_equal(altered.iloc[: t + 1].to_numpy(), base.iloc[: t + 1].to_numpy())


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=8)
@given(how=ALTERATIONS, seed=st.integers(0, 2**16))
def test_fit_on_in_sample_rows_ignores_later_bars(name, how, seed):
    s, df, _ = _fitted(name)
    refit = make(name).fit(_alter(df, N_FIT - 1, how, seed), sample=np.arange(N_FIT))
    assert refit.state_ == s.state_


def test_the_property_can_fail():
    """A deliberately leaky position (tomorrow's close) is caught by the same comparison."""
    df = bars("eurusd_1h").iloc[:200]
    leaky = lambda d: d["close"].shift(-1)
    t = 100
    a, b = leaky(df), leaky(_alter(df, t, "scale", 1))
    assert not np.array_equal(a.iloc[: t + 1].to_numpy(), b.iloc[: t + 1].to_numpy(), equal_nan=True)

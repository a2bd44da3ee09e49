"""Admission control: accept iff active classical < C_max and pending quantum < Q_max."""

from __future__ import annotations

import pytest

from qlambda.policy import AdmissionControl


def test_accepts_strictly_below_both_limits():
    control = AdmissionControl(c_max=3, q_max=2)
    assert control.decide(2, 1).accepted
    assert not control.decide(3, 0).accepted
    assert not control.decide(0, 2).accepted


def test_reasons_name_the_limit_reached():
    control = AdmissionControl(c_max=3, q_max=2)
    assert "C_max=3" in control.decide(3, 0).reason
    assert "Q_max=2" in control.decide(0, 5).reason
    assert control.decide(0, 0).reason == ""


def test_none_means_unlimited():
    assert AdmissionControl().decide(10**9, 10**9).accepted
    assert AdmissionControl(c_max=None, q_max=1).decide(10**9, 0).accepted


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3"])
def test_rejects_limits_that_are_not_positive_integers(bad):
    with pytest.raises(ValueError, match="positive integer"):
        AdmissionControl(c_max=bad)

import pytest

from learning_utils import train_point_mt


@pytest.mark.learning
def test_mtsac_learns_the_point_mt_suite():
    summary = train_point_mt("mtsac", early_stop_success=0.9)   # at most 60k transitions
    assert summary["mean_success"] >= 0.9, summary["eval_success"]
    assert min(summary["eval_success"][0]) >= 0.5, summary["eval_success"]


@pytest.mark.learning
def test_mhsac_learns_the_point_mt_suite():
    summary = train_point_mt("mhsac", early_stop_success=0.8)
    assert summary["mean_success"] >= 0.8, summary["eval_success"]


@pytest.mark.learning
def test_mhsac_with_pcgrad_learns_the_point_mt_suite():
    summary = train_point_mt("mhsac", grad_combiner="pcgrad", early_stop_success=0.9)
    assert summary["mean_success"] >= 0.9, summary["eval_success"]


@pytest.mark.learning
def test_ars_learns_the_point_mt_suite():
    """The ARS preset (LayerNorm tanh critic, ARS reward scales, batch 100 per task, one reset
    on point-mt, at 30k). It may stop early only on two evaluations after the reset."""
    summary = train_point_mt("ars", early_stop_success=0.9, early_stop_min_steps=50_000)
    assert summary["mean_success"] >= 0.9, summary["eval_success"]

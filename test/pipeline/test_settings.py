"""The settings spine: one dataclass of settings (pipeline/settings.py), one translation into the
pipeline (factory.spec_from_settings) for the node, eval, bench and demo, and its mono twin
(factory.mono_spec_from_settings) for mono_node, CLI options generated from the settings by name, and
result rows that carry the settings as fields."""
import argparse
import dataclasses

import pytest

from depth_refine_ros.backends import node_threads
from depth_refine_ros.pipeline import factory
from depth_refine_ros.pipeline import settings as st
from depth_refine_ros.pipeline.factory import (
    MONO_SPEC_FROM_SETTINGS,
    SPEC_FROM_SETTINGS,
    MonoPipelineSpec,
    SrPipelineSpec,
    build_mono_pipeline,
    mono_spec_from_settings,
    spec_for_method,
    spec_from_settings,
)
from depth_refine_ros.pipeline.mono import MonoPipelineConfig
from depth_refine_ros.pipeline.settings import MonoParams, SrParams

pytestmark = pytest.mark.unit


def test_every_spec_field_is_a_setting_or_made_from_settings():
    names = {f.name for f in dataclasses.fields(SrParams)}
    spec = [f.name for f in dataclasses.fields(SrPipelineSpec)]
    assert [n for n in spec if n not in names and n not in SPEC_FROM_SETTINGS] == []
    assert set(SPEC_FROM_SETTINGS) <= set(spec)


def test_a_spec_field_that_is_a_setting_defaults_to_the_setting():
    """One default per setting: the spec's (where it names the same setting) is the settings' own;
    only what a bare spec runs (classical bicubic, no model named) differs."""
    bare, defaults = SrPipelineSpec(), SrParams()
    unnamed = {"backend", "model", "refine_model", "refine_mono_model", "depth_only_model"}
    for f in dataclasses.fields(SrPipelineSpec):
        if f.name in unnamed or f.name in SPEC_FROM_SETTINGS:
            continue
        assert getattr(bare, f.name) == getattr(defaults, f.name), f.name
    assert bare.temporal == defaults.temporal_enable
    assert bare.registration_shift_px == (defaults.registration_shift_dy_px, defaults.registration_shift_dx_px)


def test_the_node_spec_is_the_old_hand_copy():
    """sr_node's spec (live) holds what the 26-field hand copy it replaces held."""
    p = dataclasses.replace(SrParams(), registration_shift_dy_px=3, registration_shift_dx_px=-2, temporal_enable=True,
                            depth_sampling="decimated", backend_threads=0)
    old = SrPipelineSpec(
        backend=p.backend, model=p.model, classical_method=p.classical_method, device=p.device,
        threads=node_threads(p.backend_threads), precision=p.precision, keep_holes=p.keep_holes,
        flip_ensemble=p.flip_ensemble, min_depth_m=p.min_depth_m, max_depth_m=p.max_depth_m,
        depth_sampling=p.depth_sampling, refine_mode=p.refine_mode, refine_model=p.refine_model,
        refine_mono_model=p.refine_mono_model, depth_only_model=p.depth_only_model,
        registration_mode=p.registration_mode,
        registration_shift_px=(p.registration_shift_dy_px, p.registration_shift_dx_px),
        registration_every_n=p.registration_every_n, registration_window=p.registration_window,
        registration_max_shift_px=p.registration_max_shift_px, registration_min_shift_px=p.registration_min_shift_px,
        registration_background=True, background_compile=True, temporal=p.temporal_enable,
        temporal_alpha=p.temporal_alpha, temporal_delta=p.temporal_delta, temporal_persistency=p.temporal_persistency)
    assert spec_from_settings(p, live=True) == old


def test_every_mono_spec_field_is_a_setting_or_made_from_settings():
    names = {f.name for f in dataclasses.fields(MonoParams)}
    spec = [f.name for f in dataclasses.fields(MonoPipelineSpec)]
    assert [n for n in spec if n not in names and n not in MONO_SPEC_FROM_SETTINGS] == []
    assert set(MONO_SPEC_FROM_SETTINGS) <= set(spec)
    bare, defaults = MonoPipelineSpec(), MonoParams()
    for n in spec:
        if n not in ("model", "refine_model") and n not in MONO_SPEC_FROM_SETTINGS:
            assert getattr(bare, n) == getattr(defaults, n), n
    assert bare.min_points == defaults.metric_min_points
    # every MonoPipelineConfig field is a spec field of that name, with the same default
    assert all(getattr(bare, f.name) == f.default for f in dataclasses.fields(MonoPipelineConfig))


def test_mono_node_builds_what_its_hand_copy_built(monkeypatch):
    """mono_node's pipeline (mono_spec_from_settings, live) gets the backend arguments and the
    MonoPipelineConfig that the positional hand copy it replaces passed."""
    p = dataclasses.replace(MonoParams(), model="mono_small", backend="openvino", device="cpu", precision="fp32",
                            backend_threads=3, refine_mode="one_stage", refine_model="sddr_small", min_depth_m=0.2,
                            max_depth_m=7.5, metric_min_points=80, metric_mode="fit")
    spec = mono_spec_from_settings(p, live=True)
    assert spec == MonoPipelineSpec(p.backend, p.model, p.device, p.precision, node_threads(p.backend_threads),
                                    p.refine_mode, p.refine_model, p.min_depth_m, p.max_depth_m, p.metric_min_points)
    assert mono_spec_from_settings(dataclasses.replace(p, backend_threads=0), live=False).threads == 0
    assert mono_spec_from_settings(dataclasses.replace(p, backend_threads=0), live=True).threads == node_threads(0)

    class Net:  # a stand-in backend: records what it was made with
        def __init__(self, spec, model, kinds):
            self.made = (spec.backend, spec.device, spec.precision, spec.threads, spec.background_compile, model, kinds)

        def warmup(self):
            pass

    monkeypatch.setattr(factory, "_net", Net)
    pl = build_mono_pipeline(spec, warmup=False)
    assert pl.mono.made == ("openvino", "cpu", "fp32", 3, False, "mono_small", ("mono",))
    assert pl.refiner.refiner.made[-2:] == ("sddr_small", ("sddr",)) and pl.refiner.mono is pl.mono
    assert pl.refiner.mode == "one_stage"
    assert pl.config == MonoPipelineConfig(p.min_depth_m, p.max_depth_m, p.metric_min_points)
    assert build_mono_pipeline(mono_spec_from_settings(MonoParams())).config == MonoPipelineConfig()
    assert build_mono_pipeline(mono_spec_from_settings(MonoParams())).refiner is None


def test_the_offline_spec_of_a_method_is_what_eval_ran_before():
    """spec_for_method (eval, bench) builds what the old hand-written one did, field for field where
    the pipeline reads it (the model fields are not read with backend classical, nor the refiner's
    without refine.mode, nor the depth-only model by the guided pipeline alone)."""
    read = [f.name for f in dataclasses.fields(SrPipelineSpec)
            if f.name not in ("model", "refine_model", "refine_mono_model", "depth_only_model")]
    old = SrPipelineSpec(backend="classical", classical_method="fgs", max_depth_m=4.0, registration_mode="auto",
                         registration_every_n=1, registration_window=15, depth_sampling="decimated")
    new = spec_for_method("fgs", max_depth_m=4.0, registration_mode="auto", depth_sampling="decimated")
    assert [getattr(new, n) for n in read] == [getattr(old, n) for n in read]
    old = SrPipelineSpec(backend="openvino", model="sr_lite", registration_every_n=1, temporal=True)
    new = spec_for_method("sr_lite", backend="openvino", temporal_enable=True)
    assert new.model == "sr_lite" and [getattr(new, n) for n in read] == [getattr(old, n) for n in read]
    assert spec_for_method("sr_lite").backend == "onnxruntime"  # offline: reports reproduce anywhere


def test_eval_options_map_onto_the_settings_by_name():
    from depth_refine_ros.cli.eval_args import (
        EVAL_BAG_SETTINGS,
        EVAL_DATASET_SETTINGS,
        EVAL_DATASET_SWEEPS,
        add_eval_bag,
        add_eval_dataset,
    )
    from depth_refine_ros.cli.setting_args import settings_from_args, swept_settings

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    add_eval_dataset(sub)
    add_eval_bag(sub)
    args = parser.parse_args(["eval-dataset", "--root", "x", "--depth-max-m", "4", "--sampling", "centred",
                              "decimated", "--registration", "auto"])
    base = settings_from_args(args, EVAL_DATASET_SETTINGS)
    assert base == dataclasses.replace(st.offline_settings(), max_depth_m=4.0)
    runs = swept_settings(args, EVAL_DATASET_SWEEPS, base)
    assert [(s.depth_sampling, s.registration_mode) for s in runs] == [("centred", "auto"), ("decimated", "auto")]
    defaults = parser.parse_args(["eval-dataset", "--root", "x"])
    assert settings_from_args(defaults, EVAL_DATASET_SETTINGS) == st.offline_settings()
    assert swept_settings(defaults, EVAL_DATASET_SWEEPS, st.offline_settings()) == [st.offline_settings()]
    args = parser.parse_args(["eval-bag", "b", "--temporal", "--sampling", "decimated", "--backend", "openvino"])
    assert settings_from_args(args, EVAL_BAG_SETTINGS) == st.offline_settings(
        temporal_enable=True, depth_sampling="decimated", backend="openvino")
    bag_defaults = settings_from_args(parser.parse_args(["eval-bag", "b"]), EVAL_BAG_SETTINGS)
    assert bag_defaults == st.offline_settings()


def test_result_rows_carry_the_settings_and_labels_stay_as_before():
    from depth_refine_ros.eval.methods import build_method, row_fields

    m = build_method("bicubic", registration="auto", depth_sampling="decimated")
    assert m.label == "bicubic +decimated +reg"
    assert row_fields(m) == {"method": "bicubic +decimated +reg", "method_name": "bicubic",
                             "depth_sampling": "decimated", "registration_mode": "auto", "temporal_enable": False}
    assert build_method("fgs", temporal=True).label == "fgs +temporal"
    assert build_method("bicubic", backend="openvino").label == "bicubic"  # classical runs on classical


def test_live_node_overrides_are_the_ones_eval_bag_and_bench_passed_before():
    from depth_refine_ros.eval.bag_replay import live_overrides, node_settings

    s = node_settings("bicubic", "classical", st.offline_settings(registration_mode="auto", depth_sampling="decimated",
                                                                  temporal_enable=True))
    assert live_overrides(s, ("temporal.alpha:=0.2",)) == [
        "backend:=classical", "registration.mode:=auto", "depth.sampling:=decimated", "classical.method:=bicubic",
        "temporal.enable:=true", "temporal.alpha:=0.2"]
    s = node_settings("sr_lite", "onnxruntime", st.offline_settings())
    assert live_overrides(s) == ["backend:=onnxruntime", "model:=sr_lite"]
    s = st.method_settings("sr_lite", SrParams(), backend="openvino", precision="auto")
    assert st.node_overrides(s, ("backend", "model", "precision"), always=("backend", "model", "precision")) == [
        "backend:=openvino", "model:=sr_lite", "precision:=auto"]

"""Pipelines: the one place that turns inputs into refined depth (SR, SDDR stage, monocular)."""

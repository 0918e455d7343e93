"""Evaluation: datasets on disk, rosbags, replay through the pipeline or the live nodes, metrics reports."""

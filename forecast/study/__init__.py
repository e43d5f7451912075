"""Measurements behind the RNN-vs-attention study (no tracking here: pipelines/study.py logs)."""

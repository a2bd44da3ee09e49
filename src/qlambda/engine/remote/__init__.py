"""Engines on distributed frameworks: the submitter side they share, and the worker side."""

"""Operator tools: the ``tap`` command-line interface."""

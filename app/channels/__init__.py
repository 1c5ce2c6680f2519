"""Approval channels: tell the right people about a parked request, and take their decision.

:mod:`~app.channels.base` is the interface, :mod:`~app.channels.registry`
the list of channels, :mod:`~app.channels.hub` what runs them in a worker.
"""

"""Approvals: the durable state machine every decision surface shares.

``decisions`` records votes and resolves requests (CLI, admin API, and later
the dashboard, Telegram and Matrix all call it) and ``view`` renders what
an approver is shown; ``executor`` forwards an approved request exactly once,
on whichever replica claims it first.
"""

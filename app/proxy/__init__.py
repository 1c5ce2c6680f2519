"""The /forward pipeline: one module per stage."""

"""Simulations on top of the engine."""

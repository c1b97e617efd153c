"""Yavio command line and terminal dashboard."""

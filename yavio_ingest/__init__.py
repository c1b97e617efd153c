"""Yavio ingestion server: events in, analytics out."""

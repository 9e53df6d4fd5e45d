"""Helpers shared by several test modules (imported as ``support.<module>``: pytest puts tests/ on the path)."""

"""Screens over the console: help and the threshold editor."""

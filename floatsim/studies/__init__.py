"""Runnable studies on floatsim's formats and the data they train on.

``floatsim.studies.corpus`` is the embedded training text (the Python
standard library's own source, character level; no download).
"""

__all__ = ["corpus"]

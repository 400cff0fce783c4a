"""agproxy core: everything that serves."""

__version__ = "0.1.0"

"""prompt-review: review prompt changes the way CI reviews code."""

__version__ = "0.1.0"

"""FastAPI serving layer: thin routes over tickerpulse's read models."""

from importlib.metadata import version

VERSION = version("tickerpulse")

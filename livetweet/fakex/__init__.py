"""The simulated X API, for tests and rehearsals: `FakeXServer(...).start()`."""

from .server import FAULT_KINDS, FakeXServer, add_dm

__all__ = ["FAULT_KINDS", "FakeXServer", "add_dm"]

"""The configuration a request is handled with, level by level: the model's inheritance
engine (records.Conf), which TlsServer.setting reads too."""

from ..records import Conf, own_chain

__all__ = ["Conf", "own_chain"]

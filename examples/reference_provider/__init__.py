"""A reference real-time provider for rtdcs: see server.py and README.md."""

from examples.reference_provider.server import ReferenceProvider, sign, signature_ok

__all__ = ["ReferenceProvider", "sign", "signature_ok"]

"""edgeface: 3DDFA_V2 3D dense face alignment on ARM boards."""

__version__ = "0.1.0"

"""trade-gateway: validated, signed, translated and logged exchange of trade documents between customs."""

__version__ = "0.1.0"

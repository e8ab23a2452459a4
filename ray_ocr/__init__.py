"""ray-ocr: read the text burned into videos and flag banned words and ads, on Ray."""

__version__ = "0.1.0"

"""shelf-fusion's computation: store model, recordings, weight events, item
inference, shopper tracking, attribution and receipts.

Pure computation: this package never imports :mod:`drivers`, pyserial,
pymodbus or OpenCV.
"""

__version__ = "0.1.0"

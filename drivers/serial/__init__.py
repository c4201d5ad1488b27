"""Serial-line support for :mod:`drivers.scale_serial`: protocol profiles and line parsing.

Note: this package is ``drivers.serial``; inside it, ``import serial`` still
means pyserial (absolute imports).
"""

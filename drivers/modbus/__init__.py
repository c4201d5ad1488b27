"""Modbus building blocks of the ``modbus`` backend.

* :mod:`drivers.modbus.frames` -- PDU encoding/decoding, RTU CRC, MBAP headers.
* :mod:`drivers.modbus.links` -- one open line (RTU over pyserial, TCP socket).
* :mod:`drivers.modbus.profile` -- a ``hardware/*.toml`` register map, validated.

The driver is :class:`drivers.scale_modbus.ModbusScaleDriver`; the RTU bus
scheduler and line-timing calculator are in :mod:`drivers.modbus_bus`.
"""

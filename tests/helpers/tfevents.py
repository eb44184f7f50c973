"""A minimal TensorBoard event-file reader (TFRecord framing + tensorboardX's Event proto).

`tensorboard` itself is not a dependency; the framing is: uint64 length,
uint32 masked CRC-32C of the length, the serialized Event, uint32 masked
CRC-32C of the data. CRCs are checked, so a torn or corrupt file fails loudly.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from pathlib import Path


def read_events(path: str | Path) -> list:
    from tensorboardX.proto import event_pb2
    from tensorboardX.record_writer import masked_crc32c

    data = Path(path).read_bytes()
    events, offset = [], 0
    while offset < len(data):
        if offset + 12 > len(data):
            raise ValueError(f"{path}: truncated record header at byte {offset}")
        header = data[offset:offset + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
        if masked_crc32c(header) != length_crc:
            raise ValueError(f"{path}: bad length CRC at byte {offset}")
        if offset + 16 + length > len(data):
            raise ValueError(f"{path}: truncated record at byte {offset}")
        body = data[offset + 12:offset + 12 + length]
        (body_crc,) = struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])
        if masked_crc32c(body) != body_crc:
            raise ValueError(f"{path}: bad or truncated record at byte {offset}")
        events.append(event_pb2.Event.FromString(body))
        offset += 16 + length
    return events


def read_scalars(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` over every event file in ``log_dir``."""
    scalars: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for path in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        for event in read_events(path):
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    scalars[value.tag].append((event.step, value.simple_value))
                elif value.HasField("tensor") and value.tensor.float_val:
                    scalars[value.tag].append((event.step, value.tensor.float_val[0]))
    return dict(scalars)

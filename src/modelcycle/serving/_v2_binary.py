"""The binary tensor data extension of the Open Inference Protocol V2 (Triton's and KServe's).

A request may carry tensors after its JSON: the header ``Inference-Header-Content-Length``
gives the length of the JSON part, and each input whose ``parameters`` hold
``binary_data_size`` takes that many bytes of the rest, in order. Numbers are
little-endian; ``BOOL`` is one byte (0 or 1); ``BYTES`` elements are each a 4-byte
little-endian length then that many bytes (text here, so UTF-8). A response carries
outputs the same way when the request asks (``binary_data_output`` for all, or an
output's own ``binary_data``).

Every length is checked against the bytes that arrived before anything is allocated,
so a request cannot make the server build more than its body holds.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelcycle.core import ValidationError
from modelcycle.serving._encode import plain, quoted, shown_text

#: The request and response header naming the length of the JSON part.
HEADER = "inference-header-content-length"
#: V2 datatype -> NumPy dtype of its little-endian binary form (``BYTES`` is framed).
BINARY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("|b1"),
    "UINT8": np.dtype("|u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("|i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_LENGTH = struct.Struct("<I")


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON part and the binary part of a request body.

    Raises
    ------
    ValidationError
        The header is not a whole number of bytes within the body.
    """
    if header_length is None:
        return body, b""
    text = header_length.strip()
    if not text.isascii() or not text.isdigit() or int(text) > len(body):
        raise ValidationError(
            f"header Inference-Header-Content-Length is {quoted(header_length, 40)}; expected "
            f"the length in bytes of the request's JSON part, at most the body's {len(body)}",
            details={"field": "Inference-Header-Content-Length", "expected": "a byte count"},
        )
    size = int(text)
    return body[:size], body[size:]


def binary_size(name: str, parameters: dict[str, Any] | None) -> int | None:
    """The ``binary_data_size`` a tensor declares (``None``: its data is in the JSON)."""
    size = (parameters or {}).get("binary_data_size")
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValidationError(
            f"tensor {quoted(name, 60)} has binary_data_size {size!r}; expected a whole "
            "number of bytes",
            details={"field": shown_text(name, 60), "expected": "a whole number of bytes"},
        )
    return size


class BinaryReader:
    """Takes each binary input's bytes, in order, from the part after the JSON."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.offset = 0

    def take(self, name: str, size: int) -> memoryview:
        """The next ``size`` bytes, for tensor ``name``."""
        left = len(self.data) - self.offset
        if size > left:
            raise ValidationError(
                f"tensor {quoted(name, 60)} declares {size} bytes of binary data but only "
                f"{left} are left in the body; expected binary_data_size to match the bytes "
                "sent after the JSON",
                details={"field": shown_text(name, 60), "expected": f"at most {left} bytes"},
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def finish(self) -> None:
        """Refuse bytes that no tensor claimed (a size miscounted somewhere)."""
        left = len(self.data) - self.offset
        if left:
            raise ValidationError(
                f"{left} bytes after the JSON are claimed by no input; expected the inputs' "
                "binary_data_size values to add up to the bytes sent after the JSON",
                details={"field": "binary_data_size", "expected": f"{self.offset} bytes"},
            )


def decode_tensor(name: str, datatype: str, shape: Sequence[int], data: memoryview) -> list[Any]:
    """The values of one binary input tensor, as a flat list in row-major order."""
    count = math.prod(shape)
    if datatype == "BYTES":
        return _decode_bytes(name, count, data)
    dtype = BINARY_DTYPES[datatype]
    if len(data) != count * dtype.itemsize:
        raise ValidationError(
            f"tensor {quoted(name, 60)} of shape {list(shape)} and datatype {datatype} needs "
            f"{count * dtype.itemsize} bytes ({count} values of {dtype.itemsize}); "
            f"{len(data)} were sent",
            details={"field": shown_text(name, 60), "expected": count * dtype.itemsize},
        )
    if datatype == "BOOL":
        raw = np.frombuffer(data, dtype=np.uint8)
        if raw.size and raw.max() > 1:
            raise ValidationError(
                f"tensor {quoted(name, 60)} of datatype BOOL holds the byte {int(raw.max())}; "
                "expected 0 or 1 for each value",
                details={"field": shown_text(name, 60), "expected": "bytes 0 or 1"},
            )
        flags: list[Any] = raw.astype(bool).tolist()
        return flags
    values: list[Any] = np.frombuffer(data, dtype=dtype).tolist()
    return values


def _decode_bytes(name: str, count: int, data: memoryview) -> list[str]:
    """``count`` length-prefixed UTF-8 texts filling ``data`` exactly."""
    values: list[str] = []
    offset = 0
    for index in range(count):
        if offset + 4 > len(data):
            raise _bytes_error(name, index, count, "its 4-byte length is missing")
        (size,) = _LENGTH.unpack_from(data, offset)
        offset += 4
        if offset + size > len(data):
            raise _bytes_error(name, index, count, f"it declares {size} bytes past the end")
        try:
            values.append(str(data[offset : offset + size], "utf-8"))
        except UnicodeDecodeError as error:
            raise _bytes_error(
                name, index, count, f"its bytes are not UTF-8 (at byte {error.start})"
            ) from None
        offset += size
    if offset != len(data):
        raise _bytes_error(name, count, count, f"{len(data) - offset} bytes follow the last")
    return values


def _bytes_error(name: str, index: int, count: int, problem: str) -> ValidationError:
    return ValidationError(
        f"tensor {quoted(name, 60)} of datatype BYTES: element {index} of {count}: {problem}; "
        "expected each element as a 4-byte little-endian length and that many UTF-8 bytes",
        details={"field": shown_text(name, 60), "element": index, "expected": "framed UTF-8"},
    )


def encode_tensor(datatype: str, values: list[Any]) -> bytes:
    """An output tensor's binary form from its flat values (little-endian; ``BYTES`` framed)."""
    if datatype != "BYTES":
        return np.asarray(values, dtype=BINARY_DTYPES[datatype]).tobytes()
    parts = []
    for value in values:
        raw = value if isinstance(value, bytes) else _text(value).encode("utf-8")
        parts.append(_LENGTH.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def _text(value: Any) -> str:
    found = plain(value)
    return found if isinstance(found, str) else str(found)

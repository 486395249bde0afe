"""Malformed image bytes shared by the boundary and fuzz tests."""

import struct
import zlib


def png_header(w: int, h: int, rows: int = 0) -> bytes:
    """A PNG whose header claims ``w x h`` RGB pixels but that holds only ``rows`` rows."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + bytes(3 * w) for _ in range(rows))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

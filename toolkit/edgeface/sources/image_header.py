"""An image's size from its header, before anything is decoded (`image_size`), and the pixel limit that
keeps a decompression bomb from being decoded (`check_pixels`).

A 65-byte PNG can claim 50000 x 50000 pixels; decoding it (or a real 16000 x 16000 one) takes gigabytes.
`image_size` reads the width and height a PNG, JPEG, GIF, BMP, WebP or TIFF header declares (a few KB
at most); `check_pixels` refuses more than `max_pixels` (default `DEFAULT_MAX_PIXELS`, 50 MP) with one
line naming the size and the option that raises the limit. Formats not recognised here are left to the
decoder (OpenCV refuses more than 2^30 pixels itself).
"""

from __future__ import annotations

import struct
from typing import Optional

from edgeface.errors import EdgefaceError

#: the default limit of `check_pixels`: 50 megapixels (an 8660 x 5773 photo; 150 MB decoded)
DEFAULT_MAX_PIXELS = 50_000_000
#: how much of a file `image_size` may need (JPEG's SOF can follow large EXIF / ICC segments)
HEADER_BYTES = 1 << 18


class ImageTooLargeError(EdgefaceError):
    """An image whose header declares more pixels than the limit (exit code 2): it was not decoded."""


def _png(b: bytes) -> Optional[tuple[int, int]]:
    if b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) >= 24 and b[12:16] == b"IHDR":
        w, h = struct.unpack(">II", b[16:24])
        return w, h
    return None


def _gif(b: bytes) -> Optional[tuple[int, int]]:
    if b[:6] in (b"GIF87a", b"GIF89a") and len(b) >= 10:
        w, h = struct.unpack("<HH", b[6:10])
        return w, h
    return None


def _bmp(b: bytes) -> Optional[tuple[int, int]]:
    if b[:2] != b"BM" or len(b) < 26:
        return None
    (dib,) = struct.unpack("<I", b[14:18])
    if dib == 12:  # BITMAPCOREHEADER: 16-bit sizes
        w, h = struct.unpack("<HH", b[18:22])
        return w, h
    w, h = struct.unpack("<ii", b[18:26])
    return abs(w), abs(h)


def _webp(b: bytes) -> Optional[tuple[int, int]]:
    if b[:4] != b"RIFF" or b[8:12] != b"WEBP" or len(b) < 30:
        return None
    chunk = b[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(b[24:27], "little") + 1
        h = int.from_bytes(b[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L" and b[20] == 0x2F:
        bits = int.from_bytes(b[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and b[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", b[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(b: bytes) -> Optional[tuple[int, int]]:
    if b[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", b[i + 2:i + 4])
        if marker in _SOF:
            if i + 9 > len(b):
                return None
            h, w = struct.unpack(">HH", b[i + 5:i + 9])
            return w, h
        if marker == 0xDA or length < 2:  # scan data before any frame header: not a size we can read
            return None
        i += 2 + length
    return None


def _tiff(b: bytes) -> Optional[tuple[int, int]]:
    if b[:4] not in (b"II*\x00", b"MM\x00*") or len(b) < 8:
        return None
    e = "<" if b[:2] == b"II" else ">"
    (off,) = struct.unpack(e + "I", b[4:8])
    if off + 2 > len(b):
        return None
    (n,) = struct.unpack(e + "H", b[off:off + 2])
    size: dict[int, int] = {}
    for k in range(n):
        p = off + 2 + 12 * k
        if p + 12 > len(b):
            break
        tag, typ = struct.unpack(e + "HH", b[p:p + 4])
        if tag in (256, 257):
            size[tag] = struct.unpack(e + ("H" if typ == 3 else "I"), b[p + 8:p + (10 if typ == 3 else 12)])[0]
    if 256 in size and 257 in size:
        return size[256], size[257]
    return None


def image_size(header: bytes) -> Optional[tuple[int, int]]:
    """(width, height) declared by the first bytes of an image file, or None when the format is not
    one of PNG, JPEG, GIF, BMP, WebP, TIFF or the header is cut short."""
    for reader in (_png, _jpeg, _gif, _bmp, _webp, _tiff):
        try:
            size = reader(header)
        except (struct.error, IndexError):
            size = None
        if size is not None:
            return size
    return None


def check_max_pixels(max_pixels: int) -> int:
    """Validate a pixel limit (an integer >= 1)."""
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise EdgefaceError(f"the image pixel limit must be an integer >= 1, got {max_pixels!r}")
    return max_pixels


def check_pixels(size: Optional[tuple[int, int]], name: object, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse an image whose declared `size` (width, height) exceeds `max_pixels`."""
    if size is None:
        return
    w, h = size
    if w * h > max_pixels:
        raise ImageTooLargeError(f"image {name} is {w}x{h} ({w * h / 1e6:.0f} MP), above the limit of "
                                 f"{max_pixels / 1e6:g} MP: scale it down, or raise the limit with --max-pixels "
                                 "if this machine has the memory")

"""Media bytes the simulator "generates": baseline JPEGs and MP4 files derived from the prompt.

Why hand-written: Pillow is a heavy native dependency the gateway never needs, and the
simulator only has to produce *valid* files whose content depends on the prompt, the aspect
ratio and the stage. A baseline JPEG whose 8x8 blocks are each one flat colour needs only DC
coefficients, so the encoder is a few dozen lines (no DCT). The MP4 is a well-formed ISO
BMFF box structure (`ftyp`, `moov`/`mvhd` with the duration, `mdat`) around prompt-derived
bytes: enough for a client to check the type, size and identity of what it received; it is
not a playable video.

The same (prompt, aspect ratio, stage, index) always gives the same bytes, so a test can
recompute what upstream made and compare it with what a client received.
"""
from __future__ import annotations

import hashlib
import math
import struct
from functools import lru_cache

#: Aspect ratio -> (width, height) of the final image (what grok.com reports per slot).
IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "16:9": (1280, 720),
    "9:16": (720, 1280),
    "4:3": (1024, 768),
    "3:4": (768, 1024),
    "2:1": (1280, 640),
    "1:2": (640, 1280),
    "19.5:9": (1248, 576),
    "9:19.5": (576, 1248),
    "20:9": (1280, 576),
    "9:20": (576, 1280),
}
#: The ratio used for `auto`, an unknown ratio or none (grok.com's own default).
DEFAULT_RATIO = "2:3"
STAGES: tuple[str, ...] = ("preview", "medium", "final")
#: Minimum file size per stage, reached with comment segments: G1-style clients tell the
#: stage by the base64 length of the blob (final >= 100 000 chars, preview < 30 000).
_STAGE_MIN_BYTES = {"preview": 0, "medium": 30_000, "final": 80_000}
#: Preview and medium are smaller versions of the final image (same ratio).
_STAGE_SCALE = {"preview": 8, "medium": 2, "final": 1}

# Standard luminance DC Huffman table (JPEG Annex K.3): code lengths and symbols.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALS = tuple(range(12))
# Every block is flat, so the only AC symbol ever coded is end-of-block: one 1-bit code.
_AC_BITS = (1,) + (0,) * 15
_AC_VALS = (0x00,)
_QUANT = 8  # every coefficient's quantiser; DC then equals (sample - 128) exactly


def _canonical_codes(bits: tuple[int, ...], vals: tuple[int, ...]) -> dict[int, str]:
    codes: dict[int, str] = {}
    code, k = 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[vals[k]] = format(code, f"0{length}b")
            code += 1
            k += 1
        code <<= 1
    return codes


_DC_CODES = _canonical_codes(_DC_BITS, _DC_VALS)
_EOB = _canonical_codes(_AC_BITS, _AC_VALS)[0]


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload


def _dc_bits(diff: int) -> str:
    """Huffman code of the DC difference's category, then its magnitude bits."""
    if diff == 0:
        return _DC_CODES[0]
    size = abs(diff).bit_length()
    extra = diff if diff > 0 else diff + (1 << size) - 1
    return _DC_CODES[size] + format(extra, f"0{size}b")


def _seed(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def _palette(seed: bytes) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Two YCbCr colours from the seed: the image is a diagonal blend between them."""
    a = (40 + seed[0] % 80, 64 + seed[1] % 128, 64 + seed[2] % 128)
    b = (140 + seed[3] % 100, 64 + seed[4] % 128, 64 + seed[5] % 128)
    return a, b


def _scan(width: int, height: int, seed: bytes) -> bytes:
    cols, rows = math.ceil(width / 8), math.ceil(height / 8)
    (ya, ba, ra), (yb, bb, rb) = _palette(seed)
    span = max(1, cols + rows - 2)
    bits: list[str] = []
    pred = [0, 0, 0]
    for by in range(rows):
        for bx in range(cols):
            t = (bx + by) / span
            for c, (lo, hi) in enumerate(((ya, yb), (ba, bb), (ra, rb))):
                dc = round(lo + (hi - lo) * t) - 128
                bits.append(_dc_bits(dc - pred[c]))
                bits.append(_EOB)
                pred[c] = dc
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)  # pad the last byte with ones
    data = int(stream, 2).to_bytes(len(stream) // 8, "big") if stream else b""
    return data.replace(b"\xff", b"\xff\x00")  # byte stuffing


def jpeg(width: int, height: int, seed: bytes, comment: bytes = b"", min_size: int = 0) -> bytes:
    """A baseline YCbCr JPEG of width x height, content from `seed`, with `comment` in a COM
    segment and further COM segments until the file is at least `min_size` bytes."""
    if not (0 < width < 65536 and 0 < height < 65536):
        raise ValueError("JPEG dimensions must be 1..65535")
    head = [b"\xff\xd8", _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")]
    if comment:
        head.append(_segment(0xFE, comment[:65533]))
    tables = [
        _segment(0xDB, b"\x00" + bytes([_QUANT]) * 64),
        _segment(0xC0, struct.pack(">BHHB", 8, height, width, 3)
                 + b"\x01\x11\x00" + b"\x02\x11\x00" + b"\x03\x11\x00"),
        _segment(0xC4, b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALS)),
        _segment(0xC4, b"\x10" + bytes(_AC_BITS) + bytes(_AC_VALS)),
        _segment(0xDA, b"\x03" + b"\x01\x00" + b"\x02\x00" + b"\x03\x00" + b"\x00\x3f\x00"),
    ]
    body = _scan(width, height, seed) + b"\xff\xd9"
    size = sum(map(len, head)) + sum(map(len, tables)) + len(body)
    filler = seed.hex().encode()
    while size < min_size:
        n = min(65533, max(1, min_size - size - 4))
        head.append(_segment(0xFE, (filler * (n // len(filler) + 1))[:n]))
        size += n + 4
    return b"".join(head + tables) + body


def image_size(aspect_ratio: str | None) -> tuple[int, int]:
    return IMAGE_SIZES.get(aspect_ratio or "", IMAGE_SIZES[DEFAULT_RATIO])


@lru_cache(maxsize=256)
def generated_image(prompt: str, aspect_ratio: str | None = None, stage: str = "final", index: int = 0) -> bytes:
    """The JPEG the simulator produces for slot `index` of `prompt` at `stage`."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    width, height = image_size(aspect_ratio)
    scale = _STAGE_SCALE[stage]
    seed = _seed("image", prompt, index)
    comment = f"grok-sim image; stage={stage}; index={index}; prompt={prompt}".encode()
    return jpeg(max(8, width // scale), max(8, height // scale), seed, comment, _STAGE_MIN_BYTES[stage])


def jpeg_dimensions(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's SOF0 segment, for tests and clients that check."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError("corrupt JPEG marker")
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    raise ValueError("no SOF segment")


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _mvhd(duration_ms: int) -> bytes:
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    payload = (b"\x00\x00\x00\x00" + struct.pack(">IIII", 0, 0, 1000, duration_ms)
               + struct.pack(">IH", 0x10000, 0x100) + b"\x00" * 10 + matrix + b"\x00" * 24
               + struct.pack(">I", 2))
    return _box(b"mvhd", payload)


@lru_cache(maxsize=64)
def generated_video(prompt: str, seconds: int = 6, resolution: str = "720p",
                    aspect_ratio: str | None = None, size: int = 64 * 1024) -> bytes:
    """The MP4 the simulator produces for `prompt`: `size` bytes at least, the duration in
    `mvhd`, the media data a keyed stream from the parameters."""
    seed = _seed("video", prompt, seconds, resolution, aspect_ratio)
    head = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    moov = _box(b"moov", _mvhd(seconds * 1000) + _box(b"udta", _box(
        b"\xa9cmt", f"grok-sim video; {resolution}; {aspect_ratio or 'auto'}; prompt={prompt}".encode())))
    want = max(0, size - len(head) - len(moov) - 8)
    blocks, block = [], seed
    total = 0
    while total < want:
        block = hashlib.sha256(block).digest()
        blocks.append(block)
        total += len(block)
    mdat = _box(b"mdat", b"".join(blocks)[:want])
    return head + moov + mdat


def generated_thumbnail(prompt: str, aspect_ratio: str | None = None) -> bytes:
    """The poster image of a video (a small JPEG from the same prompt)."""
    width, height = image_size(aspect_ratio)
    return jpeg(max(8, width // 4), max(8, height // 4), _seed("thumb", prompt),
                f"grok-sim video poster; prompt={prompt}".encode())

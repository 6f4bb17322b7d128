"""unireward.media: loading, validation, frame sampling, hashing and writing of images and videos.

All fixtures are made on the fly; frame i of a test video is a flat colour PALETTE[i] so order can be read
back after lossy encoding.
"""

from __future__ import annotations

import io
import itertools
import socket
import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageFile

from unireward import media
from unireward.media import (
    FramePolicy,
    MediaError,
    content_hash,
    load_image,
    load_media,
    load_video,
    write_video,
)

PALETTE = [c for c in itertools.product((30, 130, 230), repeat=3)][:24]
W, H = 64, 48


def colour_frames(n: int, size: tuple[int, int] = (W, H)) -> list[Image.Image]:
    return [Image.new("RGB", size, PALETTE[i]) for i in range(n)]


def frame_ids(frames: list[Image.Image]) -> list[int]:
    """Index of the nearest palette colour of each frame's centre pixel."""
    out = []
    for f in frames:
        px = np.asarray(f)[f.height // 2, f.width // 2].astype(int)
        out.append(int(np.argmin([np.abs(px - np.array(c)).sum() for c in PALETTE])))
    return out


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature + IHDR claiming width×height, with no pixel data at all."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.fixture
def rgb_png(tmp_path: Path) -> Path:
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[:, :15] = (255, 0, 0)
    arr[:, 15:] = (0, 0, 255)
    path = tmp_path / "img.png"
    Image.fromarray(arr).save(path)
    return path


# ---------------------------------------------------------------------------------------------- FramePolicy


def test_frame_policy_defaults_validation_and_dict_round_trip():
    p = FramePolicy()
    assert (p.num_frames, p.fps, p.max_frames, p.max_pixels, p.multiple_of, p.pad) == (
        8,
        None,
        32,
        448 * 448,
        1,
        False,
    )
    assert FramePolicy(fps=2.0).num_frames is None
    with pytest.raises(ValueError, match="not both"):
        FramePolicy(num_frames=8, fps=2.0)
    for bad in (
        dict(num_frames=0),
        dict(num_frames=33),
        dict(fps=0.0),
        dict(multiple_of=0),
        dict(max_pixels=0),
    ):
        with pytest.raises(ValueError):
            FramePolicy(**bad)
    q = FramePolicy(fps=1.5, max_frames=16, max_pixels=None, multiple_of=2)
    assert FramePolicy.from_dict(q.to_dict()) == q
    assert q.to_dict()["fps"] == 1.5
    with pytest.raises(ValueError, match="unknown keys"):
        FramePolicy.from_dict({"num_frames": 8, "frames": 8})


def test_sample_indices_num_frames_uniform_and_short_clips():
    p = FramePolicy(num_frames=8)
    idx = p.sample_indices(100, 30.0)
    assert idx == [int(round(x)) for x in np.linspace(0, 99, 8)]
    assert idx[0] == 0 and idx[-1] == 99 and len(set(idx)) == 8
    assert p.sample_indices(5, None) == [0, 1, 2, 3, 4]  # fewer than requested: what exists, no repeats
    assert p.sample_indices(0, None) == []
    assert FramePolicy(num_frames=1).sample_indices(10, None) == [0]


def test_sample_indices_fps_step_cap_and_multiple():
    assert FramePolicy(fps=2).sample_indices(16, 8.0) == [0, 4, 8, 12]
    capped = FramePolicy(fps=30, max_frames=10).sample_indices(1000, 30.0)
    assert len(capped) == 10 and capped[0] == 0 and capped[-1] == 999 and capped == sorted(set(capped))
    assert len(FramePolicy(fps=30, max_frames=10, multiple_of=4).sample_indices(1000, 30.0)) == 8
    assert FramePolicy(fps=100).sample_indices(4, 8.0) == [0, 1, 2, 3]  # never the same frame twice
    with pytest.raises(ValueError, match="frame rate"):
        FramePolicy(fps=2).sample_indices(16, None)


# --------------------------------------------------------------------------------------------------- images


def test_load_image_from_every_source_kind(tmp_path: Path, rgb_png: Path):
    expected = np.asarray(Image.open(rgb_png).convert("RGB"))
    jpg = tmp_path / "img.jpg"
    Image.open(rgb_png).save(jpg, quality=95)
    sources = {
        "path": rgb_png,
        "str": str(rgb_png),
        "file_url": rgb_png.as_uri(),
        "bytes": rgb_png.read_bytes(),
        "pil": Image.open(rgb_png),
        "array": expected.copy(),
    }
    for kind, src in sources.items():
        img = load_image(src)
        assert img.mode == "RGB" and img.size == (30, 20), kind
        assert np.array_equal(np.asarray(img), expected), kind
    img = load_image(jpg)
    assert img.mode == "RGB" and img.size == (30, 20)
    assert np.abs(np.asarray(img).astype(int) - expected).mean() < 10


def test_modes_convert_to_rgb_with_alpha_on_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 0)  # fully transparent red -> white
    rgba[1, 1] = (0, 255, 0, 255)  # opaque green stays green
    out = np.asarray(load_image(Image.fromarray(rgba, "RGBA")))
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[1, 1]) == (0, 255, 0)
    assert tuple(np.asarray(load_image(rgba))[0, 0]) == (255, 255, 255)  # RGBA array too
    gray = load_image(np.full((3, 5), 77, np.uint8))
    assert gray.mode == "RGB" and tuple(np.asarray(gray)[0, 0]) == (77, 77, 77)
    for mode in ("P", "CMYK", "1", "LA"):
        img = load_image(Image.new(mode, (6, 4)))
        assert img.mode == "RGB" and img.size == (6, 4), mode


def test_downscale_to_pixel_budget_keeps_aspect_ratio():
    budget = 448 * 448
    for w, h in ((1000, 500), (300, 2000), (1001, 999)):
        img = load_image(Image.new("RGB", (w, h), (9, 9, 9)), max_pixels=budget)
        assert img.width * img.height <= budget
        assert img.width * img.height > 0.97 * budget  # uses the budget, does not shrink further
        assert abs(img.width / img.height - w / h) < 2 / min(img.size)  # aspect within a pixel of rounding
    small = load_image(Image.new("RGB", (40, 30)), max_pixels=budget)
    assert small.size == (40, 30)  # never upscaled
    assert load_media("image", Image.new("RGB", (200, 100)), FramePolicy(max_pixels=50)).size == (10, 5)


def test_bad_images_raise_media_error_naming_the_item(tmp_path: Path, rgb_png: Path):
    with pytest.raises(MediaError, match=r"<15 bytes> \(item 'cand-7'\).*not a recognised image"):
        load_image(b"definitely-not!", name="cand-7")
    truncated = tmp_path / "truncated.png"
    data = Image.new("RGB", (200, 200)).tobytes()
    Image.frombytes(
        "RGB", (200, 200), np.random.default_rng(0).integers(0, 255, len(data), np.uint8).tobytes()
    ).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:2000])
    with pytest.raises(MediaError, match=r"truncated\.png \(item 'x1'\).*corrupt or truncated"):
        load_image(truncated, name="x1")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty.png.*empty"):
        load_image(empty)
    with pytest.raises(MediaError, match="missing.png.*no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(MediaError, match="zero-size"):
        load_image(Image.new("RGB", (0, 5)))
    with pytest.raises(MediaError, match="uint8"):
        load_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(MediaError, match="unsupported image source"):
        load_image(12345)
    with pytest.raises(MediaError, match="directory"):
        load_image(tmp_path)


def test_decompression_bombs_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def no_decoding(self, *a, **k):
        raise AssertionError("decoded a refused image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(9000, 9000))  # 81 M pixels: above ours, below PIL's own guard
    with pytest.raises(MediaError, match=r"bomb\.png \(item 'b'\).*9000x9000.*MAX_IMAGE_PIXELS"):
        load_image(bomb, name="b")
    with pytest.raises(MediaError, match="bomb"):  # 900 M pixels: PIL's DecompressionBombError, converted
        load_image(png_header_only(30000, 30000))

    monkeypatch.setattr(media, "MAX_IMAGE_PIXELS", 100)
    real = io.BytesIO()
    Image.new("RGB", (11, 10)).save(real, format="PNG")
    with pytest.raises(MediaError, match="110 pixels > MAX_IMAGE_PIXELS"):
        load_image(real.getvalue())
    with pytest.raises(MediaError, match="MAX_IMAGE_PIXELS"):
        load_video(np.zeros((2, 10, 11, 3), np.uint8))


def test_unreachable_http_url_is_a_media_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/img.png"
    with pytest.raises(MediaError, match=rf"{url} \(item 'u'\): could not fetch"):
        load_image(url, name="u")


# --------------------------------------------------------------------------------------------------- videos


@pytest.mark.parametrize("ext", [".mp4", ".gif", ".mkv"])  # mkv carries no frame count: packets are counted
def test_write_and_load_video_round_trip_keeps_count_and_order(tmp_path: Path, ext: str):
    path = write_video(colour_frames(12), tmp_path / f"clip{ext}", fps=8)
    frames = load_video(path, FramePolicy(num_frames=12))
    assert len(frames) == 12 and all(f.size == (W, H) and f.mode == "RGB" for f in frames)
    assert frame_ids(frames) == list(range(12))
    four = load_video(path, FramePolicy(num_frames=4))
    assert frame_ids(four) == [0, 4, 7, 11]  # round(linspace(0, 11, 4))
    assert frame_ids(load_video(path.read_bytes(), FramePolicy(num_frames=4))) == [0, 4, 7, 11]


def test_fps_policy_on_a_video_file(tmp_path: Path):
    path = write_video(colour_frames(16), tmp_path / "clip.mp4", fps=8)
    assert frame_ids(load_video(path, FramePolicy(fps=2))) == [0, 4, 8, 12]
    assert frame_ids(load_video(path, FramePolicy(fps=8, max_frames=4))) == [0, 5, 10, 15]


def test_short_video_padding_and_multiple_of(tmp_path: Path):
    path = write_video(colour_frames(3), tmp_path / "short.mp4", fps=8)
    assert frame_ids(load_video(path, FramePolicy(num_frames=8))) == [0, 1, 2]  # no silent duplicates
    assert frame_ids(load_video(path, FramePolicy(num_frames=8, pad=True))) == [0, 1, 2] + [2] * 5
    assert frame_ids(load_video(path, FramePolicy(num_frames=8, multiple_of=2))) == [0, 1, 2, 2]
    assert frame_ids(load_video(path, FramePolicy(num_frames=2, multiple_of=2))) == [0, 2]
    assert FramePolicy(num_frames=8, multiple_of=2).padded_count(3) == 4


def test_video_pixel_budget_and_odd_sizes(tmp_path: Path):
    path = write_video(colour_frames(4, size=(33, 21)), tmp_path / "odd.mp4")
    assert {f.size for f in load_video(path, FramePolicy(max_pixels=None))} == {(34, 22)}  # padded to even
    frames = load_video(colour_frames(4, size=(400, 200)), FramePolicy(max_pixels=5000))
    assert all(f.width * f.height <= 5000 and f.size == (100, 50) for f in frames)


def test_frame_lists_arrays_and_load_media():
    arr = np.stack([np.full((H, W, 3), PALETTE[i], np.uint8) for i in range(10)])
    assert frame_ids(load_video(arr, FramePolicy(num_frames=3))) == [0, 4, 9]  # round(4.5) -> 4 (even)
    mixed = [arr[0], Image.fromarray(arr[1]), _png_bytes(arr[2])]
    assert frame_ids(load_video(mixed, FramePolicy(num_frames=8))) == [0, 1, 2]
    assert frame_ids(load_video(list(arr), FramePolicy(fps=1), source_fps=5)) == [0, 5]
    got = load_media("video", tuple(colour_frames(5)), FramePolicy(num_frames=2))
    assert isinstance(got, list) and frame_ids(got) == [0, 4]
    with pytest.raises(ValueError, match="kind"):
        load_media("audio", arr)


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_directory_of_frames_sorts_naturally(tmp_path: Path):
    d = tmp_path / "frames"
    d.mkdir()
    for n in (10, 2, 1, 33, 3):
        Image.new("RGB", (W, H), PALETTE[n % len(PALETTE)]).save(d / f"frame{n}.png")
    (d / "notes.txt").write_text("ignored")
    frames = load_video(d, FramePolicy(num_frames=8))
    assert frame_ids(frames) == [n % len(PALETTE) for n in (1, 2, 3, 10, 33)]


def test_bad_videos_raise_media_error_naming_the_item(tmp_path: Path, rgb_png: Path):
    with pytest.raises(MediaError, match=r"\(item 'v0'\): the video has no frames"):
        load_video([], name="v0")
    with pytest.raises(MediaError, match="no frames"):
        load_video(np.zeros((0, 8, 8, 3), np.uint8))
    empty_mp4 = tmp_path / "empty.mp4"  # a valid container with no frames
    with av.open(str(empty_mp4), "w") as c:
        s = c.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=8)
        s.width, s.height, s.pix_fmt = 16, 16, "yuv420p"
        c.start_encoding()
    with pytest.raises(MediaError, match=r"empty\.mp4 \(item 'v1'\)"):
        load_video(empty_mp4, name="v1")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(1).integers(0, 255, 4096, np.uint8).tobytes())
    with pytest.raises(MediaError, match=r"junk\.mp4 \(item 'v2'\): unreadable video"):
        load_video(junk, name="v2")
    (tmp_path / "no_frames").mkdir()
    with pytest.raises(MediaError, match="no frame images"):
        load_video(tmp_path / "no_frames")
    with pytest.raises(MediaError, match="is an image, not a video"):
        load_video(rgb_png)
    with pytest.raises(MediaError, match=r"\(item 'v3\[frame 1\]'\).*not a recognised image"):
        load_video([Image.new("RGB", (8, 8)), b"garbage-bytes"], name="v3")
    with pytest.raises(MediaError, match="differ in size"):
        load_video([Image.new("RGB", (8, 8)), Image.new("RGB", (8, 6))])
    with pytest.raises(MediaError, match="frame rate"):
        load_video(colour_frames(4), FramePolicy(fps=2))


# --------------------------------------------------------------------------------------------- content hash


def test_content_hash_stable_and_distinct(tmp_path: Path, rgb_png: Path):
    h = content_hash(rgb_png)
    assert len(h) == 64 and h == content_hash(str(rgb_png)) == content_hash(rgb_png.as_uri())
    assert h == content_hash(rgb_png.read_bytes())
    copy = tmp_path / "copy.png"
    copy.write_bytes(rgb_png.read_bytes())
    assert content_hash(copy) == h  # content, not name
    other = tmp_path / "other.png"
    Image.new("RGB", (30, 20)).save(other)
    assert content_hash(other) != h

    a, b = colour_frames(2)
    assert content_hash(a) == content_hash(a.copy()) != content_hash(b)
    assert content_hash(Image.new("RGB", (2, 3))) != content_hash(Image.new("RGB", (3, 2)))  # same bytes
    assert content_hash(Image.new("L", (6, 1))) != content_hash(Image.new("RGB", (2, 1)))
    assert content_hash([a, b]) == content_hash((a.copy(), b.copy())) != content_hash([b, a])
    arr = np.zeros((2, 3, 3), np.uint8)
    assert content_hash(arr) == content_hash(arr.copy()) != content_hash(arr.reshape(3, 2, 3))

    d = tmp_path / "frames"
    d.mkdir()
    for n in (10, 2):
        Image.new("RGB", (4, 4), PALETTE[n]).save(d / f"f{n}.png")
    assert (
        content_hash(d)
        == content_hash([d / "f2.png", d / "f10.png"])
        != content_hash([d / "f10.png", d / "f2.png"])
    )
    with pytest.raises(MediaError):
        content_hash(object())


def test_write_video_rejects_bad_input(tmp_path: Path):
    with pytest.raises(ValueError, match="no frames"):
        write_video([], tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="extension"):
        write_video(colour_frames(2), tmp_path / "x.xyz")
    with pytest.raises(ValueError, match="differ in size"):
        write_video([Image.new("RGB", (8, 8)), Image.new("RGB", (8, 6))], tmp_path / "x.mp4")

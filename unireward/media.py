"""Load and validate the images and videos that reward models judge.

Every item's media passes through here before it reaches a processor, so a broken file fails that one item
with a `MediaError` that names it and says what to change, instead of crashing a batch or being silently
"fixed". Videos are lists of RGB frames (the UnifiedReward protocol feeds videos as frames); which frames,
and at what size, is a `FramePolicy`, recorded in every verdict so results can be reproduced.

Accepted sources: a path (str / Path / `file://` URL), an `http(s)://` URL, a `data:` URL, raw bytes, a PIL
image or a numpy array; for videos also a container file (mp4, webm, mkv, avi, mov, gif), a directory of
frame images, a list/tuple of frames, or a T×H×W×3 array.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Refuse larger images before decoding them (a small PNG can claim 30000×30000 and take gigabytes).
# Kept below PIL's own warning threshold (~89.5 M pixels), so PIL's DecompressionBombWarning is never
# reached with the default; PIL's DecompressionBombError (2× its threshold) is turned into a MediaError.
MAX_IMAGE_PIXELS = 8192 * 8192
# Refuse downloads larger than this (bytes).
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
HTTP_TIMEOUT_S = 10.0

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".webm", ".mkv", ".avi", ".mov", ".gif", ".m4v"})


class MediaError(ValueError):
    """Bad media: the message names the item and says what to change."""


# ----------------------------------------------------------------------------------------------------------
# Frame policy


@dataclass(frozen=True)
class FramePolicy:
    """Which frames of a video are fed to the model, and at what size.

    Exactly one of `num_frames` (uniformly spaced over the whole clip, as LLaVA-Video does) and `fps`
    (one frame every 1/fps seconds, thinned uniformly to at most `max_frames`) is set; when neither is
    given, `num_frames` defaults to 8 (the protocol's frame count for inference and benchmarks).

    A clip with fewer frames than `num_frames` yields the frames it has; with `pad=True` the loader repeats
    the last frame up to `num_frames`. `multiple_of` makes the loader repeat the last frame until the count
    is a multiple of it (Qwen2-VL's temporal patch is 2: the judge sets 2 for Qwen-family models).
    `max_pixels` is the pixel budget per image and per frame: larger media is downscaled keeping its aspect
    ratio; None keeps the original size.
    """

    num_frames: int | None = None
    fps: float | None = None
    max_frames: int = 32
    max_pixels: int | None = 448 * 448
    multiple_of: int = 1
    pad: bool = False

    def __post_init__(self) -> None:
        if self.num_frames is None and self.fps is None:
            object.__setattr__(self, "num_frames", 8)
        if self.num_frames is not None and self.fps is not None:
            raise ValueError("FramePolicy: set either num_frames or fps, not both")
        if self.max_frames < 1:
            raise ValueError(f"FramePolicy: max_frames must be >= 1, got {self.max_frames}")
        if self.num_frames is not None and not 1 <= self.num_frames <= self.max_frames:
            raise ValueError(
                f"FramePolicy: num_frames must be in 1..max_frames ({self.max_frames}), got {self.num_frames}"
            )
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"FramePolicy: fps must be a positive number, got {self.fps}")
        if self.fps is not None and self.pad:
            raise ValueError("FramePolicy: pad applies to num_frames; with fps the count follows the clip")
        if self.max_pixels is not None and self.max_pixels < 1:
            raise ValueError(f"FramePolicy: max_pixels must be >= 1 or None, got {self.max_pixels}")
        if self.multiple_of < 1:
            raise ValueError(f"FramePolicy: multiple_of must be >= 1, got {self.multiple_of}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FramePolicy:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"FramePolicy: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    def sample_indices(self, total_frames: int, source_fps: float | None) -> list[int]:
        """Sorted, distinct indices of the frames to keep (padding is the loader's job).

        num_frames: round(linspace(0, total-1, n)); all frames when the clip has n or fewer.
        fps: one frame every source_fps/fps frames (needs source_fps), thinned uniformly to max_frames
        (rounded down to a multiple of `multiple_of`, so padding cannot exceed max_frames).
        """
        if total_frames < 0:
            raise ValueError(f"total_frames must be >= 0, got {total_frames}")
        if total_frames == 0:
            return []
        if self.num_frames is not None:
            if total_frames <= self.num_frames:
                return list(range(total_frames))
            return [int(i) for i in np.linspace(0, total_frames - 1, self.num_frames).round()]
        assert self.fps is not None
        if source_fps is None or not (math.isfinite(source_fps) and source_fps > 0):
            raise ValueError(
                "an fps frame policy needs the video's frame rate, which this source does not carry; "
                "pass source_fps or use FramePolicy(num_frames=...)"
            )
        step = source_fps / self.fps
        idx = sorted({int(math.floor(t + 1e-9)) for t in np.arange(0, total_frames, step)})
        idx = [i for i in idx if i < total_frames]
        cap = self.max_frames
        if cap >= self.multiple_of:
            cap -= cap % self.multiple_of
        if len(idx) > cap:
            idx = [idx[int(j)] for j in np.linspace(0, len(idx) - 1, cap).round()]
        return idx

    def padded_count(self, n: int) -> int:
        """How many frames the loader returns for `n` sampled frames (after `pad` and `multiple_of`)."""
        if n == 0:
            return 0
        if self.pad and self.num_frames is not None:
            n = max(n, self.num_frames)
        return -(-n // self.multiple_of) * self.multiple_of


# ----------------------------------------------------------------------------------------------------------
# Helpers


def _describe(src: Any) -> str:
    """A short, human-readable name for a source, for error messages."""
    if isinstance(src, (str, os.PathLike)):
        s = os.fspath(src)
        if s.startswith("data:"):
            return f"<data URL, {len(s)} chars>"
        return s if len(s) <= 200 else s[:100] + "…" + s[-60:]
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"<{len(src)} bytes>"
    if isinstance(src, Image.Image):
        return f"<PIL image {src.mode} {src.width}x{src.height}>"
    if isinstance(src, np.ndarray):
        return f"<array shape={src.shape} dtype={src.dtype}>"
    if isinstance(src, (list, tuple)):
        return f"<{type(src).__name__} of {len(src)} frames>"
    return f"<{type(src).__name__}>"


def _label(src: Any, name: str | None) -> str:
    return _describe(src) + (f" (item {name!r})" if name is not None else "")


def _err(src: Any, name: str | None, problem: str, fix: str) -> MediaError:
    return MediaError(f"{_label(src, name)}: {problem}; {fix}")


def _is_url(s: str, *schemes: str) -> bool:
    return any(s.lower().startswith(f"{scheme}:") for scheme in schemes)


def _local_path(src: str | os.PathLike) -> Path:
    s = os.fspath(src)
    if _is_url(s, "file"):
        parsed = urllib.parse.urlparse(s)
        return Path(urllib.request.url2pathname(parsed.path))
    return Path(s)


def _fetch(url: str, name: str | None) -> bytes:
    """Download an http(s) URL, or decode a data: URL, into bytes."""
    if _is_url(url, "data"):
        header, _, payload = url.partition(",")
        try:
            if header.endswith(";base64"):
                return base64.b64decode(payload, validate=True)
            return urllib.parse.unquote_to_bytes(payload)
        except ValueError as e:
            raise _err(url, name, f"malformed data URL ({e})", "check its base64 payload") from None
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as resp:
            data = resp.read(MAX_DOWNLOAD_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise _err(
            url, name, f"could not fetch it ({e})", "check the URL, or download it and pass its path"
        ) from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise _err(url, name, f"larger than {MAX_DOWNLOAD_BYTES} bytes", "download it and downscale it first")
    return data


def _read_source(src: str | os.PathLike, name: str | None) -> bytes | Path:
    """Resolve a str/Path source to bytes (URLs) or an existing, non-empty local file path."""
    s = os.fspath(src)
    if _is_url(s, "http", "https", "data"):
        return _fetch(s, name)
    path = _local_path(s)
    if not path.exists():
        raise _err(src, name, "no such file", "check the path (relative paths start at the working dir)")
    if path.is_file() and path.stat().st_size == 0:
        raise _err(src, name, "the file is empty", "re-export or replace it")
    return path


def _fit(img: Image.Image, max_pixels: int | None) -> Image.Image:
    """Downscale to at most `max_pixels`, keeping the aspect ratio (within rounding); never upscale."""
    w, h = img.size
    if max_pixels is None or w * h <= max_pixels:
        return img
    scale = math.sqrt(max_pixels / (w * h))
    nw, nh = max(1, math.floor(w * scale)), max(1, math.floor(h * scale))
    while nw * nh > max_pixels:  # floor can still overshoot when one side is clamped to 1
        if nw >= nh:
            nw -= 1
        else:
            nh -= 1
    return img.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=3.0)


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB, with transparency composited onto white (as qwen-vl-utils does) rather than dropped."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return img.convert("RGB")


def _check_size(w: int, h: int, src: Any, name: str | None) -> None:
    if w <= 0 or h <= 0:
        raise _err(src, name, f"zero-size image ({w}x{h})", "replace it with a non-empty image")
    if w * h > MAX_IMAGE_PIXELS:
        raise _err(
            src,
            name,
            f"{w}x{h} = {w * h} pixels > MAX_IMAGE_PIXELS ({MAX_IMAGE_PIXELS}), refused before decoding",
            "downscale it first (or raise unireward.media.MAX_IMAGE_PIXELS if you trust the source)",
        )


def _image_from_array(arr: np.ndarray, src: Any, name: str | None) -> Image.Image:
    if arr.dtype != np.uint8:
        raise _err(src, name, f"array dtype {arr.dtype}", "pass uint8 pixels in 0..255")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise _err(src, name, f"array shape {arr.shape}", "pass H×W, H×W×3 (RGB) or H×W×4 (RGBA)")
    _check_size(arr.shape[1], arr.shape[0], src, name)
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[arr.shape[2] if arr.ndim == 3 else 2]
    return _to_rgb(Image.fromarray(np.ascontiguousarray(arr), mode=mode))


def _decode_image(fp: Path | io.BytesIO, src: Any, name: str | None) -> Image.Image:
    """Open lazily, check the size from the header, then decode."""
    try:
        with Image.open(fp) as im:
            _check_size(im.width, im.height, src, name)
            im.load()
            im = ImageOps.exif_transpose(im)
            return _to_rgb(im)
    except MediaError:
        raise
    except Image.DecompressionBombError as e:
        raise _err(src, name, f"decompression bomb refused before decoding ({e})", "downscale it") from None
    except UnidentifiedImageError:
        raise _err(
            src, name, "not a recognised image format", "pass PNG, JPEG, WebP, BMP, GIF or TIFF"
        ) from None
    except Exception as e:  # truncated / corrupt data surfaces as OSError, SyntaxError, zlib.error, ...
        raise _err(
            src, name, f"corrupt or truncated image ({type(e).__name__}: {e})", "re-export or replace it"
        ) from None


# ----------------------------------------------------------------------------------------------------------
# Images


def load_image(src: Any, *, max_pixels: int | None = None, name: str | None = None) -> Image.Image:
    """Load one image as RGB, downscaled to `max_pixels` if given. Raises MediaError for bad media."""
    if isinstance(src, Image.Image):
        _check_size(src.width, src.height, src, name)
        try:
            src.load()
            img = _to_rgb(src)
        except Exception as e:
            raise _err(src, name, f"cannot read the PIL image ({e})", "pass a fully loaded image") from None
    elif isinstance(src, np.ndarray):
        img = _image_from_array(src, src, name)
    elif isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise _err(src, name, "no bytes", "pass the encoded image file's content")
        img = _decode_image(io.BytesIO(bytes(src)), src, name)
    elif isinstance(src, (str, os.PathLike)):
        got = _read_source(src, name)
        if isinstance(got, bytes):
            if not got:
                raise _err(src, name, "the download is empty", "check the URL")
            img = _decode_image(io.BytesIO(got), src, name)
        elif got.is_dir():
            raise _err(src, name, "is a directory", "pass an image file (a directory of frames is a video)")
        else:
            img = _decode_image(got, src, name)
    else:
        raise _err(
            src, name, "unsupported image source", "pass a path, URL, bytes, PIL image or H×W×3 uint8 array"
        )
    return _fit(img, max_pixels)


# ----------------------------------------------------------------------------------------------------------
# Videos


def _natural_key(s: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _frame_files(directory: Path) -> list[Path]:
    """Image files in a directory, sorted naturally (frame2 before frame10)."""
    files = [p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: _natural_key(p.name))


def _finish(frames: list[Image.Image], policy: FramePolicy, src: Any, name: str | None) -> list[Image.Image]:
    """Check that frames agree in size and pad by repeating the last frame (policy.pad, multiple_of)."""
    if not frames:
        raise _err(src, name, "the video has no frames", "pass a video with at least one frame")
    sizes = {f.size for f in frames}
    if len(sizes) > 1:
        raise _err(src, name, f"frames differ in size {sorted(sizes)}", "resize all frames to one size")
    return frames + [frames[-1]] * (policy.padded_count(len(frames)) - len(frames))


def _sample(policy: FramePolicy, total: int, fps: float | None, src: Any, name: str | None) -> list[int]:
    try:
        return policy.sample_indices(total, fps)
    except ValueError as e:
        raise MediaError(f"{_label(src, name)}: {e}") from None  # the message already says what to change


def _load_frame_list(
    frames: Sequence[Any], policy: FramePolicy, source_fps: float | None, src: Any, name: str | None
) -> list[Image.Image]:
    idx = _sample(policy, len(frames), source_fps, src, name)
    out = []
    for i in idx:
        frame_name = f"{name}[frame {i}]" if name is not None else f"frame {i} of {_describe(src)}"
        out.append(load_image(frames[i], max_pixels=policy.max_pixels, name=frame_name))
    return out


def _load_array_video(arr: np.ndarray, policy: FramePolicy, source_fps: float | None, name: str | None):
    if arr.ndim not in (3, 4):
        raise _err(arr, name, f"array shape {arr.shape}", "pass T×H×W×3 uint8 frames")
    if arr.ndim == 4:
        _check_size(arr.shape[2], arr.shape[1], arr, name)
    idx = _sample(policy, arr.shape[0], source_fps, arr, name)
    return [_fit(_image_from_array(arr[i], arr, name), policy.max_pixels) for i in idx]


def _open_container(opener: Callable[[], Any], src: Any, name: str | None):
    try:
        return av.open(opener())
    except (av.FFmpegError, OSError, ValueError) as e:
        raise _err(src, name, f"unreadable video container ({e})", "re-encode it (e.g. H.264 mp4)") from None


def _decode_container(
    opener: Callable[[], Any], policy: FramePolicy, src: Any, name: str | None
) -> list[Image.Image]:
    """Sequential decode keeping only the sampled frames (downscaled at once).

    The frame count comes from counting packets (no decoding; exact for ordinary containers, and webm/mkv
    carry no count). If decoding yields fewer frames than counted, sample again from the real count.
    """
    try:
        with _open_container(opener, src, name) as container:
            if not container.streams.video:
                raise _err(src, name, "no video stream", "pass a file that contains video")
            stream = container.streams.video[0]
            w, h = stream.codec_context.width, stream.codec_context.height
            if w and h:
                _check_size(w, h, src, name)
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else None
            total = sum(1 for packet in container.demux(stream) if packet.size)
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError) as e:
        raise _err(src, name, f"unreadable video container ({e})", "re-encode it (e.g. H.264 mp4)") from None
    if total == 0:
        raise _err(src, name, "the video has no frames", "pass a video with at least one frame")

    for _ in range(2):
        idx = _sample(policy, total, fps, src, name)
        wanted, last = set(idx), idx[-1]
        kept: dict[int, Image.Image] = {}
        decoded = 0
        try:
            with _open_container(opener, src, name) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for i, frame in enumerate(container.decode(stream)):
                    decoded = i + 1
                    if i in wanted:
                        _check_size(frame.width, frame.height, src, name)
                        kept[i] = _fit(frame.to_image(), policy.max_pixels)
                    if i >= last:
                        break
        except MediaError:
            raise
        except (av.FFmpegError, OSError, ValueError) as e:
            raise _err(src, name, f"corrupt video data ({e})", "re-encode it (e.g. H.264 mp4)") from None
        if len(kept) == len(idx):
            return [kept[i] for i in idx]
        if decoded == 0:
            break
        total = decoded  # the container over-reported its frames: resample from what decodes
    raise _err(src, name, "no decodable frames", "re-encode it (e.g. H.264 mp4)")


def load_video(
    src: Any, policy: FramePolicy | None = None, *, name: str | None = None, source_fps: float | None = None
) -> list[Image.Image]:
    """Load a video as a list of RGB frames chosen and sized by `policy`. Raises MediaError for bad media.

    `source_fps` gives the frame rate of frame lists, directories and arrays (needed only by fps policies);
    container files carry their own.
    """
    policy = policy or FramePolicy()
    if isinstance(src, np.ndarray):
        frames = _load_array_video(src, policy, source_fps, name)
    elif isinstance(src, (list, tuple)):
        frames = _load_frame_list(src, policy, source_fps, src, name)
    elif isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise _err(src, name, "no bytes", "pass the encoded video file's content")
        data = bytes(src)
        frames = _decode_container(lambda: io.BytesIO(data), policy, src, name)
    elif isinstance(src, (str, os.PathLike)):
        got = _read_source(src, name)
        if isinstance(got, bytes):
            frames = _decode_container(lambda: io.BytesIO(got), policy, src, name)
        elif got.is_dir():
            files = _frame_files(got)
            if not files:
                raise _err(src, name, "the directory holds no frame images", "put PNG/JPEG frames in it")
            frames = _load_frame_list(files, policy, source_fps, src, name)
        elif got.suffix.lower() in IMAGE_EXTENSIONS:
            raise _err(src, name, "is an image, not a video", "pass it as an image or as a list [path]")
        else:
            frames = _decode_container(lambda: str(got), policy, src, name)
    else:
        raise _err(
            src,
            name,
            "unsupported video source",
            "pass a video file, frame directory, frame list or T×H×W×3 array",
        )
    return _finish(frames, policy, src, name)


def load_media(
    kind: Literal["image", "video"], src: Any, policy: FramePolicy | None = None, *, name: str | None = None
) -> Image.Image | list[Image.Image]:
    """load_image (with the policy's pixel budget) or load_video, by `kind`."""
    policy = policy or FramePolicy()
    if kind == "image":
        return load_image(src, max_pixels=policy.max_pixels, name=name)
    if kind == "video":
        return load_video(src, policy, name=name)
    raise ValueError(f"unknown media kind {kind!r}; choose 'image' or 'video'")


# ----------------------------------------------------------------------------------------------------------
# Content hashes


def content_hash(src: Any) -> str:
    """A stable sha256 hex of the media's content, for caches (combine it with the FramePolicy yourself).

    Files and URLs hash their bytes (a directory: its naturally sorted frame files), PIL images their mode,
    size and raw pixels, arrays their dtype, shape and bytes, and frame lists the hashes of their frames.
    The same pixels given as a file and as a PIL image hash differently (it hashes the source, not a decode).
    """
    h = hashlib.sha256()
    if isinstance(src, Image.Image):
        h.update(f"pil:{src.mode}:{src.width}x{src.height}:".encode())
        h.update(src.tobytes())
    elif isinstance(src, np.ndarray):
        h.update(f"array:{src.dtype.str}:{src.shape}:".encode())
        h.update(np.ascontiguousarray(src).tobytes())
    elif isinstance(src, (bytes, bytearray, memoryview)):
        h.update(b"bytes:")
        h.update(bytes(src))
    elif isinstance(src, (list, tuple)):
        h.update(b"frames:")
        for frame in src:
            h.update(content_hash(frame).encode())
    elif isinstance(src, (str, os.PathLike)):
        got = _read_source(src, None)
        if isinstance(got, bytes):
            return content_hash(got)
        if got.is_dir():
            return content_hash(_frame_files(got))
        h.update(b"bytes:")
        with open(got, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    else:
        raise _err(src, None, "cannot hash this source", "pass a path, URL, bytes, PIL image, array or list")
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------------
# Writing


def _as_rgb_array(frame: Any) -> np.ndarray:
    if isinstance(frame, Image.Image):
        return np.asarray(_to_rgb(frame))
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(
            f"write_video: frames must be PIL images or H×W×3 uint8 arrays, got {arr.shape}/{arr.dtype}"
        )
    return arr


def _pal8_frame(arr: np.ndarray) -> av.VideoFrame:
    """A palettised frame with its own 256-colour palette (GIF keeps far more colour than rgb8)."""
    q = Image.fromarray(arr, "RGB").quantize(256)
    pal = np.zeros((256, 3), np.uint8)
    flat = np.asarray(q.getpalette() or [], np.uint8)[: 256 * 3]
    pal.reshape(-1)[: flat.size] = flat
    argb = np.concatenate([np.full((256, 1), 255, np.uint8), pal], axis=1)  # PyAV takes ARGB bytes
    return av.VideoFrame.from_ndarray((np.asarray(q, np.uint8), argb), format="pal8")


def write_video(frames: Sequence[Any] | np.ndarray, path: str | os.PathLike, fps: float = 8) -> Path:
    """Write frames (PIL images or H×W×3 uint8 arrays, all one size) to a video file chosen by extension.

    .mp4/.mov/.mkv/.m4v: H.264 (libx264 if PyAV has it, else MPEG-4 Part 2), yuv420p; odd sizes are padded
    by one edge pixel, since 4:2:0 needs even sizes. .webm: VP9. .avi: MPEG-4. .gif: per-frame palette.
    """
    path = Path(path)
    ext = path.suffix.lower()
    arrays = [_as_rgb_array(f) for f in frames]
    if not arrays:
        raise ValueError("write_video: no frames to write")
    if len({a.shape for a in arrays}) > 1:
        raise ValueError(f"write_video: frames differ in size: {sorted({a.shape for a in arrays})}")
    h, w = arrays[0].shape[:2]
    rate = Fraction(fps).limit_denominator(1001)
    if ext == ".gif":
        codec, pix_fmt = "gif", "pal8"
    elif ext in (".mp4", ".mov", ".mkv", ".m4v"):
        codec, pix_fmt = ("libx264" if "libx264" in av.codecs_available else "mpeg4"), "yuv420p"
    elif ext == ".webm":
        codec, pix_fmt = ("libvpx-vp9" if "libvpx-vp9" in av.codecs_available else "libvpx"), "yuv420p"
    elif ext == ".avi":
        codec, pix_fmt = "mpeg4", "yuv420p"
    else:
        raise ValueError(f"write_video: unsupported extension {ext!r}; use .mp4 .mov .mkv .webm .avi .gif")
    if pix_fmt == "yuv420p" and (h % 2 or w % 2):
        arrays = [np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") for a in arrays]
        h, w = h + h % 2, w + w % 2
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if codec == "libx264":
            stream.options = {"crf": "18"}
        for a in arrays:
            frame = _pal8_frame(a) if pix_fmt == "pal8" else av.VideoFrame.from_ndarray(a, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path

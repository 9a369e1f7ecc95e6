"""An episode's frames as a video file: an animated GIF (Pillow) or an MP4 (imageio's ffmpeg).

The extension of the file picks the format (:data:`FORMATS`); :func:`check_video_path` refuses
any other in one line, and says what to install when the MP4 writer is missing, so a command
can check its output path before any work. :func:`write_video` writes the file atomically (a
temporary sibling, then ``os.replace``: an existing file is replaced whole or left as it was)
and returns the number of frames the written file holds, read back from it: Pillow's GIF
writer merges consecutive identical frames into one (adding up their durations, so the
animation's timing is kept), so a GIF may hold fewer frames than were rendered.

Pillow and imageio are imported inside the functions: ``import marlpipe.tracking`` loads neither.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from marlpipe.errors import UserError, require
from marlpipe.io import atomic_path

FORMATS = {".gif": "GIF", ".mp4": "MP4"}
"""The video formats written, by file extension (lower case)."""


def check_video_path(path: str | os.PathLike) -> str:
    """The extension of ``path`` (``.gif`` or ``.mp4``) once it is known to be writable here;
    a :class:`~marlpipe.errors.UserError` naming the extension and the accepted ones otherwise,
    or saying what to install when the writer of that format is missing."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        given = f"unsupported extension '{Path(path).suffix}'" if suffix else "no extension"
        raise UserError(f"{path}: {given}: expected {' or '.join(FORMATS)}")
    if suffix == ".gif":
        require("PIL.Image", "Writing a GIF")
    else:
        require("imageio_ffmpeg", "Writing an MP4")
        require("imageio", "Writing an MP4")
    return suffix


def write_video(frames: Sequence[Any], path: str | os.PathLike, fps: int = 10) -> int:
    """Write ``frames`` (RGB arrays of one size, ``height x width x 3`` uint8) to ``path`` at
    ``fps`` frames a second, as its extension says; return the frames in the written file."""
    suffix = check_video_path(path)
    if not frames:
        raise ValueError(f"{path}: no frames to write")
    with atomic_path(path, suffix) as tmp:
        write = _write_gif if suffix == ".gif" else _write_mp4
        count = write(frames, str(tmp), fps)
    return count


def _write_gif(frames: Sequence[Any], path: str, fps: int) -> int:
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    # GIF delays are in hundredths of a second: 1000 // fps ms is what the GIF can hold.
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=1000 // fps, loop=0)  # fmt: skip
    with Image.open(path) as written:
        return int(getattr(written, "n_frames", 1))


def _write_mp4(frames: Sequence[Any], path: str, fps: int) -> int:
    import imageio.v3 as iio
    import imageio_ffmpeg
    import numpy as np

    # H.264 in yuv420p needs an even width and height: pad an odd one by a repeated edge pixel.
    video = np.stack([np.asarray(frame, dtype=np.uint8) for frame in frames])
    height, width = video.shape[1:3]
    video = np.pad(video, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    iio.imwrite(path, video, plugin="FFMPEG", extension=".mp4", fps=fps, codec="libx264",
                pixelformat="yuv420p", macro_block_size=2)  # fmt: skip
    return int(imageio_ffmpeg.count_frames_and_secs(path)[0])


__all__ = ["FORMATS", "check_video_path", "write_video"]

"""Episodes as video files: GIF or MP4 by extension, frame counts read back, atomic replaces."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from marlpipe.errors import UserError
from marlpipe.tracking.video import check_video_path, write_video


def frames(count: int = 8, height: int = 24, width: int = 32) -> list[np.ndarray]:
    """``count`` distinct frames, then the last one twice more (an episode's end often looks
    the same as the step before it)."""
    out = []
    for i in range(count):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[:, : 1 + i * width // count] = (200, 40 + 20 * i, 90)  # a bar that grows
        out.append(frame)
    return out + [out[-1].copy(), out[-1].copy()]


def gif_frames(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return image.n_frames


def test_a_gif_count_is_the_frames_in_the_file(tmp_path: Path):
    rendered = frames()
    count = write_video(rendered, tmp_path / "elite.gif", fps=10)
    assert (tmp_path / "elite.gif").read_bytes()[:6] == b"GIF89a"
    # Pillow merged the two repeats into the frame before them (their delays added up).
    assert count == gif_frames(tmp_path / "elite.gif") == len(rendered) - 2
    from PIL import Image

    with Image.open(tmp_path / "elite.gif") as image:
        image.seek(count - 1)
        assert image.info["duration"] == 3 * 100  # the last frame shows for three frames' time


def test_an_mp4_is_an_mp4_with_every_frame(tmp_path: Path):
    import imageio.v3 as iio

    rendered = frames(height=25, width=33)  # odd sizes: H.264 needs even ones
    path = tmp_path / "elite.mp4"
    count = write_video(rendered, path, fps=12)
    data = path.read_bytes()
    assert data[4:8] == b"ftyp" and b"GIF" not in data[:16]  # an ISO media file, not a GIF
    back = list(iio.imiter(path, plugin="FFMPEG"))
    assert count == len(back) == len(rendered)
    assert back[0].shape == (26, 34, 3)  # padded by one row and one column
    meta = iio.immeta(path, plugin="FFMPEG")
    assert meta["fps"] == pytest.approx(12) and meta["codec"] == "h264"
    # Lossy, but the picture is the one drawn: the bar's width in the middle frame.
    middle = back[4][12, :33, 0] > 100
    assert abs(int(middle.sum()) - (1 + 4 * 33 // 8)) <= 2


@pytest.mark.parametrize("name", ["elite.avi", "elite.png", "elite.webm", "elite"])
def test_other_extensions_are_refused_in_one_line(tmp_path: Path, name: str):
    path = tmp_path / name
    with pytest.raises(UserError) as err:
        write_video(frames(), path)
    message = str(err.value)
    assert "\n" not in message and message.endswith("expected .gif or .mp4")
    extension = os.path.splitext(name)[1]
    assert (f"unsupported extension '{extension}'" if extension else "no extension") in message
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert check_video_path(tmp_path / "ELITE.GIF") == ".gif"  # the case does not matter


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_an_existing_file_is_replaced_whole_or_left_as_it_was(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / f"elite{suffix}"
    path.write_bytes(b"the previous video")
    before = path.stat().st_ino
    count = write_video(frames(), path)
    assert path.read_bytes() != b"the previous video" and count >= 8
    assert path.stat().st_ino != before  # a new file renamed over the old, not rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    # A writer that fails half-way leaves the file as it was, and no temporary file.
    written = path.read_bytes()
    from PIL import Image

    def broken_save(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"half a video")
        raise OSError("disk full")

    import imageio.v3 as iio

    monkeypatch.setattr(Image.Image, "save", broken_save)
    monkeypatch.setattr(iio, "imwrite", lambda uri, *a, **k: broken_save(None, uri))
    with pytest.raises(OSError, match="disk full"):
        write_video(frames(), path)
    assert path.read_bytes() == written
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_no_frames_is_an_error(tmp_path: Path):
    with pytest.raises(ValueError, match="no frames"):
        write_video([], tmp_path / "elite.gif")
    assert not (tmp_path / "elite.gif").exists()

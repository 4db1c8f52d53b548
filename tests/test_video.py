"""Video: flow, warping, masks and the warping error on a clip whose flow is known; clip IO; the CLI."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import FAST_COMPILE, run_cli

from jaxstyle.io import load_image, save_image
from jaxstyle.video.flow import (
    endpoint_error,
    flow,
    occlusion_lai,
    reliability_ruder,
    warp,
    warping_error_pair,
)
from jaxstyle.video.io import probe, read_frames, write_video
from jaxstyle.video.metrics import warping_error
from jaxstyle.video.synthetic import PanZoom


@pytest.fixture(scope="module")
def pan(content_paths) -> PanZoom:
    return PanZoom(load_image(content_paths[-1]), frames=8, shape=(48, 64), pan=(1.0, 0.4), zoom=0.004)


def test_dis_flow_matches_the_known_flow_of_a_pan_and_zoom(pan):
    estimate = flow(pan.frame(3), pan.frame(4))
    truth = pan.true_flow(3)
    assert np.abs(truth).max() > 0.8  # the clip moves
    assert endpoint_error(estimate, truth) < 0.35
    assert endpoint_error(np.zeros_like(truth), truth) > 0.6  # a flow of zeros would fail


def test_warp_with_the_forward_flow_carries_the_next_frame_back(pan):
    a, b = pan.frame(3), pan.frame(4)
    inner = np.s_[6:-6, 6:-6]
    aligned = np.abs(warp(b, pan.true_flow(3)) - a)[inner].mean()
    assert aligned < 0.5 * np.abs(b - a)[inner].mean()
    assert aligned < 0.5 * np.abs(warp(b, -pan.true_flow(3)) - a)[inner].mean()  # the direction matters


def test_masks_keep_consistent_flow_and_drop_broken_round_trips_and_leaving_pixels():
    h, w = 24, 32
    shift = np.zeros((h, w, 2), np.float32)
    shift[..., 0] = 3.0  # everything moves 3 px right
    assert not occlusion_lai(shift, -shift).any()
    assert occlusion_lai(shift, np.zeros_like(shift)).all()  # no way back: all occluded
    c = reliability_ruder(-shift, shift)  # frame t looks 3 px left for its previous pixel
    # Ruder's bilinear-cell rule also drops the last row and column (their cell leaves the frame).
    assert c[3:-3, 6:-3].min() == pytest.approx(1.0)  # the 5-tap smoothing reaches 2 pixels in
    assert c[:, 0].max() == 0.0 and c[:, :3].max() < 0.5  # their previous position is outside the frame


def test_warping_error_is_low_for_the_clip_itself_and_rises_with_flicker(pan):
    frames = list(pan)
    rng = np.random.default_rng(0)
    flicker = [np.clip(f + rng.normal(0, 0.05, f.shape).astype(np.float32), 0, 1) for f in frames]
    steady = warping_error(frames, frames)
    assert steady < 1e-3
    assert warping_error(frames, flicker) > 5 * steady
    assert warping_error_pair(frames[0], frames[0], np.zeros((48, 64, 2), np.float32),
                              np.zeros((48, 64, 2), np.float32)) == 0.0


def test_a_video_round_trips_with_its_frame_rate_and_audio(tmp_path, pan):
    import imageio_ffmpeg

    wav = tmp_path / "tone.wav"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=0.5", str(wav)], check=True)
    path = tmp_path / "clip.mp4"
    assert write_video(path, iter(pan), 12.0, audio_from=wav) == pan.frames
    info = probe(path)
    assert (info.fps, info.size, info.audio) == (12.0, (64, 48), True)
    frames = list(read_frames(info))
    assert len(frames) == pan.frames
    assert np.abs(frames[2] - pan.frame(2)).mean() < 0.05  # lossy, but the same picture


def _folder_clip(tmp_path, pan, name="frames"):
    folder = tmp_path / name
    for t, frame in enumerate(pan):
        save_image(folder / f"f{t:03d}.png", frame)
    return folder


def test_video_cli_streams_a_feed_forward_clip_in_one_program_resumes_and_blends(tmp_path, pan, style_paths,
                                                                                   capsys):
    clip = tmp_path / "pan.mp4"
    write_video(clip, iter(pan), 10.0)
    out = tmp_path / "out.mp4"
    args = ["video", str(clip), str(out), "--method", "ghiasi", "--style", str(style_paths[0]), "--size", "48"]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    summary = stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{pan.frames} frames ({pan.frames} stylized") and "frames/s" in summary
    per_frame = float(summary.rsplit(" ", 1)[1])
    info = probe(out)
    assert info.fps == 10.0 and len(list(read_frames(info))) == pan.frames
    compiled = int(summary.split("programs compiled")[0].rsplit(" ", 2)[-2])
    # A killed run: the last frame's file is gone; the re-run writes only it.
    frames = sorted((tmp_path / "out.mp4.frames").glob("*__*.png"))
    frames[-1].unlink()
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    assert f"skipping {pan.frames - 1} of {pan.frames}" in stdout
    assert stdout.count("wrote ") == 2  # the frame and the video
    code, stdout, err = run_cli([*args, "--temporal", "--blend", "0.8"], capsys)
    assert code == 0, err
    temporal = float(stdout.strip().rsplit(" ", 1)[1])
    assert temporal < per_frame
    code, stdout, _ = run_cli(["eval", "--video", str(tmp_path / "out.mp4.frames" / "blended"),
                               "--content", str(tmp_path / "out.mp4.frames" / "content")], capsys)
    assert code == 0 and float(stdout.split()[2]) == pytest.approx(temporal, rel=1e-3)
    assert compiled <= 4  # the style, the network: not one per frame or batch
    assert json.loads((tmp_path / "out.mp4.frames" / "video-metrics.json").read_text())["frames"] == pan.frames


@pytest.mark.parametrize("make", ["garbage", "no_frames", "empty_folder", "missing"])
def test_a_bad_or_empty_clip_gets_one_line_and_exit_2(tmp_path, make, style_paths, capsys):
    import imageio_ffmpeg

    if make == "garbage":
        source = tmp_path / "bad.mp4"
        source.write_text("not a video")
    elif make == "no_frames":  # an audio-only file: a container with no video frames
        source = tmp_path / "silent.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                        "sine=frequency=440:duration=0.3", str(source)], check=True)
    elif make == "empty_folder":
        source = tmp_path / "empty"
        source.mkdir()
    else:
        source = tmp_path / "nope.mp4"
    out = tmp_path / "out"
    code, stdout, err = run_cli(["video", str(source), str(out), "--method", "ghiasi", "--style",
                                 str(style_paths[0]), "--size", "32"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert not out.exists()


def test_video_refuses_flags_its_method_does_not_declare(tmp_path, pan, style_paths, capsys):
    folder = _folder_clip(tmp_path, pan)
    code, _, err = run_cli(["video", str(folder), str(tmp_path / "o"), "--method", "ghiasi", "--style",
                            str(style_paths[0]), "--steps", "3"], capsys)
    assert code == 2 and "--method ghiasi does not take --steps" in err
    code, _, err = run_cli(["video", str(folder), str(tmp_path / "o"), "--method", "ghiasi", "--style",
                            str(style_paths[0]), str(style_paths[1])], capsys)
    assert code == 2 and "one --style" in err and not (tmp_path / "o").exists()


@pytest.mark.slow  # ~1 min: a subprocess with 4 fake CPU devices loads and compiles ghiasi
def test_feed_forward_frames_are_sharded_over_the_devices_in_one_program(tmp_path, pan, style_paths):
    from conftest import run_python

    folder = _folder_clip(tmp_path, pan)
    code = f"""
import jax
from jaxstyle.cli import main
assert len(jax.devices()) == 4
raise SystemExit(main(["video", "{folder}", "{tmp_path / 'out'}", "--method", "ghiasi", "--style",
                       "{style_paths[0]}", "--size", "32", "--batch", "1"]))
"""
    proc = run_python(code, env={"XLA_FLAGS": f"--xla_force_host_platform_device_count=4 {FAST_COMPILE}", "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{pan.frames} frames ({pan.frames} stylized")
    assert len(list((tmp_path / "out").glob("*__*.png"))) == pan.frames
    # 8 frames in batches of 1 per device x 4 devices: two calls of the same program
    assert int(summary.split(" programs compiled")[0].rsplit(" ", 1)[1]) <= 4

"""What a video "path" may open (issue 19, items 1 and 8): local files, opted-in http(s) URLs, nothing else.

Each attack of the issue is reproduced against local files or a server on 127.0.0.1 and shown refused or
bounded; the legitimate paths (a local file, a file whose name holds a ':', an http URL the caller opted into)
are shown to still work.
"""

from __future__ import annotations

import http.server
import os
import re
import select
import shutil
import socket
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from surgical_skill import limits
from surgical_skill.testing_utils import make_test_video, write_raw_h264
from surgical_skill.video import (
    ProxySettings,
    VideoDecodeError,
    decode_frames,
    prepare_proxies,
    probe,
    transcode_proxy,
    write_video,
)
from surgical_skill.video import metadata as metadata_module
from surgical_skill.video.sources import check_source, url_scheme
from tests.helpers import run_cli

FRAMES = 20


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A local clip (faststart MP4, keyframe every 5 frames) and the same clip as MPEG-TS."""
    root = tmp_path_factory.mktemp("sources")
    make_test_video(root / "clip.mp4", FRAMES, keyframe_interval=5)
    make_test_video(root / "clip.ts", FRAMES, keyframe_interval=5)
    return root


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: dict[str, bytes], redirects: dict[str, str]):
        super().__init__(("127.0.0.1", 0), _RangeHandler)
        self.files, self.redirects, self.requests = files, redirects, []

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{name}"


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves bytes with ``Range`` support (FFmpeg seeks over http with it) and answers redirects."""

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        if self.path in self.server.redirects:
            self.send_response(302)
            self.send_header("Location", self.server.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start, end = 0, len(data) - 1
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        if wanted:
            start = int(wanted[1])
            end = min(end, int(wanted[2])) if wanted[2] else end
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start : end + 1])

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(folder):
    """A real http server on 127.0.0.1 serving the clip, and a redirect from /redirect.mp4 to file:///..."""
    served = _Server(
        {"/clip.mp4": (folder / "clip.mp4").read_bytes()},
        {"/redirect.mp4": f"file://{folder / 'clip.mp4'}"},
    )
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


def refused_quickly(call, seconds: float = 10.0) -> Exception:
    """Run ``call`` in a thread and return the error it raised; fail if it is still running after ``seconds`` (an
    unguarded FFmpeg would hang connected or listening) or if it returned."""
    outcome = {}

    def target():
        try:
            outcome["value"] = call()
        except Exception as err:  # the refusal under test
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: not refused"
    assert "error" in outcome, f"opened: {outcome.get('value')!r}"
    return outcome["error"]


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def attacks(folder, server) -> dict[str, str]:
    """The issue's proofs of concept, each naming a local file or the test server."""
    clip = folder / "clip.mp4"
    return {
        "file": f"file://{clip}",
        "concat": f"concat:file://{clip}|file://{clip}",
        "subfile": f"subfile,,start,0,end,0,,:file://{clip}",
        "async": f"async:file://{clip}",
        "cache": f"cache:{server.url('clip.mp4')}",
    }


@pytest.mark.parametrize("name", ["file", "concat", "subfile", "async", "cache"])
@pytest.mark.parametrize("allow_urls", [False, True])
def test_other_protocols_are_refused_by_probe_and_decode(folder, server, name, allow_urls):
    source = attacks(folder, server)[name]
    before = len(server.requests)
    for call in (
        lambda: probe(source, allow_urls=allow_urls),
        lambda: decode_frames(source, [0], allow_urls=allow_urls),
    ):
        err = refused_quickly(call)
        assert isinstance(err, VideoDecodeError), err
        assert f"the {url_scheme(source)!r} protocol is not allowed" in err.reason
        assert "\n" not in str(err)
    assert len(server.requests) == before  # cache:http://... never reached the server


def test_the_protocols_would_open_without_the_guard(folder):
    """The refusals above are not vacuous: this FFmpeg opens such strings when nothing stops it."""
    clip = folder / "clip.mp4"
    with av.open(f"concat:file://{clip}|file://{clip}") as container:
        assert container.streams.video


@pytest.mark.parametrize("allow_urls", [False, True])
def test_tcp_is_refused_without_connecting(allow_urls):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        err = refused_quickly(lambda: probe(f"tcp://127.0.0.1:{port}", allow_urls=allow_urls))
        assert isinstance(err, VideoDecodeError) and "'tcp' protocol is not allowed" in err.reason
        readable, _, _ = select.select([listener], [], [], 0.2)
        assert not readable  # no connection was ever made to the listening socket


@pytest.mark.parametrize("allow_urls", [False, True])
def test_tcp_listen_is_refused_and_nothing_listens(allow_urls):
    port = free_port()
    err = refused_quickly(lambda: decode_frames(f"tcp://127.0.0.1:{port}?listen=1", [0], allow_urls=allow_urls))
    assert isinstance(err, VideoDecodeError) and "'tcp' protocol is not allowed" in err.reason
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_http_url_needs_the_opt_in(server):
    url = server.url("clip.mp4")
    before = len(server.requests)
    for call in (lambda: probe(url), lambda: decode_frames(url, [0])):
        err = refused_quickly(call)
        assert isinstance(err, VideoDecodeError) and "allow_urls=True" in err.reason
    assert len(server.requests) == before


def test_http_url_with_opt_in_reads_the_same_frames_as_the_file(folder, server):
    url = server.url("clip.mp4")
    remote, local = probe(url, allow_urls=True), probe(folder / "clip.mp4")
    assert remote.path == url and remote.file_size is None
    assert remote.total_num_frames == local.total_num_frames == FRAMES
    assert remote.keyframe_indices.tolist() == local.keyframe_indices.tolist() == [0, 5, 10, 15]
    assert (remote.width, remote.height, remote.fps) == (local.width, local.height, local.fps)
    indices = [*range(FRAMES), 13, 2]  # every frame, then seeks back
    assert torch.equal(decode_frames(url, indices, allow_urls=True), decode_frames(folder / "clip.mp4", indices))
    # with the metadata of an opted-in probe, decoding reads the URL it names
    assert torch.equal(decode_frames(url, [3], metadata=remote), decode_frames(folder / "clip.mp4", [3]))
    # the probe cache never serves a URL without the opt-in
    with pytest.raises(VideoDecodeError, match="allow_urls=True"):
        probe(url)
    # torchcodec opens with FFmpeg's defaults (no protocol list, no timeouts): local files only
    with pytest.raises(VideoDecodeError, match="local files only"):
        decode_frames(url, [0], backend="torchcodec", allow_urls=True)


def test_a_redirect_to_a_local_file_is_refused(server):
    before = len(server.requests)
    with pytest.raises(VideoDecodeError, match="not a readable video file"):
        probe(server.url("redirect.mp4"), allow_urls=True)
    assert server.requests[before:] and server.requests[before][0] == "/redirect.mp4"  # refused after the redirect


def test_a_server_that_never_answers_fails_within_the_timeout():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # the kernel accepts connections; nobody ever answers them
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/clip.mp4"
        with limits.limited(url_connect_timeout_s=0.5, url_read_timeout_s=0.5):
            start = time.monotonic()
            err = refused_quickly(lambda: probe(url, allow_urls=True), seconds=20)
            took = time.monotonic() - start
        assert isinstance(err, VideoDecodeError) and "did not answer in time" in err.reason, err
        assert took < 5, took


def test_a_local_file_whose_name_looks_like_a_protocol_opens_as_a_file(folder, tmp_path, monkeypatch):
    for name in ("concat:x.mp4", "subfile,,start,0,end,0,,:x.mp4"):
        shutil.copy(folder / "clip.mp4", tmp_path / name)
    monkeypatch.chdir(tmp_path)
    for name in ("concat:x.mp4", "subfile,,start,0,end,0,,:x.mp4"):
        meta = probe(f"./{name}")
        assert meta.total_num_frames == FRAMES
        assert torch.equal(decode_frames(f"./{name}", [4]), decode_frames(folder / "clip.mp4", [4]))
        assert probe(tmp_path / name).total_num_frames == FRAMES  # an absolute path too
        assert probe(Path(name)).total_num_frames == FRAMES  # a pathlib.Path can only mean a local file
        # without "./" the name reads as a protocol: refused, and the message says how to mean the file
        with pytest.raises(VideoDecodeError, match=re.escape(f"./{name}")):
            probe(name)


def test_local_text_files_that_make_ffmpeg_open_other_files_are_refused(folder, tmp_path):
    """An ffconcat script or HLS playlist in the dataset (named like a video or not) must not read its targets."""
    shutil.copy(folder / "clip.mp4", tmp_path / "clip.mp4")
    shutil.copy(folder / "clip.ts", tmp_path / "clip.ts")
    concat = tmp_path / "trial.mp4"
    concat.write_text("ffconcat version 1.0\nfile clip.mp4\n")
    playlist = tmp_path / "trial.m3u8"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1,\nclip.ts\n#EXT-X-ENDLIST\n"
    )
    for path in (concat, playlist):
        # the attack is real: confined to the file protocol alone, FFmpeg follows the text to the other file
        with av.open(f"file:{path}", options={"protocol_whitelist": "file"}) as container:
            assert container.format.name in ("concat", "hls") and next(container.decode(video=0))
        for call in (lambda path=path: probe(path), lambda path=path: decode_frames(path, [0])):
            err = refused_quickly(call)
            assert isinstance(err, VideoDecodeError) and "concat scripts" in err.reason, err


def test_root_confines_local_paths(tmp_path):
    root, outside = tmp_path / "dataset", tmp_path / "elsewhere"
    root.mkdir(), outside.mkdir()
    (root / "a.mp4").write_bytes(b"x")
    (outside / "secret.mp4").write_bytes(b"x")
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    assert check_source(root / "a.mp4", root=root) == str(root / "a.mp4")
    for escape in (root / ".." / "elsewhere" / "secret.mp4", root / "link.mp4"):
        with pytest.raises(VideoDecodeError, match="outside the dataset root"):
            check_source(escape, root=root)
    with pytest.raises(VideoDecodeError, match="inside the dataset root"):
        check_source("http://127.0.0.1/a.mp4", allow_urls=True, root=root)


def test_a_symlink_then_dotdot_opens_the_file_the_check_saw(folder, tmp_path):
    """The OS follows a symlink before "..": the file checked against the root is the file FFmpeg opens (it was
    opened from the path with ".." removed as text: another file, outside the root)."""
    root = tmp_path / "root"
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "fmt").mkdir()
    (tmp_path / "fmt").mkdir()
    shutil.copy(folder / "clip.mp4", root / "a" / "fmt" / "f.mp4")  # inside: 24 frames
    make_test_video(tmp_path / "fmt" / "f.mp4", 10)  # outside: 10 frames
    (root / "l").symlink_to(root / "a" / "b" / "c")
    tricky = root / "l" / ".." / ".." / "fmt" / "f.mp4"
    assert os.path.realpath(tricky) == str(root / "a" / "fmt" / "f.mp4")
    assert check_source(str(tricky), root=root) == str(tricky)
    assert probe(str(tricky)).total_num_frames == FRAMES
    assert decode_frames(str(tricky), [FRAMES - 1]).shape[0] == 1


def test_https_through_an_http_proxy_reaches_the_proxy(monkeypatch):
    """With http_proxy set (hospital networks), FFmpeg's https goes through its httpproxy protocol: allowed."""
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(1)
    seen = []

    def answer():
        connection, _ = proxy.accept()
        connection.settimeout(5)
        seen.append(connection.recv(200))
        connection.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.getsockname()[1]}")
    with limits.limited(url_connect_timeout_s=3, url_read_timeout_s=3), pytest.raises(VideoDecodeError):
        probe("https://videos.example.org/x.mp4", allow_urls=True)  # the proxy answers nothing useful
    thread.join(5)
    proxy.close()
    assert seen and seen[0].startswith(b"CONNECT videos.example.org:443 ")


def test_an_upper_case_scheme_is_read_as_ffmpeg_names_it(server):
    url = server.url("clip.mp4")
    assert check_source("HTTP" + url[4:], allow_urls=True) == url
    assert probe("HTTP" + url[4:], allow_urls=True).total_num_frames == FRAMES


@pytest.fixture(scope="module")
def big_video(tmp_path_factory):
    """Black 2048x2048 frames: a few kB that decode to 12 MB each (the issue's 8192x8192 file, smaller)."""
    black = (np.zeros((2048, 2048, 3), np.uint8) for _ in range(2))
    return write_video(tmp_path_factory.mktemp("big") / "big.mp4", black, 30, preset="ultrafast")


def test_pixel_budget_refuses_before_any_frame_is_decoded(big_video, monkeypatch):
    decoded = []
    real = metadata_module._decode_first_frame
    monkeypatch.setattr(metadata_module, "_decode_first_frame", lambda *a: decoded.append(1) or real(*a))
    with limits.limited(max_frame_pixels=1024 * 1024):
        for call in (lambda: probe(big_video), lambda: decode_frames(big_video, [0], size=64)):
            with pytest.raises(limits.ResourceLimitError) as caught:
                call()
            message = str(caught.value)
            assert "max_frame_pixels" in message and "2048x2048" in message and str(big_video) in message
    assert not decoded
    # within the budget (the default) it reads; a later, lower budget is still enforced on the cached probe
    assert probe(big_video).width == 2048
    assert decode_frames(big_video, [1], size=32).shape == (1, 3, 32, 32)
    with limits.limited(max_frame_pixels=2048 * 2048 - 1), pytest.raises(limits.ResourceLimitError):
        probe(big_video)
    meta = probe(big_video)
    with limits.limited(max_frame_pixels=1024 * 1024), pytest.raises(limits.ResourceLimitError):
        decode_frames(big_video, [0], metadata=meta)  # the metadata is trusted, the file's size is checked again


def test_frame_budget_stops_the_scan(folder, tmp_path):
    path = make_test_video(tmp_path / "thirty.mp4", 30, keyframe_interval=5)
    with limits.limited(max_video_frames=10):
        for call in (lambda path=path: probe(path), lambda path=path: decode_frames(path, [0])):
            with pytest.raises(limits.ResourceLimitError, match=r"more than 10 frames.*max_video_frames"):
                call()
    with limits.limited(max_video_frames=30):  # exactly at the budget is allowed
        assert probe(path).total_num_frames == 30
    with limits.limited(max_video_frames=29), pytest.raises(limits.ResourceLimitError, match="30 frames"):
        probe(path)  # cached under a larger budget, refused under this one


def test_probe_command_prints_one_line_for_a_refused_protocol(folder, server):
    source = f"concat:file://{folder / 'clip.mp4'}|file://{folder / 'clip.mp4'}"
    result = run_cli("probe", source)
    assert result.returncode == 1 and not result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'concat' protocol is not allowed" in lines[0] and "Traceback" not in result.stderr
    refused = run_cli("probe", server.url("clip.mp4"))
    assert refused.returncode == 1 and "--allow-urls" in refused.stderr
    allowed = run_cli("probe", server.url("clip.mp4"), "--allow-urls")
    assert allowed.returncode == 0 and f"{FRAMES} frames" in allowed.stdout


def test_probe_command_reports_a_budget_per_file(big_video, folder):
    with limits.limited(max_frame_pixels=1024 * 1024):
        result = run_cli("probe", str(big_video), str(folder / "clip.mp4"))
    assert result.returncode == 1
    assert "max_frame_pixels" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert f"{FRAMES} frames" in result.stdout  # the other file is still probed


def test_a_device_or_pipe_is_not_read(tmp_path):
    fifo = tmp_path / "trial.mp4"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    for path in (fifo, "/dev/zero"):
        err = refused_quickly(lambda path=path: probe(path))
        assert isinstance(err, VideoDecodeError) and "not a regular file" in err.reason, err


def test_frames_that_grow_past_the_declared_size_are_refused_when_decoded(tmp_path):
    """A raw h264 stream can declare small frames and switch to large ones later (a second SPS): the budget is
    checked on every decoded frame too, not only on what the header declared."""
    small = write_raw_h264(make_test_video(tmp_path / "s.mp4", 10, height=64, width=64), tmp_path / "s.h264")
    large = write_raw_h264(make_test_video(tmp_path / "l.mp4", 4, height=512, width=512), tmp_path / "l.h264")
    growing = tmp_path / "growing.h264"
    growing.write_bytes(small.read_bytes() + large.read_bytes())
    with limits.limited(max_frame_pixels=128 * 128):
        assert probe(growing).width == 64  # declared and first frame within the budget
        assert decode_frames(growing, [0, 9], size=32).shape == (2, 3, 32, 32)
        with pytest.raises(limits.ResourceLimitError, match=r"a decoded frame is 512x512.*max_frame_pixels"):
            decode_frames(growing, [0, 12], size=32)


def test_proxies_are_made_of_local_files_only(folder, server, tmp_path):
    url = server.url("clip.mp4")
    before = len(server.requests)
    with pytest.raises(VideoDecodeError, match="allow_urls=True"):
        transcode_proxy(url, tmp_path / "proxy.mp4", ProxySettings())
    report = prepare_proxies([url, f"concat:file://{folder / 'clip.mp4'}"], tmp_path / "cache", progress=False)
    assert not report.proxies and len(report.failures) == 2  # each read as a local path, and no such file
    assert len(server.requests) == before and not (tmp_path / "proxy.mp4").exists()

"""What a push publishes (issue 19, items 3 and 5): a run made from a manifest with absolute paths and
real-looking surgeon IDs gives a folder with no absolute path, no surgeon ID and no token in any file; the
per-video files only on request, pseudonymised; a private repository unless asked; no token on the command line;
data-derived text in the card stays literal Markdown."""

import csv
import hashlib
import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from surgical_skill.errors import UsageError
from surgical_skill.evaluation.evaluate import evaluate_model
from surgical_skill.evaluation.report import ReportExistsError
from surgical_skill.files import MARKER
from surgical_skill.hub import (
    NEUTRAL_DATASET_NAME,
    HubPushError,
    _public_report_markdown,
    check_dataset_name,
    dataset_name,
    model_card,
    prepare_hub_folder,
    public_recipe,
    push_run,
)
from surgical_skill.markup import markdown_inline
from surgical_skill.pipeline import run_inference
from surgical_skill.training import save_recipe
from surgical_skill.training.data_setup import load_data
from surgical_skill.training.runs import write_split_record
from tests.helpers import run_cli, save_tiny_model, tiny_arguments, write_manifest

FAKE_TOKEN = "hf_FakeTokenForTheLeakTest0123456789abcd"


def _surgeon(subject: str) -> str:
    return f"dr-anna-meyer-{subject}"  # as a hospital's staff list would name a surgeon


@pytest.fixture(scope="module")
def private_run(tiny_run, synthetic_manifest, tmp_path_factory):
    """A run as training leaves it (recipe.yaml, splits.json, model/, eval/) from a manifest whose videos are
    absolute paths and whose subjects are surgeons' names; recipe paths under the home folder too."""
    model_dir, _ = tiny_run
    root = tmp_path_factory.mktemp("private").resolve()
    with synthetic_manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["video"] = str((synthetic_manifest.parent / row["video"]).resolve())
        row["subject"] = _surgeon(row["subject"])
    (root / "suturing study").mkdir()
    manifest = write_manifest(root / "suturing study" / "metadata.csv", rows, fields=list(rows[0]))
    run = root / "run"
    shutil.copytree(model_dir, run / "model")
    model_args, data_args, training_args = tiny_arguments(manifest, run)
    data = load_data(data_args)
    write_split_record(run, data, data_args)
    # Recorded only (the tiny run does not use them): paths a recipe can hold, under the home folder too
    model_args.backbone_weights = str(Path.home() / "weights" / "X3D_S.pyth")
    data_args.proxy_dir = str(root / "proxies")
    data_args.cv_fold_file = str(Path.home() / "folds" / "fold.csv")
    data_args.dataset_options = {"notes_file": str(root / "notes.txt")}
    save_recipe(run / "recipe.yaml", model_args, data_args, training_args)
    evaluate_model(run / "model", data["test"], run / "eval", clips_per_video=2, num_workers=0, bootstrap_samples=50)
    subjects = sorted({row["subject"] for row in rows})
    return run, root, subjects


def _leaks(folder: Path, needles: list[str]) -> list[tuple[str, str]]:
    """Each (file, needle) where a needle appears in a file's bytes: text, JSON, PNG chunks, safetensors header."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [(str(path.relative_to(folder)), n) for n in needles if n.encode() in data]
    return found


def test_a_pushed_folder_holds_no_path_no_surgeon_and_no_token(private_run, tmp_path, monkeypatch):
    run, root, subjects = private_run
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    recipe = (run / "recipe.yaml").read_text()
    assert str(root) in recipe and str(Path.home()) in recipe  # the attack's material is really there
    assert all(s in (run / "splits.json").read_text() for s in subjects)
    predictions = (run / "eval" / "predictions.csv").read_text()
    assert str(root.parent) in predictions and any(s in predictions for s in subjects)

    out = tmp_path / "out"
    result = run_cli("push", run, "--repo-id", "lab/suturing-skill", "--output-dir", out)
    assert result.returncode == 0, result.stderr
    assert _leaks(out, [str(root), str(root.parent), str(Path.home()), *subjects, FAKE_TOKEN]) == []

    assert {p.name for p in (out / "eval").iterdir()}.isdisjoint(
        {"predictions.csv", "misclassified.csv", "timelines.png"}
    )
    assert (out / "eval" / "metrics.json").exists() and (out / "eval" / "confusion_matrix.png").exists()
    card = (out / "README.md").read_text()
    assert "## What this folder leaves out" in card and "predictions.csv" in card and "personal data" in card
    assert "Trained and evaluated on **suturing study** (local data)." in card  # named by its folder, not located
    shown = yaml.safe_load(card.split("```yaml\n")[1].split("\n```")[0])
    assert shown["dataset"] == "metadata.csv" and shown["output_dir"] == "run"
    assert shown["backbone_weights"] == "X3D_S.pyth" and shown["cv_fold_file"] == "fold.csv"
    assert shown["proxy_dir"] == "<local path>" and shown["dataset_options"] == {"notes_file": "notes.txt"}
    report = (out / "eval" / "report.md").read_text()
    assert "timelines.png" not in report and "misclassified.csv" not in report and "## Confusion matrix" in report


def test_the_published_folder_still_loads_and_scores(private_run, tmp_path):
    """Scrubbing touches the card and the report only: the folder loads with transformers' Auto class and
    scores a video as the run's own model does."""
    from transformers import AutoModelForVideoClassification

    run, _, _ = private_run
    out = prepare_hub_folder(run, tmp_path / "out", "lab/suturing-skill")
    model = AutoModelForVideoClassification.from_pretrained(out)
    assert model.config.id2label == AutoModelForVideoClassification.from_pretrained(run / "model").config.id2label
    video = next(csv.DictReader((run / "eval" / "predictions.csv").open()))["video"]
    published, own = run_inference(out, video, num_clips=2), run_inference(run / "model", video, num_clips=2)
    assert published["label"] == own["label"] and published["probabilities"] == pytest.approx(own["probabilities"])


def test_predictions_on_request_name_videos_by_file_and_surgeons_by_a_salted_hash(private_run, tmp_path):
    run, root, subjects = private_run
    result = run_cli("push", run, "--repo-id", "lab/x", "--output-dir", tmp_path / "a", "--include-predictions")
    assert result.returncode == 0, result.stderr
    eval_dir = tmp_path / "a" / "eval"
    assert {"predictions.csv", "misclassified.csv", "timelines.png"} <= {p.name for p in eval_dir.iterdir()}
    assert _leaks(tmp_path / "a", [str(root), str(root.parent), *subjects]) == []
    original = list(csv.DictReader((run / "eval" / "predictions.csv").open()))
    published = list(csv.DictReader((eval_dir / "predictions.csv").open()))
    assert [row["video"] for row in published] == [Path(row["video"]).name for row in original]
    assert all(re.fullmatch(r"subject-[0-9a-f]{12}", row["subject"]) for row in published)
    # one surgeon, one pseudonym; two surgeons, two
    pairs = {(o["subject"], p["subject"]) for o, p in zip(original, published)}
    assert len(pairs) == len({o for o, _ in pairs}) == len({p for _, p in pairs})
    assert [row["p_higher-skilled"] for row in published] == [row["p_higher-skilled"] for row in original]
    # salted: not the plain hash of the ID, and a second push (a new salt) gives other pseudonyms
    plain = {hashlib.sha256(s.encode()).hexdigest()[:12] for s in subjects}
    assert not plain & {row["subject"].removeprefix("subject-") for row in published}
    run_cli("push", run, "--repo-id", "lab/x", "--output-dir", tmp_path / "b", "--include-predictions")
    again = list(csv.DictReader((tmp_path / "b" / "eval" / "predictions.csv").open()))
    assert {row["subject"] for row in again}.isdisjoint({row["subject"] for row in published})
    card = (tmp_path / "a" / "README.md").read_text()
    assert "salted hash" in card and "kept nowhere" in card


def test_a_run_note_with_a_path_is_published_as_a_file_name(private_run, tmp_path):
    """Decode notes name videos by their path (``decode_notes``); the card and metrics.json keep the file name."""
    run, root, _ = private_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    metrics = json.loads((copy / "eval" / "metrics.json").read_text())
    broken = root / "my videos" / "S9 trial 1.mp4"
    metrics["notes"].append(f"1 video(s) could not be decoded and are left out of every figure: {broken}.")
    (copy / "eval" / "metrics.json").write_text(json.dumps(metrics))
    out = prepare_hub_folder(copy, tmp_path / "out", "lab/x")
    assert _leaks(out, [str(root), "my videos"]) == []
    assert "left out of every figure: S9 trial 1.mp4." in (out / "README.md").read_text()
    assert "S9 trial 1.mp4" in json.loads((out / "eval" / "metrics.json").read_text())["notes"][-1]


def test_a_folder_that_would_still_leak_is_refused_whole(private_run, tmp_path, monkeypatch):
    """The last check before the folder is complete: a file carrying the token (here the model's config, as a
    careless ``save_pretrained`` could) stops the push and leaves nothing behind."""
    run, _, _ = private_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    config = json.loads((copy / "model" / "config.json").read_text())
    (copy / "model" / "config.json").write_text(json.dumps({**config, "hub_token": FAKE_TOKEN}))
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    result = run_cli("push", copy, "--repo-id", "lab/x", "--output-dir", tmp_path / "out")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "refusing to publish config.json: it holds the Hub token" in result.stderr
    assert FAKE_TOKEN not in result.stderr and not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_the_token_is_never_taken_from_the_command_line(private_run, tmp_path):
    run, _, _ = private_run
    result = run_cli("push", run, "--repo-id", "lab/x", "--token", "hf_secret", "--output-dir", tmp_path / "out")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: --token is not accepted: a token on the command line shows in `ps` and in the shell's history; "
        "set HF_TOKEN in the environment or run `hf auth login`, then push again"
    ]
    assert not (tmp_path / "out").exists()
    both = run_cli("push", run, "--repo-id", "lab/x", "--public", "--private")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


class _Hub(BaseHTTPRequestHandler):
    """A Hub on 127.0.0.1 that records each request and refuses it (403), as a Hub refuses a bad token."""

    seen: ClassVar[list[dict]] = []

    def _refuse(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        payload = b'{"error": "refused by the test Hub"}'
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_HEAD = _refuse

    def log_message(self, *args):
        pass


def _serve_hub(monkeypatch, handler) -> ThreadingHTTPServer:
    """``handler`` served on 127.0.0.1 as the Hub huggingface_hub talks to, with the fake token in HF_TOKEN."""
    from huggingface_hub import constants

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    return server


@pytest.fixture
def local_hub(monkeypatch):
    server = _serve_hub(monkeypatch, _Hub)
    _Hub.seen = []
    yield _Hub.seen
    server.shutdown()
    server.server_close()


def _created(seen: list[dict]) -> dict:
    created = [r for r in seen if r["path"] == "/api/repos/create"]
    assert created, seen
    return {**json.loads(created[0]["body"]), "auth": created[0]["auth"]}


def test_a_push_creates_a_private_repository_with_the_token_from_the_environment(private_run, local_hub):
    run, _, _ = private_run
    with pytest.raises(HubPushError, match=r"could not push .* as lab/x"):
        push_run(run, "lab/x")
    created = _created(local_hub)
    assert created["visibility"] == "private" and created["auth"] == f"Bearer {FAKE_TOKEN}"
    local_hub.clear()
    result = run_cli("push", run, "--repo-id", "lab/x", "--public")
    assert result.returncode == 2 and "could not push" in result.stderr and FAKE_TOKEN not in result.stderr
    assert _created(local_hub)["visibility"] == "public"


def test_card_text_from_the_data_stays_literal_markdown(tmp_path):
    """A label with a newline and a ``<script>``, a score name with a pipe, and a recipe value holding a backtick
    fence: the card renders one classes line, escaped HTML and one recipe block that holds the whole recipe."""
    markdown_it = pytest.importorskip("markdown_it")
    run = tmp_path / "run"
    labels = ["novice\n| injected | row |", "<script>alert(1)</script>"]
    save_tiny_model(run / "model", id2label=labels)
    hostile = "a\n```\n# Injected heading\n<img src=x onerror=alert(1)>"
    (run / "recipe.yaml").write_text(yaml.safe_dump({"dataset": "/data/x.csv", "view": hostile, "num_epochs": 1}))
    card = model_card(run, "lab/x", dataset="JIGSAWS <b>suturing</b>")
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(card.text)
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<h1>Injected heading</h1>" not in html and "<td>injected</td>" not in html
    classes = [line for line in card.text.splitlines() if "Classes:" in line]
    assert len(classes) == 2 and all(markdown_inline(labels[0]) in line for line in classes)
    blocks = re.findall(r'<code class="language-yaml">(.*?)</code>', html, re.S)
    assert len(blocks) == 1 and "# Injected heading" in blocks[0] and "num_epochs: 1" in blocks[0]


def test_datasets_are_named_not_located():
    assert dataset_name("/home/alice/studies/jigsaws") == ("jigsaws", None)
    assert dataset_name("/home/alice/studies/suturing/metadata.csv") == ("suturing", None)
    assert dataset_name("C:\\Users\\alice\\ratings.xlsx") == ("ratings", None)
    assert dataset_name("~/data/") == ("data", None)
    assert dataset_name("my-lab/jigsaws-suturing") == ("my-lab/jigsaws-suturing", "my-lab/jigsaws-suturing")
    assert check_dataset_name(" JIGSAWS suturing ") == "JIGSAWS suturing"
    for two_lines in ("a\nb", "a\u2028# b", "a\tb"):
        with pytest.raises(UsageError, match="one line of text"):
            check_dataset_name(two_lines)
    recipe = public_recipe(
        {
            "model_name_or_path": "/srv/models/run3/model",
            "resume_from_checkpoint": "latest",
            "backbone_weights": "https://dl.example.org/x3d_s.pyth?token=abc",
            "model_config": {"note": "copied from /home/alice/x.yaml"},
            "dataset": "lab/suturing",
        }
    )
    assert recipe == {
        "model_name_or_path": "model",
        "resume_from_checkpoint": "latest",
        "backbone_weights": "x3d_s.pyth",
        "model_config": {"note": "copied from x.yaml"},
        "dataset": "lab/suturing",
    }
    assert public_recipe({"model_name_or_path": "facebook/x3d"})["model_name_or_path"] == "facebook/x3d"


def test_score_names_from_the_data_cannot_break_the_card_tables(tmp_path):
    markdown_it = pytest.importorskip("markdown_it")
    save_tiny_model(
        tmp_path / "run" / "model", target_names=["grs | <i>x</i>", "time\nmotion"], score_ranges=[[1, 5]] * 2
    )
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(model_card(tmp_path / "run", "lab/x").text)
    table = html.split("<th>score</th>")[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)  # the body rows: the header row began before the split
    assert len(rows) == 2 and all(row.count("<td>") == 3 for row in rows)
    assert "<td>grs | &lt;i&gt;x&lt;/i&gt;</td>" in rows[0] and "<i>" not in html


class _AcceptingHub(BaseHTTPRequestHandler):
    """A Hub on 127.0.0.1 that holds one repository, ``lab/x`` (public or private as the test sets it, holding
    an earlier push's files), and accepts commits to it, recording each request."""

    seen: ClassVar[list[dict]] = []
    private: ClassVar[bool] = False
    files: ClassVar[list[str]] = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append({"method": self.command, "path": self.path, "body": body})
        route = self.path.split("?")[0]
        if route == "/api/repos/create":
            status, payload = 409, {"error": "You already created this model repo", "url": f"{self.base}/lab/x"}
        elif route == "/api/models/lab/x" or route.startswith("/api/models/lab/x/revision/"):
            status, payload = 200, {"id": "lab/x", "private": self.private, "sha": "0" * 40}
        elif route.startswith("/api/models/lab/x/tree/"):
            status, payload = 200, [{"type": "file", "path": p, "size": 1, "oid": "1" * 40} for p in self.files]
        elif route.startswith("/api/models/lab/x/preupload/"):
            files = json.loads(body)["files"]
            status = 200
            payload = {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
        elif route == "/api/validate-yaml":  # the model card's metadata: accepted
            status, payload = 200, {}
        elif route.startswith("/api/models/lab/x/commit/"):
            status, payload = 200, {"commitUrl": f"{self.base}/lab/x/commit/{'2' * 40}", "commitOid": "2" * 40}
        else:
            status, payload = 404, {"error": f"not emulated: {self.command} {self.path}"}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    @property
    def base(self):
        return f"http://127.0.0.1:{self.server.server_port}"

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def accepting_hub(monkeypatch):
    server = _serve_hub(monkeypatch, _AcceptingHub)
    _AcceptingHub.seen, _AcceptingHub.private = [], False
    _AcceptingHub.files = ["README.md", "config.json", "eval/predictions.csv", "eval/old-notes.md", "notes.txt"]
    yield _AcceptingHub
    server.shutdown()
    server.server_close()


def _commits(seen: list[dict]) -> list[list[dict]]:
    """Each commit the Hub received, as its list of operations (huggingface_hub sends NDJSON lines)."""
    return [
        [json.loads(line) for line in r["body"].splitlines() if line.strip()]
        for r in seen
        if "/commit/" in r["path"] and r["method"] == "POST"
    ]


def test_an_existing_public_repository_is_refused_unless_public_is_asked(private_run, accepting_hub):
    """create_repo(exist_ok=True) leaves an existing repository's visibility as it is: a private push into a
    public repository would publish. It is refused before anything is uploaded; with --public it goes ahead and
    says what it really is."""
    run, _, _ = private_run
    result = run_cli("push", run, "--repo-id", "lab/x")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "lab/x already exists on the Hub and is public, so nothing was uploaded" in result.stderr
    assert not [r for r in accepting_hub.seen if "/preupload/" in r["path"] or "/commit/" in r["path"]]
    assert any(r["path"].startswith("/api/models/lab/x") for r in accepting_hub.seen)  # it did ask the Hub
    accepting_hub.seen.clear()
    public = run_cli("push", run, "--repo-id", "lab/x", "--public")
    assert public.returncode == 0, public.stderr
    assert public.stdout.startswith("pushed (public): ") and len(_commits(accepting_hub.seen)) == 1


def test_a_push_into_a_private_repository_replaces_what_earlier_pushes_left(private_run, accepting_hub):
    """An earlier push's eval/predictions.csv (paths, surgeons) must not stay on the Hub beside a push that
    leaves the per-video files out: the commit deletes the eval/ files it did not write, keeps the repository's
    other files, and uploads no folder marker."""
    run, _, _ = private_run
    accepting_hub.private = True
    pushed = push_run(run, "lab/x")
    assert pushed.private is True
    (commit,) = _commits(accepting_hub.seen)
    deleted = {op["value"]["path"] for op in commit if op["key"] == "deletedFile"}
    added = {op["value"]["path"] for op in commit if op["key"] == "file"}
    assert deleted == {"eval/predictions.csv", "eval/old-notes.md"}
    assert {"README.md", "config.json", "eval/metrics.json"} <= added
    assert not [p for p in added if p.endswith(MARKER)]
    result = run_cli("push", run, "--repo-id", "lab/x")  # the CLI says what the Hub says
    assert result.returncode == 0 and result.stdout.startswith("pushed (private): "), result.stderr


def test_the_published_folder_carries_no_folder_marker(private_run, tmp_path):
    """The run's model folder is marked ("surgical-skill made this, it may be replaced"); a downloaded model
    must not say so, nor may the folder uploaded by hand."""
    run, _, _ = private_run
    assert (run / "model" / MARKER).is_file()  # the marker really is in what is copied
    out = prepare_hub_folder(run, tmp_path / "out", "lab/x", include_predictions=True)
    assert [str(p.relative_to(out)) for p in out.rglob(MARKER)] == []
    assert (out / "config.json").is_file() and (out / "eval" / "predictions.csv").is_file()
    with pytest.raises(ReportExistsError, match="is not empty"):  # a second export is refused all the same
        prepare_hub_folder(run, out, "lab/x")


def test_signed_urls_are_published_as_their_file_name(private_run, tmp_path):
    """Videos given as URLs (opt-in) can be signed: neither a note nor the per-video CSV keeps the query string
    (the signature), the host or the fragment."""
    run, _, _ = private_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    signed = "https://bucket.example/private/v.mp4?X-Amz-Signature=abc123&X-Amz-Credential=AKIA42"
    metrics = json.loads((copy / "eval" / "metrics.json").read_text())
    metrics["notes"].append(f"1 video(s) could not be decoded: {signed}.")
    (copy / "eval" / "metrics.json").write_text(json.dumps(metrics))
    rows = list(csv.DictReader((copy / "eval" / "predictions.csv").open()))
    rows[0]["video"] = signed
    rows[1]["video"] = "http://host.example/a/w.mp4#t=10"
    write_manifest(copy / "eval" / "predictions.csv", rows, fields=list(rows[0]))
    out = prepare_hub_folder(copy, tmp_path / "out", "lab/x", include_predictions=True)
    assert _leaks(out, ["X-Amz", "abc123", "AKIA42", "bucket.example", "host.example", "t=10"]) == []
    published = list(csv.DictReader((out / "eval" / "predictions.csv").open()))
    assert [row["video"] for row in published[:2]] == ["v.mp4", "w.mp4"]
    assert "could not be decoded: v.mp4." in (out / "README.md").read_text()
    # the last check before the folder is complete knows the signature too: a file that still holds it is refused
    config = json.loads((copy / "model" / "config.json").read_text())
    (copy / "model" / "config.json").write_text(json.dumps({**config, "source": signed}))
    with pytest.raises(UsageError, match=r"refusing to publish config\.json: it holds the query string of a video"):
        prepare_hub_folder(copy, tmp_path / "again", "lab/x")
    assert not (tmp_path / "again").exists()


def test_a_home_folder_never_names_the_dataset(tmp_path):
    """A generic manifest (metadata.csv) is named after its folder, but a home folder is named after a person,
    on this machine or any other (a container's home is not the machine's): a neutral name, and the card says
    how to name it."""
    for dataset in (
        "/home/alice/metadata.csv",
        "/Users/alice/labels.csv",
        "C:\\Users\\alice\\manifest.csv",
        str(Path.home() / "metadata.csv"),
        "/home/alice",
    ):
        assert dataset_name(dataset) == (NEUTRAL_DATASET_NAME, None), dataset
    assert dataset_name("/home/alice/suturing/metadata.csv") == ("suturing", None)  # a real folder name stays
    assert dataset_name("/home/alice/ratings.xlsx") == ("ratings", None)
    run = tmp_path / "run"
    save_tiny_model(run / "model")
    (run / "recipe.yaml").write_text(yaml.safe_dump({"dataset": "/home/alice/metadata.csv"}))
    card = model_card(run, "lab/x").text
    assert "alice" not in card and "`surgical-skill push --dataset-name NAME` names it" in card
    assert "Trained and evaluated on **jigsaws** (local data)." in model_card(run, "lab/x", dataset="jigsaws").text


def test_a_unicode_line_separator_in_a_label_does_not_start_a_line_in_the_report():
    """splitlines() splits on U+2028 (and U+2029, \\x85): the text after one would become a heading of its own
    in the published report.md. Only "\\n" ends a line."""
    markdown_it = pytest.importorskip("markdown_it")
    report = "# Evaluation\n\n| class | recall |\n|---|---|\n| novice\u2028# Injected heading | 0.5 |\n\nDone.\n"
    published = _public_report_markdown(report, [], {})
    assert published == report
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(published)
    assert "<h1>Injected heading</h1>" not in html and html.count("<h1>") == 1

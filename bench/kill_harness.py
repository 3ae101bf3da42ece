"""Kill harness (issue #15): SIGKILL a process that is editing a project, then prove nothing
released was lost and nothing on disk is damaged.

    .venv/bin/python bench/kill_harness.py --rounds 300 --seed 1

Each round starts a worker process (`kill_harness.py worker`) on the same project. Through the
core APIs the app uses, it keeps painting and erasing keyframes (full masks and hint strokes,
two objects), autosaving the manifest, saving a model before naming it in the manifest (the
app's order), caching results under a tag, and exporting mattes (PNG 8/16, TIFF 16, EXR, with
cutouts). Before each save it reports what it is about to write and after the save returns it
reports the save as done (a stroke is "released" once its save returned, as in the app). The
harness kills it with SIGKILL after a random delay, then checks:

- the project opens (core.project.load_project) and no keyframe is skipped;
- every keyframe, the manifest and the model file hold the last state reported done, or the
  one that was being written when the kill came (never a third, never a mix);
- every file in the project and export folders decodes (PNG, TIFF, EXR, JSON, the model with
  `torch.load(weights_only=True)`); temp files are counted and must not look like frames;
- an export's status file is readable, and every frame it says is done is on disk.

The suite runs a few rounds (tests/core/test_kill_harness.py); the numbers of the long run go
into docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.errors import RotoshotError  # noqa: E402
from core.export import read_exr  # noqa: E402
from core.export_job import EXPORT_STATUS, ExportStatus  # noqa: E402
from core.project import (  # noqa: E402
    Project,
    ProjectSettings,
    load_project,
    save_manifest,
)

NUM_FRAMES = 8
WIDTH, HEIGHT = 128, 96
OBJECT_IDS = (1, 2)
MATTE_EXTENSIONS = {"png8": ".png", "png16": ".png", "tiff16": ".tif", "exr": ".exr"}
EXPORT_FOLDERS = ("1_hero", "2_side_kick")  # core.export_job.safe_name of the two objects
TEMP_NAME = re.compile(r"^\..+\.part[^/]*$")
FRAME_LIKE = re.compile(r"\.(png|tif|tiff|exr|dpx|jpg|jpeg)$", re.I)


def manifest_digest(project: Project) -> str:
    """What the worker changes in the manifest: opacity (autosave) and the model fingerprint."""
    return f"{project.settings.overlay_opacity:.4f}|{project.model_fingerprint}"


def make_shot(root: Path) -> tuple[Path, Path, Path]:
    """A clip of NUM_FRAMES noise frames, an empty two-object project and an export folder."""
    clip, project_dir, export = root / "clip", root / "shot", root / "export"
    clip.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(NUM_FRAMES):
        frame = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        cv2.imwrite(str(clip / f"plate.{1001 + i}.png"), frame)
    project = Project(str(clip), settings=ProjectSettings())
    project.objects.append(project.next_object("hero"))
    project.objects.append(project.next_object("side kick"))
    save_manifest(project_dir, project)
    export.mkdir()
    return clip, project_dir, export


# --- the worker: edits the project until it is killed --------------------------------------


class KeyframeSegmenter:
    """A FrameSegmenter answering each object's nearest keyframe (the harness checks writing,
    not segmentation, and a network would only slow the rounds down)."""

    def __init__(self, source, store) -> None:
        self.source, self.store = source, store

    def segment_frame(self, frame_idx: int):
        from core.segmentation import FrameResult

        probs = np.zeros((len(OBJECT_IDS), HEIGHT, WIDTH), np.float32)
        for k, object_id in enumerate(OBJECT_IDS):
            frames = [f for o, f in self.store.keys() if o == object_id]
            if frames:
                nearest = min(frames, key=lambda f: abs(f - frame_idx))
                probs[k] = self.store.get(object_id, nearest)
        labels = np.where(probs.max(0) > 0.5, probs.argmax(0) + 1, 0).astype(np.uint8)
        return FrameResult(frame_idx, probs, labels)


def run_worker(project_dir: Path, export_dir: Path, seed: int) -> None:
    """Edit the project forever, reporting `begin`/`done KIND KEY DIGEST` around every save."""
    import torch

    from core.export_job import ExportJob, ExportObject, run_export_job
    from core.model.build import build_model, save_checkpoint
    from core.project import save_annotation, save_result, tag_results
    from core.video import open_frames

    rng = np.random.default_rng(seed)
    project, store = load_project(project_dir, (WIDTH, HEIGHT), NUM_FRAMES)
    source = open_frames(project.source_path)
    model, _ = build_model(weights="imagenet")  # the app's network: a 12 MB model file

    def report(*words) -> None:
        sys.stdout.write(" ".join(str(w) for w in words) + "\n")
        sys.stdout.flush()

    def paint() -> None:
        object_id, frame_idx = int(rng.choice(OBJECT_IDS)), int(rng.integers(NUM_FRAMES))
        roll = rng.random()
        if roll < 0.05:
            store.set(object_id, frame_idx, None)
            mask = known = None
        else:
            yy, xx = np.mgrid[:HEIGHT, :WIDTH]
            cy, cx, r = rng.integers(HEIGHT), rng.integers(WIDTH), rng.integers(3, 30)
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            before = store.get(object_id, frame_idx)
            mask = np.zeros((HEIGHT, WIDTH), bool) if before is None else before.copy()
            mask = mask & ~disc if roll < 0.25 else mask | disc  # erase or paint
            known = None
            if roll > 0.8:  # hint strokes: painted pixels only
                known = store.known(object_id, frame_idx)
                known = disc.copy() if known is None else known | disc
            store.set(object_id, frame_idx, mask, known)
            mask, known = store.get(object_id, frame_idx), store.known(object_id, frame_idx)
        key = f"key:{object_id}:{frame_idx}"
        digest = store.digest(object_id, frame_idx) or "-"
        report("begin", key, digest)
        save_annotation(project_dir, object_id, frame_idx, mask, known)
        report("done", key, digest)

    def autosave(fingerprint: str | None = None) -> None:
        project.settings.overlay_opacity = round(float(rng.random()), 4)
        if fingerprint is not None:
            project.model_fingerprint = fingerprint
        digest = manifest_digest(project)
        report("begin", "manifest", digest)
        save_manifest(project_dir, project)
        report("done", "manifest", digest)

    def train() -> None:
        fingerprint = store.fingerprint()
        with torch.no_grad():
            for parameter in list(model.parameters())[-4:]:  # the head
                parameter.normal_()
        report("begin", "model", fingerprint)
        save_checkpoint(model, project_dir / "model.pt", extra={"fingerprint": fingerprint})
        report("done", "model", fingerprint)
        autosave(fingerprint)  # the manifest names a model only once it is on disk
        report("begin", "results", fingerprint)
        tag_results(project_dir, fingerprint, OBJECT_IDS)
        for frame_idx in range(NUM_FRAMES):
            probs = rng.integers(0, 256, (len(OBJECT_IDS), HEIGHT, WIDTH), dtype=np.uint8)
            save_result(project_dir, frame_idx, probs)
        report("done", "results", fingerprint)

    def export() -> None:
        fmt = str(rng.choice(list(MATTE_EXTENSIONS)))
        objects = tuple(ExportObject(o.object_id, o.name) for o in project.objects)
        job = ExportJob(
            str(export_dir), 0, NUM_FRAMES - 1, objects, fmt=fmt, cutouts=bool(rng.random() < 0.5)
        )
        segmenter = KeyframeSegmenter(source, store)
        report("begin", "export", fmt)
        for _ in run_export_job(job, segmenter, source.stems, list(OBJECT_IDS)):
            pass
        report("done", "export", fmt)

    report("ready")
    actions = [paint] * 12 + [autosave] * 3 + [train, export]
    while True:
        actions[int(rng.integers(len(actions)))]()


# --- the harness: kill, reopen, check ----------------------------------------------------------


@dataclass
class Journal:
    """What the worker reported: per key the last state done and the one in flight, if any."""

    done: dict[str, str] = field(default_factory=dict)
    in_flight: dict[str, str] = field(default_factory=dict)
    saves: int = 0

    def take(self, line: str) -> None:
        words = line.split()
        if len(words) != 3:
            return
        verb, key, digest = words
        if verb == "begin":
            self.in_flight[key] = digest
        elif verb == "done":
            self.done[key] = digest
            self.in_flight.pop(key, None)
            self.saves += 1

    def allowed(self, key: str, initial: str) -> set[str]:
        states = {self.done.get(key, initial)}
        if key in self.in_flight:
            states.add(self.in_flight[key])
        return states

    def settle(self, key: str, found: str) -> None:
        """After a check: what is on disk is the state the next round starts from."""
        self.done[key] = found
        self.in_flight.pop(key, None)


def _decodes(path: Path) -> bool:
    suffix = path.suffix.lower()
    try:
        if suffix in (".png", ".tif", ".tiff"):
            return cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None
        if suffix == ".exr":
            return bool(read_exr(path))
        if suffix == ".json":
            json.loads(path.read_text())
            return True
        if suffix == ".pt":
            from core.model.build import load_checkpoint

            return "state_dict" in load_checkpoint(path)
    except (OSError, ValueError, RuntimeError, RotoshotError):
        return False
    return True  # a file the harness does not write


def check(project_dir: Path, export_dir: Path, journal: Journal, stems: list[str]) -> dict:
    """Reopen and compare with the journal. Returns counts; 'problems' lists what failed."""
    problems: list[str] = []
    counts = Counter()
    try:
        project, store = load_project(project_dir, (WIDTH, HEIGHT), NUM_FRAMES)
    except RotoshotError as exc:
        return {"problems": [f"project does not open: {exc}"]}
    if store.skipped:
        problems.append(f"keyframes skipped: {store.skipped}")
    for object_id in OBJECT_IDS:
        for frame_idx in range(NUM_FRAMES):
            key = f"key:{object_id}:{frame_idx}"
            found = store.digest(object_id, frame_idx) or "-"
            if found not in journal.allowed(key, "-"):
                problems.append(f"{key} holds {found[:8]}, expected {journal.allowed(key, '-')}")
            counts["keyframes checked"] += 1
            counts["keyframes present"] += found != "-"
            journal.settle(key, found)
    found = manifest_digest(project)
    if found not in journal.allowed("manifest", manifest_digest(Project(""))):
        problems.append(f"manifest holds {found}, expected {journal.allowed('manifest', '')}")
    journal.settle("manifest", found)
    model = project_dir / "model.pt"
    if model.exists():
        from core.model.build import load_checkpoint

        try:
            found = str(load_checkpoint(model)["extra"]["fingerprint"])
        except (RotoshotError, KeyError) as exc:
            found = f"unreadable ({exc})"
        if found not in journal.allowed("model", "-"):
            problems.append(f"model.pt holds {found}, expected {journal.allowed('model', '-')}")
        journal.settle("model", found)
    for folder in (project_dir, export_dir):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if TEMP_NAME.match(path.name):
                counts["temp files left"] += 1
                if FRAME_LIKE.search(path.name):
                    problems.append(f"temp file looks like a frame: {path.name}")
                continue
            counts["files decoded"] += 1
            if not _decodes(path):
                problems.append(f"does not decode: {path.relative_to(folder.parent)}")
    if (export_dir / EXPORT_STATUS).exists():
        status = ExportStatus.read(export_dir)
        if status is None:
            problems.append("export status unreadable")
        else:
            ext = MATTE_EXTENSIONS[status.fmt]
            for frame_idx in range(status.first, status.done_through + 1):
                for folder_name in EXPORT_FOLDERS:
                    if not (export_dir / folder_name / f"{stems[frame_idx]}{ext}").exists():
                        problems.append(f"export says frame {frame_idx} is done, it is missing")
            counts["exports complete"] += status.complete
    return {"problems": problems, **counts}


def run_round(project_dir: Path, export_dir: Path, journal: Journal, seed: int, delay: float):
    """Start a worker, kill it `delay` seconds after it is ready. Returns the saves it reported
    done, and whether it died before the kill (a crash is a failure too)."""
    worker = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "worker",
            str(project_dir),
            str(export_dir),
            "--seed",
            str(seed),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = worker.stdout.readline().strip()
    if ready != "ready":
        worker.kill()
        _, err = worker.communicate()
        raise RuntimeError(f"worker did not start: {ready!r} {err[-2000:]}")
    before = journal.saves
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(worker.stdout), daemon=True)
    reader.start()
    time.sleep(delay)
    crashed = worker.poll() is not None
    worker.kill()
    worker.wait()
    reader.join()
    for line in lines:
        journal.take(line)
    error = worker.stderr.read()
    return journal.saves - before, (error[-2000:] if crashed else "")


def run_harness(rounds: int, seed: int, max_delay: float, root: Path) -> dict:
    """`rounds` kill rounds on one project under `root`. Returns totals and every problem."""
    clip, project_dir, export_dir = make_shot(root)
    stems = [p.stem for p in sorted(clip.iterdir())]
    rng = random.Random(seed)
    journal = Journal()
    totals: Counter = Counter()
    problems: list[str] = []
    for round_idx in range(rounds):
        saves, crash = run_round(
            project_dir, export_dir, journal, seed * 100_000 + round_idx, rng.uniform(0, max_delay)
        )
        if crash:
            problems.append(f"round {round_idx}: the worker failed before the kill: {crash}")
        totals["saves completed"] += saves
        for key in journal.in_flight:
            totals[f"killed while writing {key.split(':')[0]}"] += 1
        report = check(project_dir, export_dir, journal, stems)
        journal.in_flight.clear()
        problems.extend(f"round {round_idx}: {p}" for p in report.pop("problems"))
        for name, value in report.items():
            totals[name] = (
                value if name in ("temp files left", "files decoded") else totals[name] + value
            )
        totals["rounds"] += 1
    return {"problems": problems, **totals}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("worker")
    worker.add_argument("project")
    worker.add_argument("export")
    worker.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-delay", type=float, default=1.5, help="seconds after ready")
    args = parser.parse_args()
    if args.command == "worker":
        run_worker(Path(args.project), Path(args.export), args.seed)
        return 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rotoshot-kill-") as root:
        result = run_harness(args.rounds, args.seed, args.max_delay, Path(root))
    for name, value in result.items():
        if name != "problems":
            print(f"{name}: {value}")
    print(f"problems: {len(result['problems'])}")
    for problem in result["problems"][:50]:
        print(f"  {problem}")
    print(f"time: {time.perf_counter() - started:.0f} s")
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())

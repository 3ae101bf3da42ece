"""Property-based fuzzing of everything that reads user files: project manifests and keyframe
folders, mask and strokes images, frame folders, and command lines. Every case must end in a
result or one RotoshotError, never another exception, and nothing may be written outside the
folder the case was given.

The suite runs a short version (ROTOSHOT_FUZZ_EXAMPLES cases per loader property, default 80; a quarter of that for command
lines), the same cases every run, so a red suite means a change broke a loader, not a new draw;
`bench/fuzz.py` runs the long one with fresh random cases and reports the counts
(docs/RELIABILITY.md). A case it finds becomes an `@example` or a fixed test.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.annotations import read_label_mask, read_strokes
from core.errors import RotoshotError
from core.project import load_project
from core.video import open_frames

EXAMPLES = int(os.environ.get("ROTOSHOT_FUZZ_EXAMPLES", "80"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize="ROTOSHOT_FUZZ_EXAMPLES" not in os.environ,  # the suite's short run is fixed
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` and its content (to prove nothing outside a case changed)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A folder with a sentinel tree beside each case's own folder."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "outside").mkdir()
    (root / "outside" / "precious.png").write_bytes(b"keep")
    return root


# --- images ------------------------------------------------------------------------------------
MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F")


@st.composite
def mask_images(draw) -> bytes:
    """An image file's bytes in any PIL mode, size, palette and format, or damaged bytes."""
    mode = draw(st.sampled_from(MODES))
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    levels = draw(st.sampled_from([2, 3, 7, 256]))
    values = rng.integers(0, levels, (height, width)) * (255 // max(1, levels - 1))
    if mode in ("RGB", "RGBA", "LA"):
        image = Image.fromarray(
            np.stack([values] * len(mode), axis=-1).astype(np.uint8)
            if draw(st.booleans())
            else rng.integers(0, 256, (height, width, len(mode)), dtype=np.uint8),
            mode,
        )
    elif mode == "P":
        image = Image.fromarray(values.astype(np.uint8) % 16, "L").convert("P")
        image.putpalette(rng.integers(0, 256, 48).tolist())
        if draw(st.booleans()):
            image.info["transparency"] = int(draw(st.integers(0, 15)))
    elif mode in ("I;16", "I"):
        image = Image.fromarray((values * 257).astype(np.uint16 if mode == "I;16" else np.int32))
    elif mode == "F":
        image = Image.fromarray(values.astype(np.float32) / 255.0)
    else:
        image = Image.fromarray(values.astype(np.uint8), "L").convert(mode)
    fmt = draw(st.sampled_from(["PNG", "TIFF", "BMP", "JPEG"]))
    buffer = io.BytesIO()
    try:
        image.save(buffer, fmt)
    except (OSError, ValueError, KeyError):
        image.convert("L").save(buffer, "PNG")
    data = buffer.getvalue()
    damage = draw(st.sampled_from(["none", "truncate", "flip", "empty"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip":
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    elif damage == "empty":
        data = b""
    return data


@FUZZ
@given(data=mask_images(), labels=st.booleans())
def test_any_mask_or_strokes_file_reads_or_is_one_clear_error(sandbox, data, labels):
    with tempfile.TemporaryDirectory(dir=sandbox) as case:
        path = Path(case) / "mask.png"
        path.write_bytes(data)
        try:
            label_map = read_label_mask(path, labels=labels)
            assert label_map.ndim == 2 and label_map.dtype == np.uint16
        except RotoshotError:
            pass
        try:
            mask, known = read_strokes(path)
            assert mask.shape == known.shape and not (mask & ~known).any()
        except RotoshotError:
            pass


# --- project folders ---------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def manifests(draw) -> str:
    """Project manifests: a valid skeleton with fields replaced by arbitrary JSON, or raw text."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=60))
    objects = [
        {
            "object_id": draw(st.one_of(st.integers(-5, 300), json_values)),
            "name": draw(st.one_of(st.text(max_size=10), json_values)),
            "colour": draw(st.one_of(st.lists(st.integers(-5, 999), max_size=4), json_values)),
            "visible": draw(json_values),
            "finish": draw(
                st.one_of(
                    st.dictionaries(
                        st.sampled_from(
                            [
                                "threshold",
                                "grow_px",
                                "feather_px",
                                "fill_holes_px",
                                "temporal_radius",
                                "x",
                            ]
                        ),
                        json_values,
                        max_size=3,
                    ),
                    json_values,
                )
            ),
        }
        for _ in range(draw(st.integers(0, 3)))
    ]
    settings_keys = ["quality", "auto_train", "overlay_opacity", "export_dir", "range_first",
                     "range_last", "working_long_side", "export_format", "unknown"]  # fmt: skip
    data = {
        "schema_version": draw(st.one_of(st.integers(-2, 3), json_values)),
        "app": draw(st.sampled_from(["rotoshot", "rotoshot", "other"])),
        "source_path": draw(
            st.one_of(st.sampled_from(["clip.mp4", "../elsewhere", "/", ""]), json_values)
        ),  # fmt: skip
        "objects": draw(st.one_of(st.just(objects), json_values)),
        "settings": draw(
            st.one_of(
                st.dictionaries(st.sampled_from(settings_keys), json_values, max_size=4),
                json_values,
            )
        ),  # fmt: skip
        "model_fingerprint": draw(json_values),
    }
    keep = draw(st.sets(st.sampled_from(sorted(data)), min_size=3))
    return json.dumps({k: v for k, v in data.items() if k in keep})


@FUZZ
@given(
    manifest=manifests(),
    keyframes=st.lists(
        st.tuples(
            st.sampled_from(["1", "2", "300", "x", "-1"]),
            st.sampled_from(["000000", "000001", "999999", "abc", "000002.strokes"]),
            mask_images(),
        ),
        max_size=3,
    ),  # fmt: skip
)
def test_any_project_folder_opens_or_is_one_clear_error(sandbox, manifest, keyframes):
    before = snapshot(sandbox / "outside")
    with tempfile.TemporaryDirectory(dir=sandbox) as case:
        folder = Path(case)
        (folder / "project.json").write_text(manifest)
        for object_id, stem, data in keyframes:
            (folder / "annotations" / object_id).mkdir(parents=True, exist_ok=True)
            (folder / "annotations" / object_id / f"{stem}.png").write_bytes(data)
        try:
            project, store = load_project(folder, size=(20, 10), num_frames=3)
            assert all(1 <= o.object_id <= 255 for o in project.objects)
            assert set(store.object_ids()) <= {o.object_id for o in project.objects}
        except RotoshotError:
            pass
    assert snapshot(sandbox / "outside") == before


# --- frame folders -----------------------------------------------------------------------------
@FUZZ
@given(
    files=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "shot.1001", "shot.1003", "%d", "x*"]),
            st.sampled_from([".png", ".jpg", ".tif", ".exr", ".dpx", ".txt"]),
            st.one_of(mask_images(), st.binary(max_size=64)),
        ),
        max_size=4,
    )
)
def test_any_frame_folder_opens_or_is_one_clear_error(sandbox, files):
    with tempfile.TemporaryDirectory(dir=sandbox) as case:
        folder = Path(case) / "frames"
        folder.mkdir()
        for stem, ext, data in files:
            (folder / f"{stem}{ext}").write_bytes(data)
        try:
            source = open_frames(folder)
            for i in range(len(source)):
                frame = source.read(i)
                assert frame.shape == (source.height, source.width, 3)
                assert frame.dtype == np.uint8
        except RotoshotError:
            pass


# --- command lines -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_shot(sandbox):
    folder = sandbox / "shot"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    mask = np.zeros((24, 32), np.uint8)
    mask[6:18, 8:24] = 255
    Image.fromarray(mask).save(sandbox / "mask.png")
    return folder


numbers = st.sampled_from(["0", "1", "-1", "0.5", "2", "1e9", "nan", "x", ""])
options = st.sampled_from(
    ["--quality", "--steps", "--gate", "--threads", "--working-size", "--edges", "--labels",
     "--input-space", "--annotation", "--strokes"]
)  # fmt: skip


# capsys is read (and so emptied) once per case.
@settings(
    FUZZ,
    max_examples=max(10, EXAMPLES // 4),
    suppress_health_check=[*FUZZ.suppress_health_check, HealthCheck.function_scoped_fixture],
)
@given(
    flags=st.lists(st.tuples(options, numbers), max_size=4),
    annotation=st.sampled_from(["0:{mask}", "1:{mask}", "5:{mask}", "0:missing.png", "x", "0:"]),
    out=st.sampled_from(["out", "out/deeper", "mask.png", ""]),
)
@example(flags=[], annotation="0:{mask}", out="")  # an empty --out once wrote into the cwd
def test_any_segment_command_line_ends_in_one_line(
    sandbox, small_shot, flags, annotation, out, capsys
):
    import main

    before = snapshot(sandbox / "outside")
    with tempfile.TemporaryDirectory(dir=sandbox) as case:
        argv = [
            "segment",
            str(small_shot),
            "--annotation",
            annotation.format(mask=sandbox / "mask.png"),
        ]
        argv += ["--out", str(Path(case) / out) if out else "", "--device", "cpu", "--steps", "2"]
        for flag, value in flags:
            argv += [flag] if flag == "--labels" else [flag, value]
        # Run from inside the sentinel tree: a relative or empty path resolved against the
        # working folder would write there.
        cwd = os.getcwd()
        os.chdir(sandbox / "outside")
        try:
            code = main.main(argv)
        except SystemExit as exc:  # argparse's own usage error: one message, exit code 2
            code = exc.code
        finally:
            os.chdir(cwd)
        err = capsys.readouterr().err
        assert code in (0, 2), err
        assert "Traceback" not in err
        if code == 2:
            assert err.strip().count("\n") <= 1 or err.startswith("usage:"), err
    assert snapshot(sandbox / "outside") == before

"""Rotoshot entry point: parses arguments first, then sets up the process and imports torch/Qt.

python main.py app [PATH | --demo]
python main.py segment FRAMES --annotation IDX:MASK.png [...] --out OUT_DIR [--quality Q]
python main.py train PROJECT_OR_FRAMES [--annotation ...] --model OUT.rsm
python main.py segment FRAMES --model M.rsm [--frames 1001-1100] --out DIR [--ray auto]
python main.py render-queue QUEUE.json [--ray auto]
python main.py evaluate PRED_DIR GT_DIR
python main.py train-parent --data DIR [--out resources/parent_lite0.pt] [--minutes N]
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import sys


def ranged_int(low: int, high: int | None = None):
    """An argparse type: an integer in [low, high] (high None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: give a number {bound}")
        return value

    return parse


def add_shot_arguments(parser: argparse.ArgumentParser) -> None:
    """What a shot to train needs: annotations, colour, working resolution, quality, weights."""
    parser.add_argument(
        "--annotation",
        action="append",
        default=[],
        metavar="IDX:MASK.png",
        help="0-based frame index and its mask (pixel > 0 is object; several ids = several objects)",
    )
    parser.add_argument(
        "--strokes",
        action="append",
        default=[],
        metavar="IDX:STROKES.png[@ID]",
        help="hint strokes of object ID (default 1) on a frame: grey 255 = object, 128 = "
        "background, 0 = unpainted (the network fills it in)",
    )
    parser.add_argument(
        "--input-space",
        help="colour space of an EXR/DPX plate (default: guessed from the file: EXR linear, "
        "DPX log): 'sRGB Encoded Rec.709 (sRGB)', 'Linear Rec.709 (sRGB)', ACEScg, "
        "ACES2065-1, 'Cineon log', or a colour space of --ocio's config",
    )
    parser.add_argument("--ocio", help="an OpenColorIO config file (default: $OCIO, else built-in)")
    parser.add_argument(
        "--working-size",
        type=int,
        default=1024,
        metavar="PX",
        help="long side the network works at (default 1024; 0 = the plate's size); mattes are "
        "written at the plate's size",
    )
    parser.add_argument(
        "--roi",
        default="",
        metavar="X0,Y0,X1,Y1",
        help="region of interest in plate pixels: the network works only there, at the working "
        "size (more detail on a small object in a large plate); mattes are empty outside it "
        "(default: the whole frame, or the project's region)",
    )
    parser.add_argument(
        "--edges",
        default="plate",
        choices=["plate", "smooth"],
        help="how mattes reach the plate's size from the working size: 'plate' follows the "
        "plate's edges (guided filter), 'smooth' interpolates",
    )
    parser.add_argument(
        "--labels",
        action="store_true",
        help="read every grey level / colour of a mask as an object id (default: only when the "
        "mask looks like a label map; otherwise pixels > 127 are the object)",
    )
    parser.add_argument(
        "--quality",
        type=float,
        default=0.0,
        help="0 fast ... 1 best (default 0); from 0.75 two models are trained and averaged",
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--backend",
        default="torch",
        help="what runs the frozen backbone: torch (default; bf16 where the CPU has it), "
        "torch-fp32, or onnx (ONNX Runtime, the optional `onnx` extra)",
    )
    parser.add_argument(
        "--weights",
        default="parent",
        help="'parent' (shipped, default), 'imagenet', or a checkpoint path",
    )
    parser.add_argument(
        "--box",
        action="append",
        default=[],
        metavar="IDX:x0,y0,x1,y1[@ID]",
        help="a box around the object on frame IDX (0-based; object 1 without @ID): the "
        "mask-guided network's first mask becomes the keyframe",
    )
    parser.add_argument(
        "--online",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="iterative online fine-tuning: rounds of learning the confident part of the "
        "model's own results outward from the keyframes (default 0: off)",
    )
    parser.add_argument(
        "--mode",
        default="osvos",
        help="osvos: every frame on its own (default); refine: the mask-guided network refines "
        "each frame's own first result; propagate: each frame guided by the previous one, "
        "outward from the keyframes",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="override the fine-tuning steps of --quality (0: no fine-tuning, the parent alone)",
    )
    parser.add_argument(
        "--gate",
        type=int,
        default=None,
        metavar="PX",
        help="temporal gate radius in px (0 = off; default from the engine)",
    )


def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    """Which frames to render and where: locally, or on Ray in chunks."""
    parser.add_argument(
        "--frames",
        dest="frame_range",
        metavar="A-B",
        help="frame numbers to render, as in the file names (1001-1100; several: 1001-1010,1050)",
    )
    parser.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        help="render chunks as Ray tasks: 'auto' joins this machine's cluster or starts a local "
        "one, else a cluster address (needs pip install '.[farm]')",
    )
    parser.add_argument(
        "--chunk", type=ranged_int(1), default=50, help="frames per farm task (default 50)"
    )
    parser.add_argument(
        "--ray-cpus", type=ranged_int(1, 4096), help="CPUs of a local Ray cluster (default: all)"
    )
    parser.add_argument(
        "--cpus-per-task", type=ranged_int(1, 256), default=1, help="CPUs per chunk task"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rotoshot", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument(
        "--threads", type=ranged_int(0, 256), default=0, help="torch CPU threads (0: all cores)"
    )
    sub = parser.add_subparsers(dest="command")

    app = sub.add_parser("app", help="open the desktop application")
    app.add_argument("path", nargs="?", help="video, image folder, pattern or project folder")
    app.add_argument("--demo", action="store_true", help="open the built-in demo clip")
    app.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])

    seg = sub.add_parser(
        "segment", help="fine-tune on annotated frames (or take --model) and segment the frames"
    )
    seg.add_argument("frames", help="video file, image folder (sorted by name) or pattern")
    add_shot_arguments(seg)
    seg.add_argument("--out", required=True, help="output folder for the mattes")
    seg.add_argument("--model", help="a model file from `train`: render with it, no training")
    add_render_arguments(seg)

    tr = sub.add_parser("train", help="fine-tune a shot and write a self-contained model file")
    tr.add_argument("clip", help="a project folder, or the clip with --annotation/--strokes")
    add_shot_arguments(tr)
    tr.add_argument("--model", required=True, metavar="OUT.rsm", help="model file to write")

    rq = sub.add_parser("render-queue", help="train and render several shots (JSON queue)")
    rq.add_argument(
        "queue",
        help='JSON file: {"shots": [{"name", "frames" or '
        '"project", "annotations", "out", ...}]} (docs/FARM.md)',
    )
    add_render_arguments(rq)

    ev = sub.add_parser("evaluate", help="DAVIS J and F of predicted masks against ground truth")
    ev.add_argument("pred_dir")
    ev.add_argument("gt_dir")

    ex = sub.add_parser("export", help="export finished mattes of a saved project")
    ex.add_argument("project", help="project folder (with project.json and model.pt)")
    ex.add_argument("--out", required=True)
    ex.add_argument("--format", default="png8", choices=["png8", "png16", "tiff16", "exr"])
    ex.add_argument(
        "--frames", dest="frame_range", metavar="A-B", help="frame numbers to export (1001-1100)"
    )
    ex.add_argument("--first", type=int, help="first frame index (default 0)")
    ex.add_argument("--last", type=int, help="last frame index, inclusive (default: last)")
    ex.add_argument("--cutouts", action="store_true", help="also write RGBA cutouts (PNG)")
    ex.add_argument("--straight", action="store_true", help="straight (not premultiplied) cutouts")
    ex.add_argument("--threshold", type=float)
    ex.add_argument("--grow", type=int, help="grow (>0) or shrink (<0) px")
    ex.add_argument("--feather", type=float, help="soft edge width px")
    ex.add_argument("--fill-holes", type=int, help="fill holes smaller than N px")
    ex.add_argument("--remove-specks", type=int, help="remove islands smaller than N px")
    ex.add_argument(
        "--temporal", type=ranged_int(0, 5), help="temporal smoothing radius in frames (0..5)"
    )
    ex.add_argument(
        "--edge-matting",
        type=ranged_int(0, 40),
        metavar="PX",
        help="matte this many px each side of the edge from the frame's colours (hair, motion "
        "blur; png16/tiff16/exr; 0 = off)",
    )
    ex.add_argument("--preview", choices=["overlay", "matte"], help="also write a preview movie")
    ex.add_argument("--preview-codec", default="h264", choices=["h264", "prores4444"])
    ex.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])

    tp = sub.add_parser("train-parent", help="train the parent network on DAVIS-layout data")
    tp.add_argument(
        "--data", required=True, help="DAVIS-layout folder (JPEGImages/480p, Annotations/480p)"
    )
    tp.add_argument("--out", default="resources/parent_lite0.pt")
    tp.add_argument(
        "--minutes", type=float, default=60.0, help="total training time (resumes count)"
    )
    tp.add_argument(
        "--snapshots", default="", help="comma-separated minutes to keep weight snapshots at"
    )
    tp.add_argument(
        "--guided", action="store_true", help="train the mask-guided network (4th input channel)"
    )
    tp.add_argument("--stills", help="folder of still images with masks to mix in (static-masks)")
    tp.add_argument(
        "--still-share",
        type=float,
        default=0.5,
        help="share of the samples taken from --stills (0..1, default 0.5)",
    )
    tp.add_argument(
        "--init", help='start from these weights ("parent" or a checkpoint) instead of ImageNet'
    )
    # Spelled out (core.model.network.STAGE_ENDS is the registry) so parsing imports no torch.
    tp.add_argument(
        "--backbone",
        choices=["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"],
        help="ImageNet backbone of a parent trained from ImageNet (default efficientnet-lite0); "
        "--init weights bring their own",
    )
    tp.add_argument(
        "--hold-out",
        default="",
        help="comma-separated sequences of --data to leave out (a validation set to choose "
        "--minutes on)",
    )
    tp.add_argument(
        "--seed",
        type=ranged_int(0),
        default=0,
        help="seed of the drawn samples and the new layers' first weights (default 0)",
    )
    tp.add_argument("--max-steps", type=int, help="stop after this many steps (smoke runs)")
    tp.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    return parser


def tune_allocator() -> None:
    """Keep large freed blocks mapped (glibc): 2.5-3x faster torch on CPU (shared/MEASURED.md)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["app", "--demo"] + (argv or sys.argv[1:]))
    tune_allocator()
    level = logging.INFO if args.verbose or args.command == "train-parent" else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads or os.cpu_count() or 1)

    if args.command == "app":
        from app.main_window import run_app

        return run_app(args)

    from core import cli
    from core.errors import RotoshotError

    try:
        if args.command == "segment":
            from core.farm.commands import run_segment

            return run_segment(args)
        if args.command == "evaluate":
            return cli.run_evaluate(args)
        if args.command == "export":
            return cli.run_export(args)
        if args.command == "train":
            from core.farm.commands import run_train

            return run_train(args)
        if args.command == "render-queue":
            from core.farm.commands import run_render_queue

            return run_render_queue(args)
        if args.command == "train-parent":
            return cli.run_train_parent(args)
    except RotoshotError as exc:
        print(f"rotoshot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rotoshot: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for the user; the traceback with -v
        if args.verbose:
            logging.exception("unexpected error")
        print(
            f"rotoshot: unexpected error: {type(exc).__name__}: {exc} (-v shows the traceback)",
            file=sys.stderr,
        )
        return 1
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())

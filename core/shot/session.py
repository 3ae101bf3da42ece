"""A shot as the engine, the CLI and a farm worker hold it: frames, parent network, the current
trained model, costs, and the samples built from the artist's annotations (core.shot.samples).

`ShotSession.train` runs a TrainJob's plan (core.shot.plan) and publishes each complete model as a
`ShotModel`; the session's `model` only ever changes to a complete one, so a stopped run leaves
the last complete model in use. Models are versioned here, and nowhere else.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from core.annotations import AnnotationStore
from core.correction_neighbours import NeighbourSamples
from core.errors import RotoshotError
from core.jobs import NEVER_CANCELLED, CancelToken, TrainProgress
from core.model.build import (
    ModelInfo,
    build_network,
    checkpoint_payload,
    load_checkpoint,
    load_members,
    load_weights_into,
    write_checkpoint,
)
from core.model.network import OSVOSNet
from core.model.onnx_backbone import check_backend
from core.resolution import DEFAULT_WORKING_LONG_SIDE, WorkingResolution
from core.roi import Roi, check_roi
from core.segmentation import DEFAULT_GATE_PX, FrameAnnotation, SegmentConfig, Segmenter
from core.shot.jobs import TrainJob
from core.shot.plan import (
    CostModel,
    ModelsReady,
    PlanStep,
    StepKind,
    estimate_run,
    plan,
    run_plan,
)
from core.shot.presets import (
    STANDARD_PARENT,
    CostEstimate,
    Preset,
    Recipe,
    preset_for,
    recipe_for,
)
from core.shot.samples import build_samples
from core.shot.segmenters import FrameSegmenter, make_segmenter
from core.training import FeatureCache
from core.video import FrameSource


@dataclass(frozen=True)
class ShotModel:
    """A complete trained model of a shot. networks: the models whose probabilities are averaged
    (never trained further); object_ids: their channel order; annotations: frame_idx ->
    FrameAnnotation they were trained with (they override results there); preset: the setting
    they were trained at (it sets the inference passes); fingerprint: of those annotations;
    version: the session's count, higher = newer; final: the run's last step; kind: the kind of
    step that made it (a PREVIEW is a quick stand-in; a FULL or UPDATE model is complete);
    sample_keys: the TrainingSample keys it learnt (empty for a restored model)."""

    networks: tuple[OSVOSNet, ...]
    object_ids: tuple[int, ...]
    annotations: dict[int, FrameAnnotation]
    preset: Preset
    fingerprint: str
    version: int
    final: bool = True
    kind: StepKind = StepKind.FULL
    sample_keys: frozenset[str] = frozenset()


class ShotSession:
    """One shot: frame source, parent network, the current ShotModel, step costs on this clip.

    Plain Python, used from one thread (the engine thread, or a CLI / farm process).
    recipes: Preset -> Recipe (tests pass shorter ones); mode: the segmenter
    (core.shot.segmenters.SEGMENTER_MODES); working_long_side: the network's working size
    (core.resolution; 0 = the source size); edges: how mattes return to the plate's size
    (core.resolution.EDGE_MODES); roi: the region of interest the network works in (core.roi;
    None = the whole frame); backend: what runs the frozen backbone
    (core.model.onnx_backbone.BACKENDS); parents: further parent networks by name
    (core.shot.presets.LARGE_PARENT) for the recipes' members that name them; without one, a
    member starts from `parent` (weights the user named, the guided parent, tests).
    """

    def __init__(
        self,
        source: FrameSource,
        parent: OSVOSNet,
        model_info: ModelInfo,
        *,
        recipes: Callable[[Preset], Recipe] = recipe_for,
        gate_px: int = DEFAULT_GATE_PX,
        mode: str = "osvos",
        working_long_side: int = DEFAULT_WORKING_LONG_SIDE,
        edges: str = "plate",
        roi: Roi | None = None,
        backend: str = "torch",
        parents: dict[str, OSVOSNet] | None = None,
    ) -> None:
        self.source = source
        if roi is not None:
            roi = check_roi(roi, source.size)
        self.working = WorkingResolution.for_source(source.size, working_long_side, edges, roi)
        self.parent = parent.eval()
        self.parents = {STANDARD_PARENT: self.parent}
        self.parents.update({name: net.eval() for name, net in (parents or {}).items()})
        self.model_info = model_info
        self.recipes = recipes
        self.gate_px = gate_px
        self.backend = check_backend(backend)
        self.mode = mode
        self.model: ShotModel | None = None
        self.costs = CostModel(self.working.size, parents=tuple(self.parents))
        self.feature_cache = FeatureCache()
        # NeighbourSamples: a correction teaches its neighbouring frames too. Off (None): at the
        # same training steps it scored lower (docs/BENCHMARKS.md); bench/simulated_artist.py
        # --neighbours on measures it again.
        self.correction_neighbours: NeighbourSamples | None = None
        self._version = 0
        self._segmenter: FrameSegmenter | None = None
        self._frames_timed = 0  # frames segmented with the current model, see observe_frame

    # --- recipes and cost ----------------------------------------------------------------------
    def recipe(self, preset: Preset) -> Recipe:
        """The recipe of `preset` with the shot's temporal gate radius (`gate_px`) and
        backbone backend; a member whose parent the shot lacks starts from `parent`."""
        recipe = self.recipes(preset).with_overrides(backend=self.backend)
        segment = dataclasses.replace(
            recipe.segment, temporal_gate_px=self.gate_px, backend=self.backend
        )
        parents = tuple(p if p in self.parents else STANDARD_PARENT for p in recipe.parents)
        return dataclasses.replace(recipe, segment=segment, parents=parents)

    def parent_for(self, name: str) -> OSVOSNet:
        """The parent network a recipe member named `name` starts from."""
        return self.parents.get(name, self.parent)

    def _template(self, backbone_name: str) -> OSVOSNet:
        """A parent network of `backbone_name` to load a saved model into: one of the shot's
        parents, else a bare network of it (a model trained from a parent this shot lacks)."""
        for network in self.parents.values():
            if network.backbone_name == backbone_name:
                return network
        device = next(self.parent.parameters()).device
        return build_network(backbone_name=backbone_name, imagenet=False).to(device).eval()

    def _can_update(self, object_ids: tuple[int, ...]) -> bool:
        """A correction continues from the current model only when its objects keep their
        channels (none removed or reordered; new ones are appended)."""
        model = self.model
        return model is not None and object_ids[: len(model.object_ids)] == model.object_ids

    def new_samples(self, job: TrainJob) -> list[int]:
        """Indices of `job.samples` the shot's model has not learnt (all without a model; a
        restored model knows only its keyframes' frames, so changed content counts as learnt)."""
        model = self.model
        if model is None:
            return list(range(len(job.samples)))
        if model.sample_keys:
            return [i for i, s in enumerate(job.samples) if s.key not in model.sample_keys]
        frames = [int(s.key.split(":")[0]) if s.key else -1 for s in job.samples]
        return [i for i, f in enumerate(frames) if f not in model.annotations]

    def plan_for(self, job: TrainJob) -> tuple[PlanStep, ...]:
        """The fine-tunes `job` will run: their steps grow with the painted keyframes (a
        correction's neighbours, auxiliary samples, ride along without adding steps)."""
        correction = job.correction and self._can_update(job.object_ids)
        trained = len(self.model.networks) if correction else 0
        painted = [i for i, s in enumerate(job.samples) if not s.auxiliary]
        new = [i for i in self.new_samples(job) if i in painted] if correction else painted
        return plan(
            self.recipe(job.preset),
            models_trained=trained,
            correction=correction,
            preview=job.preview,
            num_keyframes=len(painted),
            num_new=len(new),
            online=job.online,
        )

    def estimate(
        self, preset: Preset, num_keyframes: int, *, correction: bool = False
    ) -> CostEstimate:
        """Estimated cost of training at `preset` and segmenting the whole clip (from the dev
        machine's step costs, replaced by those measured on this clip as runs complete)."""
        trained = len(self.model.networks) if self.model is not None else 0
        return estimate_run(
            self.costs,
            self.recipe(preset),
            models_trained=trained,
            correction=correction,
            num_keyframes=num_keyframes,
            num_frames=len(self.source),
        )

    # --- training ------------------------------------------------------------------------------
    def train_job(
        self,
        store: AnnotationStore,
        preset: Preset,
        *,
        correction: bool = False,
        preview: bool = True,
    ) -> TrainJob | None:
        """A TrainJob from every keyframe of `store` (None when nothing is painted)."""
        ids = tuple(store.object_ids())
        if not ids or not store.has_foreground(list(ids)):
            return None
        samples, annotations = build_samples(
            store, self.source, ids, working=self.working, neighbours=self.correction_neighbours
        )
        return TrainJob(samples, ids, annotations, preset, store.fingerprint(), correction, preview)

    def train(
        self, job: TrainJob, *, cancel: CancelToken = NEVER_CANCELLED
    ) -> Iterator[TrainProgress | ShotModel]:
        """Run `job`: yields TrainProgress (whole-run steps and ETA) and each complete ShotModel
        as it becomes the session's `model`. Raises core.jobs.Cancelled once `cancel` is set;
        the session keeps the last complete model."""
        if self.model is not None and self.model.object_ids != job.object_ids:
            self.feature_cache = FeatureCache()  # channel layout changed: cached targets invalid
        steps = self.plan_for(job)
        focus = self.new_samples(job)
        learnt = frozenset(s.key for s in job.samples if s.key)
        # A preview is a stand-in: the frames it saw still count as new for the next correction.
        before = self.model.sample_keys if self.model is not None else frozenset()
        # Updates continue from the shot's networks; a plan without one starts from the parent.
        current = self.model.networks if any(s.continues for s in steps) else ()
        for event in run_plan(
            steps,
            models=current,
            parent_for=self.parent_for,
            samples=job.samples,
            cancel=cancel,
            feature_cache=self.feature_cache,
            costs=self.costs,
            focus=focus,
        ):
            if isinstance(event, ModelsReady):
                yield self._publish(
                    ShotModel(
                        event.networks,
                        job.object_ids,
                        dict(job.annotations),
                        job.preset,
                        job.fingerprint,
                        0,
                        event.final,
                        event.step.kind,
                        before if event.step.kind is StepKind.PREVIEW else learnt,
                    )
                )
            else:
                yield event

    def _publish(self, model: ShotModel) -> ShotModel:
        self._version += 1
        self.model = dataclasses.replace(model, version=self._version)
        self._segmenter = None
        self._frames_timed = 0
        return self.model

    def average_with(self, networks: tuple[OSVOSNet, ...]) -> ShotModel:
        """Publish the current model with `networks` (same objects, same channels) added to
        the networks it averages, as a new version. Their own updates replace them: a later
        update continues from the current model's members only (core.shot.plan)."""
        if self.model is None:
            raise RotoshotError("no model to average with")
        return self._publish(
            dataclasses.replace(self.model, networks=self.model.networks + tuple(networks))
        )

    def untrained_model(self, object_ids: tuple[int, ...], preset: Preset) -> ShotModel:
        """The parent network alone for `object_ids` (no fine-tuning; the CLI's --steps 0)."""
        network = copy.deepcopy(self.parent_for(self.recipe(preset).parents[0]))
        network.set_num_objects(len(object_ids))
        return self._publish(ShotModel((network.eval(),), object_ids, {}, preset, "", 0))

    # --- segmentation --------------------------------------------------------------------------
    def segmenter(self) -> FrameSegmenter | None:
        """The segmenter of the current model (None before any), built once per model."""
        if self.model is None:
            return None
        if self._segmenter is None:
            self._segmenter = make_segmenter(
                self.model.networks,
                self.source,
                annotations=self.model.annotations,
                config=self.recipe(self.model.preset).segment,
                mode=self.mode,
                working=self.working,
            )
        return self._segmenter

    def measure_inference(self, image: np.ndarray, timed_passes: int = 3) -> None:
        """Run each of the shot's parent networks on `image` (h, w, 3) uint8 at the working size
        and record its fastest of `timed_passes` passes as the machine's frame pace
        (CostModel.observe_frames): the first estimates on a clip are then this machine's, not
        the dev machine's. A first pass, untimed, pays the one-off set-up of a new size and
        builds the inference copy, so the first overlay does not; the fastest of the rest,
        because the next pass or two can still run slower (up to 1.4x here) or meet the app's
        own start-up work."""
        for name, network in self.parents.items():
            segmenter = Segmenter(network, self.source)
            segmenter.predict_image(image)
            fastest = math.inf
            for _ in range(max(1, timed_passes)):
                started = time.perf_counter()
                segmenter.predict_image(image)
                fastest = min(fastest, time.perf_counter() - started)
            self.costs.observe_frames(fastest, 1, SegmentConfig(), (name,))

    def observe_frame(self, seconds: float) -> None:
        """Record that segmenting one frame with the current model took `seconds`: it sets the
        machine's pace for the per-frame estimates (CostModel.observe_frames). A model's first
        frame is not counted (it also prepares the model's inference copies), nor a model the
        recipe does not describe (the networks averaged after online rounds share one backbone
        pass, which the recipe's units do not price)."""
        self._frames_timed += 1
        if self.model is None or self._frames_timed == 1:
            return
        recipe = self.recipe(self.model.preset)
        if len(self.model.networks) == len(recipe.parents):
            self.costs.observe_frames(seconds, 1, recipe.segment, recipe.parents)

    # --- saving --------------------------------------------------------------------------------
    def checkpoint(self) -> dict | None:
        """The current model as a checkpoint payload (core.model.build.checkpoint_payload: every
        averaged network, object ids, preset, fingerprint, working size), None before any."""
        model = self.model
        if model is None:
            return None
        extra = {
            "object_ids": list(model.object_ids),
            "preset": model.preset.value,
            "quality": model.preset.quality,
            "fingerprint": model.fingerprint,
            "working_size": list(self.working.size),
            "roi": list(self.working.roi or ()),
        }
        return checkpoint_payload(model.networks[0], extra=extra, members=model.networks[1:])

    def save_model(self, path: str | os.PathLike) -> None:
        """Write the current model (`checkpoint`) as one file, atomically. Nothing is written
        before a model exists."""
        payload = self.checkpoint()
        if payload is not None:
            write_checkpoint(payload, path)

    def restore_model(
        self,
        path: str | os.PathLike,
        *,
        object_ids: tuple[int, ...],
        annotations: dict[int, FrameAnnotation],
        fingerprint: str | None,
    ) -> ShotModel:
        """Make a saved checkpoint the current model (`torch.load(weights_only=True)`, strict).
        `fingerprint`: what the model must have been trained on (the file records its own; a
        file of other keyframes is refused, so a crash between saving the model and the
        manifest never makes an older model current); None: take the file's own.
        RotoshotError (the session unchanged) when it is unreadable or does not fit."""
        return self.restore_payload(
            load_checkpoint(path),
            label=str(path),
            object_ids=object_ids,
            annotations=annotations,
            fingerprint=fingerprint,
        )

    def restore_payload(
        self,
        payload: dict,
        *,
        label: str,
        object_ids: tuple[int, ...],
        annotations: dict[int, FrameAnnotation],
        fingerprint: str | None,
    ) -> ShotModel:
        """`restore_model` of a checkpoint payload already in memory (a farm worker's); `label`
        names it in messages."""
        path = label
        extra = payload.get("extra", {})
        saved_ids = tuple(int(i) for i in extra.get("object_ids", object_ids))
        if saved_ids != tuple(object_ids):
            raise RotoshotError(f"{path} was trained on other objects ({list(saved_ids)})")
        saved_fingerprint = str(extra.get("fingerprint", ""))
        if fingerprint is None:
            fingerprint = saved_fingerprint
        elif saved_fingerprint and saved_fingerprint != fingerprint:
            raise RotoshotError(
                f"{path} was trained on other keyframes than the project's (its save was "
                "interrupted or it was copied from elsewhere)"
            )
        trained_in = tuple(int(v) for v in extra.get("roi", ())) or None
        if trained_in != self.working.roi:

            def described(roi: Roi | None) -> str:
                return "the whole frame" if roi is None else f"the region {list(roi)}"

            raise RotoshotError(
                f"{path} was trained on {described(trained_in)}, but this clip works on "
                f"{described(self.working.roi)}: train again"
            )
        # Models saved before working resolutions existed were trained at the source size.
        trained_at = tuple(int(v) for v in extra.get("working_size", self.source.size))
        if trained_at != tuple(self.working.size):
            raise RotoshotError(
                f"{path} was trained at {trained_at[0]}x{trained_at[1]}, not at this clip's "
                f"working resolution {self.working.size[0]}x{self.working.size[1]}: train again"
            )
        main = copy.deepcopy(self._template(str(payload.get("backbone", ""))))
        load_weights_into(main, payload, path=str(path))
        networks = (main.eval(), *load_members(payload, self._template, path=str(path)))
        name = extra.get("preset")
        preset = (
            Preset(name)
            if name in {p.value for p in Preset}
            else preset_for(float(extra.get("quality", 0.0)))
        )
        return self._publish(
            ShotModel(networks, tuple(object_ids), dict(annotations), preset, fingerprint, 0)
        )

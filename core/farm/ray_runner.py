"""Frame chunks as Ray tasks (Ray is the optional `farm` extra: `pip install '.[farm]'`).

The model payload goes into Ray's object store once; each chunk is a task running
core.farm.render.render_chunk, the same function a local render runs. Workers open the frame
source from its path and write the mattes themselves. A task whose worker dies is retried by
Ray (`max_retries`); its frames are rewritten atomically, so each frame ends up on disk once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from core.errors import RotoshotError
from core.farm.render import ChunkReport, RenderTarget, render_chunk
from core.jobs import NEVER_CANCELLED, Cancelled, CancelToken

# Ray retries a task whose worker process died this many times before giving up on the chunk.
CHUNK_RETRIES = 3


def _ray():
    try:
        import ray
    except ImportError:
        raise RotoshotError(
            "--ray needs Ray, the optional farm extra: pip install '.[farm]'"
        ) from None
    return ray


def start_ray(address: str = "auto", *, num_cpus: int | None = None) -> None:
    """Connect to Ray once per process. address "auto": the running cluster of $RAY_ADDRESS or
    of this machine, else a new local cluster of `num_cpus` CPUs (None: all); otherwise the
    address of a cluster's head (`ray://host:10001` or `host:6379`)."""
    ray = _ray()
    if ray.is_initialized():
        return
    options = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if address == "auto":
            ray.init(num_cpus=num_cpus, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RotoshotError(f"cannot start or reach Ray at {address!r}: {exc}") from None


def stop_ray() -> None:
    """Disconnect (and stop a local cluster this process started)."""
    ray = _ray()
    if ray.is_initialized():
        ray.shutdown()


def ray_remote(function: Callable, *, num_cpus: float, max_retries: int = CHUNK_RETRIES):
    """`function` as a Ray task needing `num_cpus` CPUs, retried when its worker dies."""
    return _ray().remote(num_cpus=num_cpus, max_retries=max_retries)(function)


def machine_cpus() -> int:
    """CPUs of the cluster's largest live machine: what a task needing a whole machine asks."""
    nodes = [n for n in _ray().nodes() if n.get("Alive")]
    return max(1, int(max((n["Resources"].get("CPU", 1) for n in nodes), default=1)))


def _failure(ray, exc: Exception) -> str:
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = exc.cause
        if isinstance(cause, RotoshotError):
            return str(cause)
        return f"{type(cause).__name__}: {cause}"
    return f"lost after {CHUNK_RETRIES} retries ({type(exc).__name__})"


def outcomes(
    refs: list, cancel: CancelToken = NEVER_CANCELLED
) -> Iterator[tuple[object, object, str]]:
    """(ref, value, "") or (ref, None, what went wrong) for each task as it finishes;
    `cancel` cancels what is left and raises Cancelled."""
    ray = _ray()
    pending = list(refs)
    while pending:
        if cancel.cancelled:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise Cancelled
        done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
        for ref in done:
            try:
                yield ref, ray.get(ref), ""
            except ray.exceptions.RayError as exc:
                yield ref, None, _failure(ray, exc)


def gather(refs: list, cancel: CancelToken = NEVER_CANCELLED) -> Iterator[object]:
    """Each task's value as it finishes; the first failure is one RotoshotError."""
    for _, value, error in outcomes(refs, cancel):
        if error:
            raise RotoshotError(f"a farm task failed: {error}")
        yield value


def render_chunks_on_ray(
    payload: dict,
    target: RenderTarget,
    chunks: list[tuple[int, ...]],
    *,
    cpus_per_task: float = 1,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Iterator[ChunkReport]:
    """Every chunk as a Ray task (start_ray first); reports in finishing order."""
    ray = _ray()
    model = ray.put(payload)  # shipped once; tasks get it from the object store
    task = ray_remote(render_chunk, num_cpus=cpus_per_task)
    refs = [task.remote(model, target, chunk) for chunk in chunks]
    yield from gather(refs, cancel)

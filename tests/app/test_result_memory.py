"""The document keeps results in a byte-bounded LRU backed by the project's disk cache."""

import numpy as np

from app.results import COMPUTED, NOT_COMPUTED, STALE, ResultCache, ResultRecord, ResultWriter


def result(frame_idx, version, height=40, width=50):
    probs = np.full((1, height, width), frame_idx % 250, np.uint8)
    return ResultRecord(probs, (1,), version)


def test_results_beyond_the_memory_budget_come_back_from_disk(tmp_path):
    writer = ResultWriter()
    cache = ResultCache(writer, max_bytes=5 * 40 * 50)  # five frames' worth
    cache.reset(tmp_path, 40)
    cache.object_ids = (1,)
    for f in range(30):
        cache.put(f, result(f, version=3))
    assert cache.memory_bytes <= 5 * 40 * 50 and len(cache) == 30
    old = cache.get(2, current_version=3)  # evicted long ago: read back from the disk cache
    assert old is not None and old.version == 3 and np.all(old.probs == 2)
    assert cache.memory_bytes <= 5 * 40 * 50
    writer.close()


def test_stale_results_are_drawn_as_stale_until_recomputed(tmp_path, qapp):
    from app.document import ShotDocument

    doc = ShotDocument()
    doc.results = ResultCache(doc.result_writer, max_bytes=3 * 40 * 50)
    doc.results.reset(tmp_path, 40)
    doc.folder = tmp_path
    for f in range(6):
        doc.set_result(f, result(f, version=1))
    doc.start_model_version(2)  # a new model: the old results are stale and gone from disk
    assert [doc.result_state(f) for f in (0, 5)] == [STALE, STALE]
    assert doc.result(0) is None  # evicted and stale: nothing to draw
    assert doc.result(5) is not None and doc.result(5).version == 1  # still in memory
    doc.set_result(0, result(0, version=2))
    assert doc.result_state(0) == COMPUTED and doc.result_state(9) == NOT_COMPUTED
    doc.result_writer.close()


def test_a_reopened_projects_results_are_read_off_the_ui_thread(tmp_path, qtbot):
    """Restoring marks the cached frames at once and reads none on the UI thread (hundreds of
    4K results took seconds there); their scores and boxes arrive from the results thread, and
    an unreadable file gives its frame back to be segmented again."""
    from app.document import ShotDocument
    from core.confidence import frame_confidence
    from core.project import save_result
    from core.roi import mask_extent
    from tests.helpers import ArraySource

    doc = ShotDocument()
    doc.source = ArraySource(np.zeros((6, 40, 50, 3), np.uint8))
    doc.folder = tmp_path
    doc.results.reset(tmp_path, 40)
    probs = {}
    for f in range(5):
        probs[f] = np.zeros((1, 40, 50), np.uint8)
        probs[f][0, 5 + f : 20 + f, 10:30] = 230
        save_result(tmp_path, f, probs[f])
    (tmp_path / "results" / "000003.png").write_bytes(b"not a png")  # a damaged cache file
    lost = []
    doc.results_lost.connect(lambda frames, version: lost.append((frames, version)))

    doc.model_version = 4  # as the train controller sets it for a restored model
    doc.restore_results((1,), version=4)
    assert doc.cached_frames() == [0, 1, 2, 3, 4] and doc.results.memory_bytes == 0
    qtbot.waitUntil(lambda: bool(lost) and all(doc.confidence(f) is not None for f in (0, 1, 2, 4)))
    assert lost == [([3], 4)] and doc.cached_frames() == [0, 1, 2, 4]
    for f in (0, 1, 2, 4):
        assert doc.confidence(f) == frame_confidence(probs[f], [None])
        assert doc.results.extent(f, 1) == mask_extent(probs[f][0] > 127)
    assert np.array_equal(doc.result(2).probs, probs[2])  # read when shown
    doc.result_writer.close()

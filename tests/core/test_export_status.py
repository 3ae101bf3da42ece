"""An export folder says whether it is finished and which frames are missing."""

import numpy as np
import pytest

from core.errors import RotoshotError
from core.export_job import EXPORT_STATUS, ExportJob, ExportObject, ExportStatus, run_export_job
from core.jobs import Cancelled, CancelToken
from core.segmentation import FrameResult
from tests.helpers import ArraySource


class MaskSegmenter:
    """A FrameSegmenter answering a fixed square per frame (what matters here is the writing)."""

    def __init__(self, num_frames: int) -> None:
        self.source = ArraySource(np.zeros((num_frames, 16, 24, 3), np.uint8))

    def segment_frame(self, frame_idx: int) -> FrameResult:
        probs = np.zeros((1, 16, 24), np.float32)
        probs[0, 4:12, 6:18] = 1.0
        return FrameResult(frame_idx, probs, (probs[0] > 0.5).astype(np.uint8))


def test_a_stopped_export_says_what_is_missing_and_a_finished_one_is_complete(tmp_path):
    segmenter = MaskSegmenter(30)
    stems = [f"plate.{1001 + i}" for i in range(30)]
    job = ExportJob(str(tmp_path), 2, 25, (ExportObject(1, "hero"),))
    cancel = CancelToken()
    with pytest.raises(Cancelled):
        for done, _total in run_export_job(job, segmenter, stems, [1], cancel=cancel):
            if done == 13:
                cancel.cancel()
    status = ExportStatus.read(tmp_path)
    assert status is not None and not status.complete
    assert (status.first, status.last, status.done_through) == (2, 25, 14)
    assert list(status.missing()) == list(range(15, 26))
    written = sorted(p.name for p in (tmp_path / "1_hero").iterdir())
    assert written == [f"plate.{1001 + i}.png" for i in range(2, 15)]  # no temp names left

    list(run_export_job(job, segmenter, stems, [1]))
    status = ExportStatus.read(tmp_path)
    assert status.complete and list(status.missing()) == []
    assert len(list((tmp_path / "1_hero").iterdir())) == 24
    (tmp_path / EXPORT_STATUS).write_text("{broken")
    assert ExportStatus.read(tmp_path) is None


def test_a_failing_export_reports_its_own_error_not_the_status_files(tmp_path, monkeypatch):
    class Broken(MaskSegmenter):
        def segment_frame(self, frame_idx):
            if frame_idx == 3:
                raise RotoshotError("frame 3 cannot be read")
            return super().segment_frame(frame_idx)

    original = ExportStatus.write

    def full_disk(self, folder, *, durable=True):
        if self.done_through >= self.first:  # the first write works, later ones fail
            raise RotoshotError("no space left for the status file")
        original(self, folder, durable=durable)

    monkeypatch.setattr(ExportStatus, "write", full_disk)
    job = ExportJob(str(tmp_path), 0, 5, (ExportObject(1, "hero"),))
    with pytest.raises(RotoshotError, match="frame 3 cannot be read"):
        list(run_export_job(job, Broken(6), [f"f{i}" for i in range(6)], [1]))

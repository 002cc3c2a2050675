"""The tail file on disk: a frame cut short by a kill is dropped, the whole ones before it read."""

from __future__ import annotations

import numpy as np

from factoryfloor.backend.service.history_tail import TailLog, TailSecond, TailSeries, read_tail


def test_whole_frames_are_read_back_and_a_cut_one_is_dropped(tmp_path):
    path = tmp_path / "tail.log"
    tail = TailLog(path)
    tail.add_series([(0, "gpu/n1/0/power_w"), (256, "gpu/n1/0/temp_c")])
    for second in range(3):
        tail.add_second(1_767_225_600 + second, 7, np.full(257, second, np.float32))
    tail.close()
    whole = path.stat().st_size
    with path.open("ab") as file:  # the next frame, cut short as a kill -9 leaves it
        file.write((1000).to_bytes(4, "little") + b"\x28\xb5\x2f\xfd partial")

    frames = read_tail(path)

    assert isinstance(frames[0], TailSeries)
    assert frames[0].entries == [(0, "gpu/n1/0/power_w"), (256, "gpu/n1/0/temp_c")]
    seconds = [f for f in frames[1:] if isinstance(f, TailSecond)]
    assert [(f.time_s - 1_767_225_600, f.design_version) for f in seconds] == [
        (0, 7),
        (1, 7),
        (2, 7),
    ]
    np.testing.assert_array_equal(seconds[2].values, np.full(257, 2, np.float32))
    assert path.stat().st_size > whole  # read, not repaired: the recorder empties it on commit


def test_an_emptied_tail_reads_as_nothing(tmp_path):
    path = tmp_path / "tail.log"
    tail = TailLog(path)
    tail.add_second(1.0, 1, np.zeros(4, np.float32))
    tail.clear()
    tail.add_second(2.0, 1, np.ones(4, np.float32))
    tail.close()

    assert [f.time_s for f in read_tail(path)] == [2.0]
    assert read_tail(tmp_path / "absent.log") == []

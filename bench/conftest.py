"""Options of the pytest-driven benchmarks in this folder (bench/app_training_speed.py,
bench/estimate_accuracy.py)."""


def pytest_addoption(parser):
    parser.addoption("--clip", default="", help="image-sequence folder to open")
    parser.addoption("--mask", default="", help="the object's mask on the clip's first frame")
    parser.addoption("--panel", default="throttled", choices=["throttled", "every-step", "none"])
    parser.addoption("--out", default="", help="write the result as JSON here")

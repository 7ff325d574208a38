"""The plugin costs a session that does not check claims nothing heavy, and the device option
is checked when parsed and resolved when a model loads."""

from __future__ import annotations

import pytest

HEAVY = ("torch", "torchvision", "skimage", "numpy")

PLAIN_TEST = f"""
import sys

def test_plain(pytestconfig):
    assert pytestconfig.pluginmanager.hasplugin("probecheck")
    heavy = [name for name in {HEAVY!r} if name in sys.modules]
    assert not heavy, heavy
"""


def _plugin_args() -> list[str]:
    """Load the plugin by its entry point where probecheck is installed, else by name."""
    from importlib.metadata import entry_points

    installed = any(ep.value == "probecheck.plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "probecheck.plugin"]


@pytest.fixture(scope="module")
def torch_first() -> None:
    """Import torch (and numpy) ahead of in-process pytester runs, which restore
    ``sys.modules`` afterwards: numpy cannot be imported twice in one process."""
    pytest.importorskip("numpy")
    pytest.importorskip("torch")


def test_plain_session_imports_no_torch(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain=PLAIN_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *_plugin_args())
    result.assert_outcomes(passed=1)


def test_the_check_sees_torch_where_a_conftest_imports_it(
    torch_first: None, pytester: pytest.Pytester
) -> None:
    pytester.makeconftest("import torch\n")
    pytester.makepyfile(test_plain=PLAIN_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *_plugin_args())
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*torch*"])


@pytest.mark.parametrize("name", ["cpu", "cuda", "cuda:1", "mps", "auto"])
def test_device_names_are_accepted(name: str) -> None:
    from probecheck.zoo.devices import device_name

    assert device_name(name) == name


@pytest.mark.parametrize("name", ["gpu", "cuda:", "CPU", "cuda:x", ""])
def test_bad_device_is_a_usage_error(
    torch_first: None, pytester: pytest.Pytester, name: str
) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", f"--probe-device={name}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is not a device: use cpu, cuda, cuda:N, mps or auto*"])


def test_cli_device_is_checked_too(capsys: pytest.CaptureFixture[str]) -> None:
    from probecheck.cli import build_parser

    parser, _ = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["layers", "--device", "gpu"])
    assert "is not a device" in capsys.readouterr().err
    assert parser.parse_args(["layers", "--device", "auto"]).device == "auto"


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from probecheck.zoo.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cpu") == "cpu"


def test_auto_resolves_to_this_machines_device() -> None:
    torch = pytest.importorskip("torch")
    from probecheck.zoo.devices import resolve_device

    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has an accelerator")
    assert resolve_device("auto") == "cpu"


def test_auto_loads_the_model_on_the_resolved_device(
    weights_dir, monkeypatch: pytest.MonkeyPatch
) -> None:
    from probecheck.probe import shared_probe

    monkeypatch.setenv("PROBECHECK_WEIGHTS_DIR", str(weights_dir))
    from probecheck.zoo.devices import resolve_device

    probe = shared_probe("squeezenet1_0", "deep-compression", device="auto")
    assert probe.device.type == resolve_device("auto").split(":")[0]
    assert probe is shared_probe("squeezenet1_0", "deep-compression", device=resolve_device("auto"))

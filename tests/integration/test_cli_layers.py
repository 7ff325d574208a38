"""``probecheck layers``: the network table, and one-message errors with exit code 2."""

from __future__ import annotations

import pytest

from probecheck.cli import main


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """A table wide enough that rich truncates no cell, whatever the terminal."""
    monkeypatch.setenv("COLUMNS", "200")


def test_layers_of_the_real_model(weights_dir, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["layers", "--arch", "squeezenet1_0", "--weights", "deep-compression"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()

    def row(alias: str) -> str:
        (found,) = [line for line in lines if f" {alias} " in line]
        return found

    assert "features.0" in row("conv1") and "96×111×111" in row("conv1")
    assert "features.8.squeeze_activation" in row("fire6-relu_squeeze1x1")
    assert "48×27×27" in row("fire6-relu_squeeze1x1")
    assert "48×27×27" in row("fire6-squeeze1x1") and "12,336" in row("fire6-squeeze1x1")
    assert "Fire" in row("fire6-concat") and "384×27×27" in row("fire6-concat")
    assert "1000×1×1" in row("pool10")
    for alias in ("relu_conv1", "pool1", "pool4", "pool8", "conv10"):
        row(alias)
    assert "pool3" not in out and "pool5" not in out  # those are v1.1's
    assert "227" in out and "1,248,424 parameters" in out  # SqueezeNet v1.0's parameter count


def test_layers_of_v1_1_random(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers", "--arch", "squeezenet1_1", "--weights", "random"]) == 0
    out = capsys.readouterr().out
    assert "pool3" in out and "pool5" in out and "pool4" not in out
    assert "64×111×111" in out  # v1.1's conv1 at 224


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--weights", "nonsense"], "unknown weights 'nonsense'"),
        (["--arch", "squeezenet10", "--weights", "random"], "unknown architecture"),
        (["--weights", "missing/checkpoint.pt"], "does not exist"),
    ],
    ids=["weights", "arch", "checkpoint"],
)
def test_bad_names_give_one_message_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code = main(["layers", *args])
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert lines[0].startswith("probecheck layers: error: ")
    assert needle in lines[0]
    assert len(lines) == 2 and lines[1].strip().startswith("fix: ")  # the error, then its fix


def test_nonsense_weights_fix_lists_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    main(["layers", "--weights", "nonsense"])
    fix = capsys.readouterr().err.splitlines()[-1]
    for choice in ("deep-compression", "random", "DEFAULT", "checkpoint"):
        assert choice in fix


def test_missing_weights_is_one_message(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from probecheck.zoo import store

    monkeypatch.setenv(store.WEIGHTS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(store.CACHE_DIR_ENV, str(tmp_path / "cache"))

    def no_network(*_args, **_kwargs):
        raise OSError("offline (test)")

    monkeypatch.setattr(store.urllib.request, "urlopen", no_network)
    assert main(["layers", "--weights", "deep-compression"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "compressed_SqueezeNet.net" in err and "PROBECHECK_WEIGHTS_DIR" in err


@pytest.fixture
def offline(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No weights anywhere and no network: every download fails."""
    import torch.hub

    from probecheck.zoo import store

    monkeypatch.setenv(store.WEIGHTS_DIR_ENV, str(tmp_path / "weights"))
    monkeypatch.setenv(store.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(*_args, **_kwargs):
        raise OSError("offline (test)")

    monkeypatch.setattr(store.urllib.request, "urlopen", no_network)
    monkeypatch.setattr(torch.hub, "urlopen", no_network)


@pytest.mark.parametrize(
    ("arch", "shapes", "absent"),
    [
        ("squeezenet1_1", ["64×111×111"], "pool4"),  # v1.1 at its usual 224
        ("squeezenet1_0", ["96×111×111", "48×27×27"], "pool3"),  # v1.0 at Caffe's 227
    ],
)
def test_layers_need_no_weights(
    offline, capsys: pytest.CaptureFixture[str], arch: str, shapes: list[str], absent: str
) -> None:
    assert main(["layers", "--arch", arch]) == 0
    out = capsys.readouterr().out
    assert "none (the architecture alone)" in out
    assert all(shape in out for shape in shapes)
    assert absent not in out


@pytest.mark.parametrize("weights", ["DEFAULT", "IMAGENET1K_V1"])
def test_torchvision_weights_offline_name_the_file_to_put_in_place(
    offline, tmp_path, capsys: pytest.CaptureFixture[str], weights: str
) -> None:
    import torchvision

    member = torchvision.models.get_model_weights("squeezenet1_1")[weights]
    filename = member.url.rsplit("/", 1)[-1]
    assert main(["layers", "--arch", "squeezenet1_1", "--weights", weights]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    fix = err.strip().splitlines()[-1]
    assert fix.strip().startswith("fix: ")
    assert filename in fix and str(tmp_path / "torch" / "hub" / "checkpoints") in fix
    assert "PROBECHECK_WEIGHTS_DIR" in fix


def test_torchvision_weights_in_the_offline_directory_are_checked_before_use(
    offline, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torchvision

    member = torchvision.models.get_model_weights("squeezenet1_1")["DEFAULT"]
    filename = member.url.rsplit("/", 1)[-1]
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / filename).write_bytes(b"not the release")
    assert main(["layers", "--arch", "squeezenet1_1", "--weights", "DEFAULT"]) == 2
    message, fix = capsys.readouterr().err.strip().splitlines()
    assert f"is not the released {filename}" in message
    assert fix.strip() == f"fix: replace it with a good copy from {member.url}"


def test_torchvision_weights_load_from_the_offline_directory(
    offline, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch
    import torchvision

    from probecheck.zoo import builders

    member = torchvision.models.get_model_weights("squeezenet1_1")["DEFAULT"]
    filename = member.url.rsplit("/", 1)[-1]
    prefix = member.url.rsplit("-", 1)[-1].split(".")[0]
    (tmp_path / "weights").mkdir()
    state = torchvision.models.squeezenet1_1().state_dict()  # stands in for the release
    torch.save(state, tmp_path / "weights" / filename)
    monkeypatch.setattr(builders.store, "sha256_of", lambda path: prefix + "0" * 56)
    assert main(["layers", "--arch", "squeezenet1_1", "--weights", "DEFAULT"]) == 0
    assert "IMAGENET1K_V1" in capsys.readouterr().out  # loaded with no network
    assert not (tmp_path / "torch" / "hub" / "checkpoints" / filename).exists()

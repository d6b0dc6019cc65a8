"""Figures a reader can read: every label map has a class legend naming the classes it draws,
and no two texts of a figure overlap at the resolution of figures/ (120 dpi).

The legend's entries are compared with the classes found by ``np.unique`` over the label
arrays the test passes in (only those drawn: a figure shows at most ``max_images`` rows); its
colours with the pixels of the drawn panels. The collision checker is fed a figure built to
collide; the figures the notebooks draw that ``reproduce`` does not save are checked here on
small inputs (the quick reproduce's figures are checked in test_reproduce.py).
"""
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from minideeplab.crf.compare import MethodComparison
from minideeplab.data import (SYNTHETIC_CLASS_NAMES as SYN, VOC_CLASS_NAMES as VOC,
                              SyntheticShapes, colorize)
from minideeplab.metrics import TrimapResult
from minideeplab.paper import figures
from minideeplab.paper.figures import common, crf as crf_figures, pipeline as pipeline_figures

RNG = np.random.default_rng(0)


def _maps(n, classes, size=17):
    return RNG.choice(np.asarray(classes), size=(n, size, size))


def _legend(fig):
    assert len(fig.legends) == 1, "one class legend per figure"
    return fig.legends[0]


def _entries(fig):
    return [t.get_text() for t in _legend(fig).get_texts()]


def _names(arrays, names, extra=()):
    """The legend expected for ``arrays``: classes by np.unique, ignored (255) last."""
    values = np.unique(np.concatenate([np.ravel(a) for a in arrays]))
    return ([names[v] for v in values if v != 255] + (["ignored (255)"] if 255 in values else [])
            + list(extra))


def _bbox(artist, fig):
    FigureCanvasAgg(fig).draw()
    return artist.get_window_extent()


# ------------------------------------------------------------------ legends
def test_fig6_legend_names_the_classes_of_the_drawn_rows_only():
    images = RNG.integers(0, 255, (5, 17, 17, 3), dtype=np.uint8)
    labels, before, after = _maps(5, [0, 2]), _maps(5, [0, 1, 2]), _maps(5, [0, 2])
    labels[4, 0, 0] = 5                                   # row 5 is not drawn (max_images=4)
    fig = crf_figures.fig6_before_after(images, labels, before, after, max_images=4)
    assert _entries(fig) == _names([labels[:4], before[:4], after[:4]], SYN)
    assert "cross" not in _entries(fig)
    # the patch colours are the colours of the drawn label maps
    drawn = {tuple(c) for ax in fig.axes[1:4] for c in ax.get_images()[0].get_array()
             .reshape(-1, 3)}
    for patch, name in zip(_legend(fig).get_patches(), _entries(fig)):
        rgb = tuple(np.round(np.asarray(patch.get_facecolor()[:3]) * 255).astype(int))
        assert rgb == tuple(colorize(np.array([[SYN.index(name)]], np.uint8))[0, 0])
        assert rgb in drawn


def test_fig6_on_photos_uses_the_voc_names_and_no_ground_truth_column():
    images = RNG.integers(0, 255, (2, 17, 17, 3), dtype=np.uint8)
    before, after = _maps(2, [0, 15]), _maps(2, [0, 15, 12])
    fig = crf_figures.fig6_before_after(images, None, before, after, class_names=VOC)
    assert _entries(fig) == _names([before, after], VOC) == ["background", "dog", "person"]


def test_fig8_grid_legend_counts_ignored_pixels_and_every_method():
    images = RNG.integers(0, 255, (3, 17, 17, 3), dtype=np.uint8)
    labels = _maps(3, [0, 1])
    labels[:, :2] = 255
    preds = {"LargeFOV": _maps(3, [0, 3]), "ASPP-L": _maps(3, [0, 4])}
    fig = figures.fig_predictions(images, labels, preds)
    assert _entries(fig) == _names([labels, *preds.values()], SYN)
    assert _entries(fig)[-1] == "ignored (255)"


def test_fig10_legend_has_the_label_classes_and_the_band():
    label = _maps(1, [0, 3, 4], size=24)[0]
    widths = np.array([1, 2])
    curve = TrimapResult(widths, np.array([0.7, 0.8]), np.array([0.5, 0.6]), np.array([9, 20]))
    fig = crf_figures.fig10_trimap(RNG.integers(0, 255, (24, 24, 3), dtype=np.uint8), label,
                                   {"before CRF": curve})
    assert _entries(fig) == _names([label], SYN, extra=["outside the band"])


def test_augmentation_and_label_sample_legends():
    ds = SyntheticShapes("val", 3, size=41)
    images, labels = zip(*[ds[i] for i in range(3)])
    fig, samples = figures.fig_augmentation(images[0], labels[0], n=3, seed=1, crop_size=45)
    assert _entries(fig) == _names([m for s in samples for m in s[1:]], SYN)
    fig = pipeline_figures.fig_label_samples(np.stack(images), np.stack(labels), SYN)
    assert _entries(fig) == _names(labels, SYN)


def test_the_legend_covers_no_plot():
    images = RNG.integers(0, 255, (4, 17, 17, 3), dtype=np.uint8)
    maps = _maps(4, range(6))
    fig = figures.fig_predictions(images, maps, {"a": maps, "b": maps, "c": maps})
    box = _bbox(_legend(fig), fig)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent()), ax.get_title()


def test_a_class_without_a_name_is_refused_before_drawing():
    images = RNG.integers(0, 255, (1, 9, 9, 3), dtype=np.uint8)
    maps = _maps(1, [0, 1], size=9)
    wrong = maps.copy()
    wrong[0, 3, 3] = 6                                     # the synthetic shapes have 0..5
    with pytest.raises(ValueError, match=r"class_legend: label map values \[6\] have no class "
                                         r"name: class_names has 6 names"):
        crf_figures.fig6_before_after(images, maps, maps, wrong)
    with pytest.raises(TypeError, match="must hold integers"):
        common.legend_classes([maps.astype(np.float32)], SYN)
    assert common.legend_classes([wrong], VOC) == [0, 1, 6]
    with pytest.raises(ValueError, match="constrained layout"):
        common.class_legend(Figure(), [maps], SYN)


# ------------------------------------------------------------------ text collisions
def _colliding_figure():
    fig = Figure(figsize=(4, 2))                          # no layout engine: nothing moves
    left, right = fig.subplots(1, 2)
    left.set_title("a long title over the left plot")
    right.set_title("short")
    fig.suptitle("a figure title placed too low", y=0.93)
    return fig


def test_checker_finds_titles_that_overlap_and_names_them():
    found = common.text_collisions(_colliding_figure())
    pairs = {(a.split(":")[0], b.split(":")[0]) for a, b, _ in found}
    assert ("axes 0 ('a long title over the left plot')", "axes 1 ('short')") in pairs
    assert any(a.startswith("figure suptitle") and "title 'a long title" in b
               for a, b, _ in found)
    assert all(w > 0 and h > 0 for _, _, (w, h) in found)
    with pytest.raises(ValueError, match=r"overlapping text pair\(s\) in bad.png at 120 dpi"):
        common.check_text_collisions(_colliding_figure(), name="bad.png")


def test_checker_passes_the_same_texts_laid_out_and_restores_the_figure():
    fig = common.new_figure(6, 2.5, suptitle="a figure title placed too low")
    left, right = fig.subplots(1, 2)
    left.set_title("a long title over the left plot")
    right.set_title("short")
    dpi, canvas = fig.dpi, fig.canvas
    assert common.text_collisions(fig) == []
    assert fig.dpi == dpi and fig.canvas is canvas
    assert common.check_text_collisions(fig) is fig


def test_checker_sees_a_text_over_another_plot():
    fig = Figure(figsize=(4, 2))
    left, right = fig.subplots(1, 2)
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    left.text(1.5, 0.5, "spills over", transform=left.transAxes)
    found = common.text_collisions(fig)
    assert [(a, b) for a, b, _ in found] == [("axes 0: text 'spills over'", "axes 1: plot area")]


def _history(n=60):
    it = list(range(n))
    return {"iteration": it, "loss": list(np.linspace(2, 0.5, n)), "lr": list(np.linspace(1e-3, 0, n)),
            "val": [{"iteration": i, "mean_iou": 0.3 + i / 200} for i in it[::15]]}


def _notebook_figures():
    """The figures the notebooks draw that reproduce does not save, on small inputs."""
    from minideeplab.models import build_model
    from minideeplab.paper import backbone, pipeline
    from minideeplab.paper.figures import backbone as backbone_figures
    from minideeplab.paper.speed import DeviceTiming
    ds = SyntheticShapes("val", 3, size=41)
    images, labels = (np.stack(a) for a in zip(*[ds[i] for i in range(3)]))
    result = pipeline.run_pipeline(build_model("aspp-l", 6, tiny=True, seed=0), images[0],
                                   dict(iterations=1))
    timing = [DeviceTiming(w, d, s) for w in ("conv holes rate 12", "tiny LargeFOV step")
              for d, s in (("cpu", 0.5), ("gpu", 0.01))]
    comparisons = [MethodComparison(n, 0.999, 1e-3, 1e-4, 1e-6 * n, 1e-7 * n, None, None)
                   for n in (400, 1600, 6400)]
    x = backbone.photo_batch(size=65)
    return {
        "fig_pipeline": pipeline_figures.fig_pipeline(result, SYN, "Fig. 1 in miniature: tiny "
                                                      "DeepLab-ASPP-L on the synthetic shapes"),
        "fig_label_samples": pipeline_figures.fig_label_samples(images, labels, SYN),
        "fig_augmentation": figures.fig_augmentation(images[0], labels[0], n=4, crop_size=41)[0],
        "fig_predictions": figures.fig_predictions(images, labels, {"LargeFOV": labels,
                                                                    "ASPP-S": labels,
                                                                    "ASPP-L": labels}),
        "fig_lr_schedules": figures.fig_lr_schedules(0.001, 300)[0],
        "fig_training_curves": figures.fig_training_curves({"poly": _history(),
                                                            "step": _history()}),
        "fig_device_timing": figures.fig_device_timing(timing),
        "fig_device_timing (cpu)": figures.fig_device_timing(timing[::2]),
        "fig_naive_vs_lattice": figures.fig_naive_vs_lattice(comparisons),
        "fig_valid_taps": figures.fig_valid_taps()[0],
        "fig_output_stride_maps": backbone_figures.fig_output_stride_maps(
            x[0].transpose(1, 2, 0) + 0.5, backbone.output_strides(x).features),
        "fig_msc_winners": backbone_figures.fig_msc_winners(backbone.multi_scale(x)),
    }


def test_figures_of_the_notebooks_have_no_overlapping_texts():
    found = {name: common.text_collisions(fig) for name, fig in _notebook_figures().items()}
    assert not {k: v for k, v in found.items() if v}

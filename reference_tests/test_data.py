"""Data: the synthetic shapes dataset, the VOC loader, augmentation, batching and the palette.

Oracles: an independent rasteriser of the shapes (matplotlib polygons, distances), Pillow's own
palette PNG files, the published VOC colours, per-pixel loops for resizing, and properties the
definitions guarantee (nearest never invents labels, padding is the mean pixel and 255, ...).
"""
import math
import os

import numpy as np
import pytest
from matplotlib.path import Path
from PIL import Image

from minideeplab import backend
from minideeplab.data import (MEAN_BGR, MEAN_RGB, DataError, SyntheticShapes, VOCSegmentation,
                              augment, colorize, overlay, pad_to, random_crop, random_mirror,
                              random_scale, resize_image, resize_label, sample_photo,
                              shrink_label, to_batch)
from minideeplab.io import read_label_png, save_label_png, voc_palette
from minideeplab.preprocess import Preprocessing

# ----------------------------------------------------------------------------- synthetic data


def test_same_seed_same_data_other_seed_other_data():
    a = SyntheticShapes("train", 6, size=65, seed=3).load_arrays()
    b = SyntheticShapes("train", 6, size=65, seed=3).load_arrays()
    c = SyntheticShapes("train", 6, size=65, seed=4).load_arrays()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert all(not np.array_equal(a[0][i], c[0][i]) for i in range(6))
    # image i does not depend on how many images the split has
    d = SyntheticShapes("train", 2, size=65, seed=3)
    np.testing.assert_array_equal(d[1][0], a[0][1])
    np.testing.assert_array_equal(d[-1][1], a[1][1])


def test_splits_differ_and_items_have_the_documented_form():
    tr = SyntheticShapes("train", 5, size=(49, 57), seed=0)
    va = SyntheticShapes("val", 5, size=(49, 57), seed=0)
    for i in range(5):
        assert not np.array_equal(tr[i][0], va[i][0])
    image, label = tr[0]
    assert image.shape == (49, 57, 3) and image.dtype == np.uint8
    assert label.shape == (49, 57) and label.dtype == np.uint8
    assert tr.num_classes == 6 and len(tr.class_names) == 6 and len(tr) == 5
    assert len(SyntheticShapes("val")) == 200 and len(SyntheticShapes("train")) == 1000


def reference_mask(obj, h, w):
    """Rasterise one object independently: distances for disc/ring, polygons for the rest."""
    yy, xx = np.mgrid[0:h, 0:w]
    R = obj.size / 2
    r = np.hypot(yy - obj.cy, xx - obj.cx)
    if obj.cls == 1:
        return r <= R
    if obj.cls == 4:
        return (r <= R) & (r > R / 2)
    c, s = math.cos(obj.angle), math.sin(obj.angle)
    if obj.cls == 2:      # corners on the circle, 45 degrees off the object's axes
        uv = [(R * math.cos(t), R * math.sin(t)) for t in np.pi / 4 + np.arange(4) * np.pi / 2]
    elif obj.cls == 3:    # the vertex opposite each edge normal t_k is at -R (cos t_k, sin t_k)
        pts = [(-R * math.cos(obj.angle + 2 * math.pi * k / 3),
                -R * math.sin(obj.angle + 2 * math.pi * k / 3)) for k in range(3)]
        uv = [(x * c + y * s, -x * s + y * c) for x, y in pts]
    else:                 # cross: 12 corners in the object's frame
        a, b = 3 * R / math.sqrt(10), R / math.sqrt(10)        # a/2 and a/6 for a = 6R/sqrt(10)
        uv = [(a, b), (b, b), (b, a), (-b, a), (-b, b), (-a, b),
              (-a, -b), (-b, -b), (-b, -a), (b, -a), (b, -b), (a, -b)]
    verts = [(obj.cx + u * c - v * s, obj.cy + u * s + v * c) for u, v in uv]   # (x, y)
    inside = Path(verts).contains_points(np.stack([xx.ravel(), yy.ravel()], 1))
    return inside.reshape(h, w)


@pytest.mark.parametrize("preset", ["default", "hard", "large"])
def test_labels_are_the_painted_shapes(preset):
    """Each object's visible pixels carry its class; everything else is background."""
    ds = SyntheticShapes("train", 30, size=81, seed=1, preset=preset)
    mismatched, total = 0, 0
    for i in range(len(ds)):
        _, label = ds[i]
        objs = ds.objects(i)
        masks = [reference_mask(o, 81, 81) for o in objs]
        covered = np.zeros(label.shape, bool)
        for o, m in reversed(list(zip(objs, masks))):       # topmost first
            visible = m & ~covered
            mismatched += int((label[visible] != o.cls).sum())
            total += int(visible.sum())
            covered |= m
        mismatched += int((label[~covered] != 0).sum())
    assert total > 10000
    assert mismatched <= 1e-3 * total        # only pixel centres exactly on an edge may differ


@pytest.mark.parametrize("preset", ["default", "hard", "large"])
def test_every_class_appears_and_colour_does_not_decide_the_class(preset):
    ds = SyntheticShapes("val", 150, size=65, seed=2, preset=preset)
    colours = {c: [] for c in range(1, 6)}
    for i in range(len(ds)):
        for o in ds.objects(i):
            colours[o.cls].append(o.color)
    overall = np.concatenate([np.array(v) for v in colours.values()]).mean(axis=0)
    for c, v in colours.items():
        v = np.array(v)
        assert len(v) >= 40, f"class {c} too rare"
        # colours spread over the whole cube in every class, with the same mean
        assert np.all(v.std(axis=0) > 50), (c, v.std(axis=0))
        assert np.all(np.abs(v.mean(axis=0) - overall) < 30), (c, v.mean(axis=0), overall)


@pytest.mark.parametrize("size,preset,lo,hi", [(81, "large", 1 / 4, 3 / 4),
                                                (129, "default", 1 / 16, 1 / 2),
                                                (65, "hard", 1 / 16, 1 / 2),
                                                (129, "hard", 1 / 16, 1 / 2)])
def test_object_sizes_span_the_scale_range(size, preset, lo, hi):
    ds = SyntheticShapes("train", 150, size=size, seed=0, preset=preset)
    lo, hi = max(9, lo * size), hi * size
    sizes, ratios = [], []
    for i in range(len(ds)):
        s = [o.size for o in ds.objects(i)]
        assert len(s) >= 1
        sizes += s
        ratios.append(max(s) / min(s))
    sizes = np.array(sizes)
    assert sizes.min() >= lo - 1e-9 and sizes.max() <= hi + 1e-9
    assert sizes.min() < 1.3 * lo and sizes.max() > 0.85 * hi     # both ends are reached
    assert np.mean(np.array(ratios) >= 1.5) > 0.3                 # mixed scales in one image


def test_presets_and_overrides():
    hard = SyntheticShapes("val", 30, size=65, preset="hard")
    assert hard.rotate and hard.max_objects == 4 and hard.scale_range == (1 / 16, 1 / 2)
    angles = [o.angle for i in range(30) for o in hard.objects(i) if o.cls in (2, 3, 5)]
    assert np.std(angles) > 1.0                                    # rotated at random
    easy = SyntheticShapes("val", 30, size=65)
    assert {o.angle for i in range(30) for o in easy.objects(i)} == {math.pi / 2}
    assert max(len(easy.objects(i)) for i in range(30)) <= 3
    mixed = SyntheticShapes("val", 3, size=65, preset="hard", rotate=False, noise=0.0)
    assert not mixed.rotate and mixed.noise == 0 and mixed.max_objects == 4
    with pytest.raises(ValueError, match="unknown preset 'easy'"):
        SyntheticShapes(preset="easy")
    with pytest.raises(ValueError, match="max_occlusion must be in"):
        SyntheticShapes(max_occlusion=2)


def test_label_shrinks_exactly_at_stride_8():
    _, labels = SyntheticShapes("train", 3, size=97).load_arrays()
    small = shrink_label(labels, 8)
    assert small.shape == (3, 13, 13)
    np.testing.assert_array_equal(small, labels[:, ::8, ::8])


def test_label_shrink_is_align_corners_rounding_for_every_size():
    """For any size, shrink_label picks row round(i (H - 1) / (h - 1)), halves up (brute force
    with exact fractions), h = (H - 1) // f + 1: Caffe's Interp shrink on labels."""
    from fractions import Fraction
    rng = np.random.default_rng(4)
    for H, W, f in [(20, 13, 8), (33, 40, 8), (10, 7, 3), (9, 9, 4), (5, 17, 2)]:
        labels = rng.integers(0, 21, (2, H, W)).astype(np.uint8)
        h, w = (H - 1) // f + 1, (W - 1) // f + 1

        def index(n_in, n_out):
            if n_out == 1:
                return [0] * n_out
            return [int(Fraction(i * (n_in - 1), n_out - 1) + Fraction(1, 2)) for i in
                    range(n_out)]
        expected = labels[:, index(H, h)][:, :, index(W, w)]
        np.testing.assert_array_equal(shrink_label(labels, f), expected)


def test_synthetic_bad_arguments():
    with pytest.raises(ValueError, match="unknown split 'test'"):
        SyntheticShapes("test")
    with pytest.raises(ValueError, match="size must be >= 17"):
        SyntheticShapes(size=8)
    with pytest.raises(IndexError, match="index 5 out of range for 5 images"):
        SyntheticShapes("val", 5)[5]
    with pytest.raises(ValueError, match="scale_range"):
        SyntheticShapes(scale_range=(0.5, 0.1))
    with pytest.raises(ValueError, match=r"min_pixels must be in \[1, min\(size\) = 17\]"):
        SyntheticShapes(size=17, min_pixels=18)
    image, label = SyntheticShapes("val", 2, size=17)[1]       # the smallest size still works
    assert image.shape == (17, 17, 3) and label.max() > 0


# --------------------------------------------------------------------------------- VOC loader

def _palette_png(path, label):
    """Write a palette PNG with Pillow directly (independent of save_label_png)."""
    im = Image.new("P", (label.shape[1], label.shape[0]))
    im.putdata(label.ravel().tolist())
    im.putpalette(voc_palette().ravel().tolist())
    im.save(path)


@pytest.fixture
def voc_tree(tmp_path):
    """A tiny VOCdevkit/VOC2012 tree: 3 train, 2 val images; 4 SBD labels in grey PNGs."""
    root = tmp_path / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClass", "SegmentationClassAug",
              "ImageSets/Segmentation", "ImageSets/SegmentationAug"):
        (root / d).mkdir(parents=True)
    rng = np.random.default_rng(0)
    ids = [f"2007_00000{i}" for i in range(5)]
    labels = {}
    for k, i in enumerate(ids):
        h, w = 12 + k, 15
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            root / "JPEGImages" / f"{i}.jpg", quality=95)
        lab = rng.integers(0, 21, (h, w)).astype(np.uint8)
        lab[0, :] = 255                                  # a void border row
        labels[i] = lab
        _palette_png(root / "SegmentationClass" / f"{i}.png", lab)
        Image.fromarray((lab + 1) % 21).save(root / "SegmentationClassAug" / f"{i}.png")  # "L"
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(ids[:3]) + "\n")
    (root / "ImageSets/Segmentation/val.txt").write_text("\n".join(ids[3:]) + "\n\n")
    (root / "ImageSets/SegmentationAug/train_aug.txt").write_text(
        "".join(f"/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png\n" for i in ids[:4]))
    return tmp_path, root, ids, labels


def test_voc_reads_palette_indices_and_keeps_void(voc_tree):
    tmp_path, root, ids, labels = voc_tree
    for r in (root, tmp_path / "VOCdevkit", tmp_path):            # any of the three roots
        ds = VOCSegmentation(r, "train")
        assert ds.ids == ids[:3] and len(ds) == 3
    val = VOCSegmentation(root, "val")
    image, label = val[1]
    assert image.shape == (16, 15, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(label, labels[ids[4]])           # indices, not colours
    assert (label[0] == 255).all()
    aug = VOCSegmentation(root, "train_aug")
    assert aug.ids == ids[:4]
    np.testing.assert_array_equal(aug[2][1], (labels[ids[2]] + 1) % 21)
    assert VOCSegmentation.num_classes == 21 and VOCSegmentation.class_names[15] == "person"


def test_voc_missing_files_are_listed(voc_tree):
    _, root, ids, _ = voc_tree
    os.remove(root / "JPEGImages" / f"{ids[0]}.jpg")
    os.remove(root / "SegmentationClass" / f"{ids[2]}.png")
    with pytest.raises(FileNotFoundError, match=r"2 file\(s\) missing for split 'train'") as e:
        VOCSegmentation(root, "train")
    assert f"{ids[0]}.jpg" in str(e.value) and f"{ids[2]}.png" in str(e.value)
    assert "\n" not in str(e.value)                 # one line, as the command line prints it
    lines = "".join(f"x{k}\n" for k in range(8))
    (root / "ImageSets/Segmentation/trainval.txt").write_text(lines)
    with pytest.raises(FileNotFoundError, match=r"16 file\(s\) missing[^\n]*and 11 more"):
        VOCSegmentation(root, "trainval")
    with pytest.raises(FileNotFoundError, match="list file of split 'trainval_aug' is missing"):
        VOCSegmentation(root, "trainval_aug")
    with pytest.raises(FileNotFoundError, match="no JPEGImages/ folder"):
        VOCSegmentation(root / "JPEGImages", "train")
    with pytest.raises(ValueError, match="unknown split 'test'"):
        VOCSegmentation(root, "test")


def test_voc_bad_label_files(voc_tree):
    _, root, ids, labels = voc_tree
    rgb_png = root / "SegmentationClass" / f"{ids[4]}.png"
    Image.fromarray(np.zeros((16, 15, 3), np.uint8)).save(rgb_png)
    with pytest.raises(ValueError, match=r"mode 'RGB' PNG; a label must be a palette"):
        VOCSegmentation(root, "val")[1]
    bad = labels[ids[3]].copy(); bad[5, 5] = 30
    _palette_png(root / "SegmentationClass" / f"{ids[3]}.png", bad)
    with pytest.raises(DataError, match=r"label .*2007_000003.png has values \[30\] outside "
                                        r"0..20 and 255"):
        VOCSegmentation(root, "val")[0]
    _palette_png(root / "SegmentationClass" / f"{ids[3]}.png", labels[ids[3]][:-1])
    with pytest.raises(ValueError, match=r"is \(15, 15\) but its label .* is \(14, 15\)"):
        VOCSegmentation(root, "val")[0]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "missing"])
@pytest.mark.parametrize("which", ["image", "label"])
def test_voc_damaged_files_name_their_path(voc_tree, damage, which):
    """A truncated, corrupt, empty or vanished JPEG/PNG is a DataError naming the file (not
    Pillow's "image file is truncated" alone); the other items still load."""
    _, root, ids, labels = voc_tree
    ds = VOCSegmentation(root, "train")
    path = ds.image_path(1) if which == "image" else ds.label_path(1)
    data = open(path, "rb").read()
    if damage == "missing":
        os.remove(path)
    else:
        with open(path, "wb") as f:
            f.write({"truncated": data[:len(data) * 2 // 3], "garbage": b"\x89PNG not really",
                     "empty": b""}[damage])
    with pytest.raises(DataError, match=f"{which} .*{os.path.basename(path)}") as e:
        ds[1]
    assert e.value.path == path
    np.testing.assert_array_equal(ds[0][1], labels[ids[0]])


def test_label_png_round_trip_and_voc_palette(tmp_path):
    lab = np.arange(256, dtype=np.uint8).reshape(16, 16)
    save_label_png(tmp_path / "l.png", lab)
    with Image.open(tmp_path / "l.png") as im:
        assert im.mode == "P"
        rgb = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(read_label_png(tmp_path / "l.png"), lab)
    # the published VOC colours: background, aeroplane, bicycle, bird, boat, person, tv, void
    known = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 4: (0, 0, 128),
             15: (192, 128, 128), 20: (0, 64, 128), 255: (224, 224, 192)}
    for k, c in known.items():
        assert tuple(rgb.reshape(-1, 3)[k]) == c
        assert tuple(voc_palette()[k]) == c
    with pytest.raises(ValueError, match="label values must lie in 0..255"):
        save_label_png(tmp_path / "x.png", np.full((2, 2), 300))


def test_colorize_and_overlay():
    lab = np.array([[0, 1], [15, 255]])
    col = colorize(lab)
    np.testing.assert_array_equal(col, [[[0, 0, 0], [128, 0, 0]],
                                        [[192, 128, 128], [255, 255, 255]]])
    assert tuple(colorize(lab, ignore_color=(0, 0, 0))[1, 1]) == (0, 0, 0)
    img = np.full((2, 2, 3), 100, np.uint8)
    out = overlay(img, lab, alpha=0.25)
    np.testing.assert_array_equal(out[0, 0], img[0, 0])             # background left alone
    np.testing.assert_array_equal(out[1, 1], img[1, 1])             # ignore left alone
    np.testing.assert_array_equal(out[0, 1], np.rint(0.75 * 100 + 0.25 * np.array([128, 0, 0])))
    with pytest.raises(ValueError, match=r"image is \(2, 2\) but label is \(1, 2\)"):
        overlay(img, lab[:1])
    with pytest.raises(ValueError, match="image must be a \\(H, W, 3\\) uint8"):
        overlay(img.astype(float), lab)


# ------------------------------------------------------------------------------- augmentation

def _pair(rng, h=13, w=10, L=5):
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    label = rng.integers(0, L, (h, w)).astype(np.uint8)
    return image, label


def loop_bilinear(image, oh, ow):
    """Per-pixel half-pixel bilinear interpolation with clamped source coordinates."""
    h, w, _ = image.shape
    out = np.zeros((oh, ow, 3))
    for i in range(oh):
        for j in range(ow):
            y = min(max((i + 0.5) * h / oh - 0.5, 0), h - 1)
            x = min(max((j + 0.5) * w / ow - 0.5, 0), w - 1)
            y0, x0 = int(math.floor(y)), int(math.floor(x))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            fy, fx = y - y0, x - x0
            out[i, j] = ((1 - fy) * (1 - fx) * image[y0, x0] + (1 - fy) * fx * image[y0, x1]
                         + fy * (1 - fx) * image[y1, x0] + fy * fx * image[y1, x1])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("out_hw", [(13, 10), (7, 4), (20, 17), (5, 23)])
def test_resize_image_matches_loop(on, out_hw):
    image, _ = _pair(np.random.default_rng(0))
    got = backend.asnumpy(resize_image(on(image), out_hw))
    want = loop_bilinear(image, *out_hw)
    assert np.abs(got.astype(int) - want).max() <= 1        # rounding of x.5 may differ
    assert np.mean(got != want) < 0.01


def test_resize_label_is_nearest_and_never_invents_labels(on):
    rng = np.random.default_rng(1)
    _, label = _pair(rng, L=4)
    label[label == 3] = 255
    for out in [(26, 20), (7, 5), (19, 3), (31, 14)]:
        got = backend.asnumpy(resize_label(on(label), out))
        assert set(np.unique(got)) <= set(np.unique(label))
    # doubling replicates each pixel into a 2x2 block (centres (i + 0.5) / 2 fall in pixel i // 2)
    np.testing.assert_array_equal(backend.asnumpy(resize_label(on(label), (26, 20))),
                                  np.repeat(np.repeat(label, 2, 0), 2, 1))
    np.testing.assert_array_equal(backend.asnumpy(resize_label(on(label), (13, 10))), label)


def test_random_scale_range_and_labels():
    rng = np.random.default_rng(2)
    image, label = _pair(rng, 40, 30)
    ratios = []
    for _ in range(60):
        im, lab = random_scale(image, label, rng, (0.5, 1.5))
        assert im.shape[:2] == lab.shape and im.dtype == np.uint8 and lab.dtype == label.dtype
        assert set(np.unique(lab)) <= set(np.unique(label))
        ratios.append(lab.shape[0] / 40)
        assert abs(lab.shape[1] / 30 - ratios[-1]) < 0.05          # one factor for both axes
    assert min(ratios) >= 0.5 - 1 / 80 and max(ratios) <= 1.5 + 1 / 80
    assert min(ratios) < 0.6 and max(ratios) > 1.4


def test_random_mirror_flips_image_and_label_together(on):
    rng = np.random.default_rng(3)
    image, _ = _pair(rng)
    label = (image[..., 0] % 7).astype(np.uint8)        # label = f(image) pixel by pixel
    flipped = 0
    for _ in range(20):
        im, lab = random_mirror(*on(image, label), rng)
        im, lab = backend.asnumpy(im), backend.asnumpy(lab)
        np.testing.assert_array_equal(lab, im[..., 0] % 7)    # still aligned
        if np.array_equal(im, image[:, ::-1]):
            flipped += 1
        else:
            np.testing.assert_array_equal(im, image)
    assert 3 <= flipped <= 17
    im, lab = random_mirror(image, label, rng, p=1.0)
    np.testing.assert_array_equal(lab, label[:, ::-1])


def test_crop_pads_with_mean_and_255(on):
    rng = np.random.default_rng(4)
    image, label = _pair(rng, 5, 4)
    im, lab = random_crop(*on(image, label), (9, 7), rng)
    im, lab = backend.asnumpy(im), backend.asnumpy(lab)
    assert im.shape == (9, 7, 3) and lab.shape == (9, 7)
    np.testing.assert_array_equal(im[:5, :4], image)                 # padded bottom and right
    np.testing.assert_array_equal(lab[:5, :4], label)
    pad = np.ones((9, 7), bool); pad[:5, :4] = False
    assert (lab[pad] == 255).all()
    np.testing.assert_array_equal(im[pad], np.broadcast_to([123, 117, 104], (pad.sum(), 3)))
    im2, _ = pad_to(image, label, 6, mean=(0, 10, 250.4))
    np.testing.assert_array_equal(im2[5, 5], [0, 10, 250])


def test_crop_is_a_window_at_uniform_offsets():
    rng = np.random.default_rng(5)
    image, label = _pair(rng, 8, 6)
    seen = set()
    for _ in range(200):
        im, lab = random_crop(image, label, (5, 4), rng)
        hits = [(y, x) for y in range(4) for x in range(3)
                if np.array_equal(im, image[y:y + 5, x:x + 4])
                and np.array_equal(lab, label[y:y + 5, x:x + 4])]
        assert len(hits) == 1
        seen.add(hits[0])
    assert len(seen) == 12                                  # every offset occurs


def test_augment_pipeline():
    rng = np.random.default_rng(6)
    image, label = _pair(rng, 33, 33)
    for _ in range(10):
        im, lab = augment(image, label, rng, crop_size=41)
        assert im.shape == (41, 41, 3) and lab.shape == (41, 41)
        assert set(np.unique(lab)) <= set(np.unique(label)) | {255}
    im, lab = augment(image, label, rng, crop_size=None, scale_range=None, mirror=False)
    np.testing.assert_array_equal(im, image)
    np.testing.assert_array_equal(lab, label)
    assert im is not image                                   # a copy, never the caller's array


def test_augment_bad_inputs():
    rng = np.random.default_rng(7)
    image, label = _pair(rng)
    with pytest.raises(ValueError, match=r"image must be a \(H, W, 3\) uint8 RGB array.*float32"):
        augment(image.astype(np.float32), label, rng)
    with pytest.raises(ValueError, match=r"image must be a \(H, W, 3\).*\(13, 10\)"):
        augment(image[..., 0], label, rng)
    with pytest.raises(ValueError, match=r"image is \(13, 10\) but label is \(10, 13\)"):
        augment(image, label.T, rng)
    with pytest.raises(ValueError, match=r"label must be a \(H, W\) integer array.*float64"):
        augment(image, label.astype(float), rng)
    with pytest.raises(ValueError, match="crop_size .* is larger than 4096"):
        random_crop(image, label, 100000, rng)
    with pytest.raises(ValueError, match="crop_size must be >= 1"):
        random_crop(image, label, 0, rng)
    with pytest.raises(ValueError, match="scale_range must be"):
        random_scale(image, label, rng, (0, 1))


def test_to_batch_values_layout_and_device(device):
    rng = np.random.default_rng(8)
    images = [_pair(rng)[0] for _ in range(2)]
    labels = [_pair(rng)[1] for _ in range(2)]
    x, y = to_batch(images, labels, device=device)
    assert backend.device_of(x) == device and backend.device_of(y) == device
    x, y = backend.asnumpy(x), backend.asnumpy(y)
    assert x.shape == (2, 3, 13, 10) and x.dtype == np.float32
    assert y.shape == (2, 13, 10) and y.dtype == np.int64
    assert x[1, 0, 4, 7] == pytest.approx(images[1][4, 7, 0] - 122.675, abs=1e-4)   # R - mean R
    assert x[1, 2, 4, 7] == pytest.approx(images[1][4, 7, 2] - 104.008, abs=1e-4)   # B - mean B
    np.testing.assert_array_equal(y[1], labels[1])
    xb, none = to_batch(np.stack(images), preprocessing=Preprocessing(channel_order="bgr"),
                        device=device)
    assert none is None
    blue = images[1][4, 7, 2] - MEAN_BGR[0]                      # channel 0 is B in BGR
    assert backend.asnumpy(xb)[1, 0, 4, 7] == pytest.approx(blue, abs=1e-4)
    assert MEAN_RGB == MEAN_BGR[::-1]


def test_to_batch_bad_inputs():
    im = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match=r"images have different shapes"):
        to_batch([im, np.zeros((5, 5, 3), np.uint8)])
    with pytest.raises(ValueError, match=r"images\[1\] must be a \(H, W, 3\) uint8.*float64"):
        to_batch([im, im.astype(float)])
    with pytest.raises(ValueError, match=r"images must be \(N, H, W, 3\) uint8, got shape \(4, 5"):
        to_batch(im)
    with pytest.raises(ValueError, match=r"labels.shape=\(1, 4, 4\) does not match"):
        to_batch([im], [np.zeros((4, 4), np.uint8)])
    with pytest.raises(ValueError, match=r"labels have values \[9\] outside \[0, 6\) or 255"):
        to_batch([im], [np.full((4, 5), 9, np.uint8)], num_classes=6)


def test_sample_photo_whole_and_cropped():
    whole = sample_photo()
    assert whole.shape == (600, 512, 3) and whole.dtype == np.uint8
    top = (600 - 512 * 3 // 4) // 2                       # centre crop to 4:3 landscape
    np.testing.assert_array_equal(sample_photo((512, 384)), whole[top:top + 384])
    small = sample_photo((72, 54))
    assert small.shape == (54, 72, 3)
    # a bilinear downscale keeps the mean colour of the crop to within a few levels
    np.testing.assert_allclose(small.mean(axis=(0, 1)), whole[top:top + 384].mean(axis=(0, 1)),
                               atol=3)
    for bad in ((72,), (72, 0), (72.0, 54), "72x54"):
        with pytest.raises(ValueError, match="sample_photo: size must be None or"):
            sample_photo(bad)

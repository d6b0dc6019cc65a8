"""Jobs for Figs. 5, 6 and 10 on real photos with torchvision's trained DeepLabV3: they need the
user's copy of torchvision's weights (``--torchvision FILE``), Fig. 10 also PASCAL VOC
(``--voc PATH``); without them ``reproduce`` skips them and says how to get the weights."""
import functools

from .. import real_photos
from ..figures.common import save_figure, save_text
from ..registry import job


@functools.lru_cache(maxsize=1)
def _model(path, device):
    """torchvision's DeepLabV3 from ``path``, loaded once for both jobs of a run."""
    from ...models import load_torchvision
    return load_torchvision(path, device=device)


def _segmented(torchvision, voc, quick, device, progress):
    return real_photos.segment_photos(_model(torchvision, device), voc_root=voc, quick=quick,
                                      device=device, progress=progress)


@job(name="real_photos", paper="Figs. 5 and 6 (real photos)",
     files={"fig5_meanfield_real.png": "Fig. 5 on a real photo (the sample photo, or the VOC "
                                       "val image with the most foreground).",
            "fig6_crf_before_after_real.png": "Fig. 6 on real photos: torchvision's DeepLabV3 "
                                              "before / after the CRF."},
     needs=("torchvision",), uses=("voc",))
def real_photos_fig5_fig6(out_dir, quick, device, progress, torchvision, voc=None):
    """Figs. 5 and 6 with torchvision's DeepLabV3 and DeepLab v2's ResNet-101 CRF."""
    fig5, fig6 = real_photos.fig5_fig6_real(
        _segmented(torchvision, voc, quick, device, progress))
    return [save_figure(fig5, out_dir / "fig5_meanfield_real.png"),
            save_figure(fig6, out_dir / "fig6_crf_before_after_real.png")]


@job(name="fig10_real", paper="Fig. 10 (real photos)",
     files={"fig10_trimap_real.png": "Fig. 10 on VOC val images: band accuracy before / after "
                                     "the CRF.",
            "fig10_trimap_real.txt": "Fig. 10's numbers on VOC val images."},
     needs=("torchvision", "voc"))
def fig10_real(out_dir, quick, device, progress, torchvision, voc):
    """Fig. 10 with torchvision's DeepLabV3 on PASCAL VOC val images."""
    fig, text = real_photos.fig10_real(_segmented(torchvision, voc, quick, device, progress))
    save_text(out_dir / "fig10_trimap_real.txt", text + "\n")
    return [save_figure(fig, out_dir / "fig10_trimap_real.png"),
            out_dir / "fig10_trimap_real.txt"]

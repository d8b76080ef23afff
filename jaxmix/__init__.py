"""jaxmix: CutMix, Mixup and Cutout as pure, jit-compiled, vmapped JAX ops.

The public API is re-exported here; the implementation lives in `jaxmix._src`
(one module per concept: sampling, boxes, pairing, modes, targets, the shared
op skeleton `mixing`, and one module per op).
"""

from jaxmix._src.boxes import Box
from jaxmix._src.boxes import box_area
from jaxmix._src.boxes import box_from_centre
from jaxmix._src.boxes import box_mask
from jaxmix._src.boxes import corrected_lam
from jaxmix._src.boxes import cutout_box
from jaxmix._src.boxes import sample_box
from jaxmix._src.boxes import sample_box_minmax
from jaxmix._src.boxes import sample_centre
from jaxmix._src.boxes import sample_erasing_box
from jaxmix._src.cutmix import cutmix
from jaxmix._src.cutmix import cutmix_single
from jaxmix._src.cutmix import paste_box
from jaxmix._src.cutout import cutout
from jaxmix._src.cutout import erase_box
from jaxmix._src.cutout import random_erasing
from jaxmix._src.mixing import MixOp
from jaxmix._src.mixing import mix_batch
from jaxmix._src.mixup import blend
from jaxmix._src.mixup import blend_n
from jaxmix._src.mixup import mixup
from jaxmix._src.modes import draw_params
from jaxmix._src.pairing import gather_partners
from jaxmix._src.pairing import partner_index
from jaxmix._src.policy import MixConfig
from jaxmix._src.policy import mix
from jaxmix._src.policy import sample_mix_params
from jaxmix._src import schedules
from jaxmix._src.sampling import sample_dirichlet
from jaxmix._src.sampling import random_words
from jaxmix._src.sampling import sample_lam
from jaxmix._src.targets import check_label_ids
from jaxmix._src.targets import label_rows
from jaxmix._src.targets import mix_labels
from jaxmix._src.targets import mix_rows
from jaxmix._src.targets import one_hot

from jaxmix._src.dense import one_hot_map
from jaxmix._src.fmix import binarise_mask
from jaxmix._src.fmix import fmix
from jaxmix._src.fmix import sample_mask as sample_fmix_mask
from jaxmix._src.gridmix import grid_mask
from jaxmix._src.gridmix import gridmix
from jaxmix._src.registry import OPS
from jaxmix._src.registry import mix_dict
from jaxmix._src.registry import mix_targets
from jaxmix._src.resize import resize_into_box
from jaxmix._src.resizemix import resizemix
from jaxmix._src.saliencymix import saliency_peak
from jaxmix._src.saliencymix import saliencymix
from jaxmix._src.saliencymix import spectral_residual
from jaxmix._src.smoothmix import smoothmix

__version__ = "0.2.0"

__all__ = (
    "Box",
    "MixConfig",
    "MixOp",
    "blend",
    "blend_n",
    "box_area",
    "box_from_centre",
    "box_mask",
    "check_label_ids",
    "corrected_lam",
    "cutmix",
    "cutmix_single",
    "cutout",
    "cutout_box",
    "draw_params",
    "erase_box",
    "gather_partners",
    "label_rows",
    "mix",
    "mix_batch",
    "mix_labels",
    "mix_rows",
    "mixup",
    "one_hot",
    "partner_index",
    "paste_box",
    "random_erasing",
    "random_words",
    "sample_box",
    "sample_box_minmax",
    "sample_centre",
    "sample_dirichlet",
    "sample_erasing_box",
    "sample_lam",
    "sample_mix_params",
    "schedules",
    "OPS",
    "binarise_mask",
    "fmix",
    "grid_mask",
    "gridmix",
    "mix_dict",
    "mix_targets",
    "one_hot_map",
    "resize_into_box",
    "resizemix",
    "saliency_peak",
    "saliencymix",
    "sample_fmix_mask",
    "spectral_residual",
    "smoothmix",
)

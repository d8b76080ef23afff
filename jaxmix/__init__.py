"""jaxmix: CutMix, Mixup and Cutout as pure, jit-compiled, vmapped JAX ops."""

from jaxmix.boxes import Box
from jaxmix.boxes import box_area
from jaxmix.boxes import box_from_centre
from jaxmix.boxes import box_mask
from jaxmix.boxes import corrected_lam
from jaxmix.boxes import cutout_box
from jaxmix.boxes import sample_box
from jaxmix.boxes import sample_box_minmax
from jaxmix.boxes import sample_centre
from jaxmix.boxes import sample_erasing_box
from jaxmix.boxes import sample_lam
from jaxmix.cutmix import cutmix
from jaxmix.cutmix import cutmix_single
from jaxmix.cutmix import paste_box
from jaxmix.cutout import cutout
from jaxmix.cutout import erase_box
from jaxmix.cutout import random_erasing
from jaxmix.labels import check_label_ids
from jaxmix.labels import label_rows
from jaxmix.labels import mix_labels
from jaxmix.labels import one_hot
from jaxmix.mixup import blend
from jaxmix.mixup import mixup
from jaxmix.modes import draw_params
from jaxmix.partners import gather_partners
from jaxmix.partners import partner_index
from jaxmix.policy import MixConfig
from jaxmix.policy import mix
from jaxmix.policy import sample_mix_params

__version__ = "0.1.0"

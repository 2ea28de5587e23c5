"""ADE20K-150 with its panoptic annotation, for the panoptic quality of methods trained elsewhere (FC-CLIP's ADE
evaluation): mIoU from the semantic maps and PQ from the panoptic PNGs, in one test run."""
from mmseg.datasets import ADE20KDataset

from clipdense.registry import DATASETS
from .panoptic_benchmark import PanopticBenchmarkDataset


@DATASETS.register_module()
class ADE20KPanopticDataset(PanopticBenchmarkDataset):
    """ADE20K-150 validation with both of its ground truths (``PanopticBenchmarkDataset``): the semantic map
    (mmseg's ``annotations/validation``, 0 = "other" ignored) and the panoptic annotation that Mask2Former's
    ``datasets/prepare_ade20k_pan_seg.py`` writes (``ade20k_panoptic_val.json`` and PNGs: things from the instance
    annotation pasted over the semantic map, thing pixels no instance covers void). Its category ids 0-149 are the
    class indices of mmseg's ``ADE20KDataset`` (same order, other names); ``isthing`` marks 100 thing classes.

    Typical use: ``data_root='data/ade/ADEChallengeData2016'``, ``ann_file='ade20k_panoptic_val.json'``,
    ``data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation',
    pan_seg_map_path='ade20k_panoptic_val')``; load the semantic map with ``LoadAnnotations(reduce_zero_label=True)``
    and pack ``pan_seg_map_path`` and ``segments_info`` among ``PackSegInputs``' meta keys.
    """
    METAINFO = dict(classes=ADE20KDataset.METAINFO['classes'], palette=ADE20KDataset.METAINFO['palette'],
                    panoptic_map_key='pan_seg_map_path')
    PREPARE_HINT = ('Unpack ADEChallengeData2016.zip and its instance annotations (annotations_instance/), then write '
                    'the panoptic PNGs and json with Mask2Former\'s datasets/prepare_ade20k_pan_seg.py (the files '
                    'FC-CLIP evaluates on).')

    def __init__(self, ann_file: str, img_suffix='.jpg', seg_map_suffix='.png', **kwargs) -> None:
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=True, **kwargs)

    def check_categories(self, categories):
        ids = [category['id'] for category in categories]
        if ids != list(range(len(self.METAINFO['classes']))):
            raise ValueError(f'{self.ann_file}: category ids are {ids[:5]}..., ADE20K-150 panoptic has ids '
                             f'0-{len(self.METAINFO["classes"]) - 1}: is it prepare_ade20k_pan_seg.py\'s json?')

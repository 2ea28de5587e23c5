"""Cityscapes with its panoptic annotation, for the panoptic quality of methods trained elsewhere (FC-CLIP's
Cityscapes evaluation): mIoU from the train-id maps and PQ from the panoptic PNGs, in one test run."""
from mmseg.datasets import CityscapesDataset

from clipdense.registry import DATASETS
from .panoptic_benchmark import PanopticBenchmarkDataset


@DATASETS.register_module()
class CityscapesPanopticDataset(PanopticBenchmarkDataset):
    """Cityscapes fine validation with both of its ground truths (``PanopticBenchmarkDataset``): the train-id maps
    (``gtFine/val/<city>/*_gtFine_labelTrainIds.png``, 19 classes, 255 ignored) and the panoptic annotation that
    cityscapesScripts' ``csCreatePanopticImgs`` writes (``gtFine/cityscapes_panoptic_val.json`` and
    ``gtFine/cityscapes_panoptic_val/*_gtFine_panoptic.png``; groups of things are crowd segments). Its 19 categories
    carry Cityscapes label ids (or train ids, with ``--use-train-id``), which sorted are the train-id order;
    ``isthing`` marks the 8 thing classes. Images lie in a folder per city, named by the image id's first part.

    Typical use: ``data_root='data/cityscapes'``, ``ann_file='gtFine/cityscapes_panoptic_val.json'``,
    ``data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val',
    pan_seg_map_path='gtFine/cityscapes_panoptic_val')``; pack ``pan_seg_map_path`` and ``segments_info`` among
    ``PackSegInputs``' meta keys.
    """
    METAINFO = dict(classes=CityscapesDataset.METAINFO['classes'], palette=CityscapesDataset.METAINFO['palette'],
                    panoptic_map_key='pan_seg_map_path')
    PREPARE_HINT = ('Write the train-id maps (mmseg\'s tools/dataset_converters/cityscapes.py) and the panoptic '
                    'annotation: pip install cityscapesscripts, then csCreatePanopticImgs --dataset-folder '
                    'data/cityscapes/gtFine --set-names val.')

    def __init__(self, ann_file: str, img_suffix='_leftImg8bit.png', seg_map_suffix='_gtFine_labelTrainIds.png',
                 **kwargs) -> None:
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def check_categories(self, categories):
        names = tuple(category['name'] for category in categories)
        if names != tuple(self.METAINFO['classes']):
            raise ValueError(f'{self.ann_file}: categories {names[:5]}... (sorted by id) are not Cityscapes\' 19 '
                             'evaluated classes in train-id order: is it csCreatePanopticImgs\'s json?')

    def image_folder(self, image_id: str) -> str:
        return image_id.split('_')[0]  # frankfurt_000000_000294 lies in frankfurt/

"""ADE20K-150 with its panoptic annotation, for the panoptic quality of methods trained elsewhere (FC-CLIP's ADE
evaluation): mIoU from the semantic maps and PQ from the panoptic PNGs, in one test run."""
import json
import os.path as osp

from mmseg.datasets import ADE20KDataset, BaseSegDataset

from clipdense.registry import DATASETS
from .utils import check_data_paths

PREPARE_HINT = ('Unpack ADEChallengeData2016.zip and its instance annotations (annotations_instance/), then write '
                'the panoptic PNGs and json with Mask2Former\'s datasets/prepare_ade20k_pan_seg.py (the files '
                'FC-CLIP evaluates on).')


@DATASETS.register_module()
class ADE20KPanopticDataset(BaseSegDataset):
    """ADE20K-150 validation with both of its ground truths, which differ: the semantic map (mmseg's
    ``annotations/validation``, 0 = "other" ignored) at ``seg_map_path`` for mIoU, and the panoptic PNG (segment id
    = R + 256·G + 256²·B, things taken from the instance annotation and pasted over the semantic map, thing pixels
    no instance covers void) at ``pan_seg_map_path`` with its ``segments_info`` for PQ.

    The panoptic json is the one Mask2Former's ``prepare_ade20k_pan_seg.py`` writes (``ade20k_panoptic_val.json``):
    category ids 0-149 are the class indices of mmseg's ``ADE20KDataset`` (same order), ``isthing`` marks the 100
    thing classes (the meta's ``thing_classes``) and image ids are file stems.

    Typical use: ``data_root='data/ade/ADEChallengeData2016'``, ``ann_file='ade20k_panoptic_val.json'``,
    ``data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation',
    pan_seg_map_path='ade20k_panoptic_val')``; load the semantic map with ``LoadAnnotations(reduce_zero_label=True)``
    and pack ``pan_seg_map_path`` and ``segments_info`` among ``PackSegInputs``' meta keys.
    """
    METAINFO = dict(classes=ADE20KDataset.METAINFO['classes'], palette=ADE20KDataset.METAINFO['palette'],
                    panoptic_map_key='pan_seg_map_path')  # where PanopticQualityMetric finds the panoptic PNG

    def __init__(self, ann_file: str, img_suffix='.jpg', seg_map_suffix='.png', **kwargs) -> None:
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=True, **kwargs)

    def load_data_list(self):
        check_data_paths(self, PREPARE_HINT)
        panoptic_folder = self.data_prefix.get('pan_seg_map_path')
        if not panoptic_folder or not osp.isdir(panoptic_folder):
            raise FileNotFoundError(f'ADE20KPanopticDataset: the pan_seg_map_path folder {panoptic_folder!r} does '
                                    f'not exist (data_root={self.data_root!r}). {PREPARE_HINT} See docs/datasets.md.')
        with open(self.ann_file) as f:
            content = json.load(f)
        categories = sorted(content['categories'], key=lambda category: category['id'])
        class_names = self.METAINFO['classes']
        if [category['id'] for category in categories] != list(range(len(class_names))):
            raise ValueError(f'{self.ann_file}: category ids are {[c["id"] for c in categories][:5]}..., ADE20K-150 '
                             f'panoptic has ids 0-{len(class_names) - 1}: is it prepare_ade20k_pan_seg.py\'s json?')
        self._metainfo['thing_classes'] = tuple(name for name, category in zip(class_names, categories)
                                                if category['isthing'])
        images = {image['id']: image for image in content['images']}
        data_list = []
        for annotation in content['annotations']:
            image = images[annotation['image_id']]
            stem = osp.splitext(image['file_name'])[0]
            segments = [dict(id=segment['id'], label=segment['category_id'], iscrowd=segment['iscrowd'])
                        for segment in annotation['segments_info']]
            data_list.append(dict(img_path=osp.join(self.data_prefix['img_path'], image['file_name']),
                                  img_id=annotation['image_id'],
                                  seg_map_path=osp.join(self.data_prefix['seg_map_path'], stem + self.seg_map_suffix),
                                  pan_seg_map_path=osp.join(panoptic_folder, annotation['file_name']),
                                  segments_info=segments, label_map=self.label_map,
                                  reduce_zero_label=self.reduce_zero_label, seg_fields=[]))
        return sorted(data_list, key=lambda info: info['img_path'])

"""COCO panoptic 2017 with its segments, for methods that supervise one mask per instance (FC-CLIP, Mask2Former)."""
import json
import os.path as osp

from mmdet.datasets import CocoPanopticDataset
from mmseg.datasets import BaseSegDataset

from clipdense.registry import DATASETS
from .utils import check_data_paths


@DATASETS.register_module()
class COCOPanopticSegDataset(BaseSegDataset):
    """COCO panoptic 2017 (133 classes: 80 things then 53 stuff, mmdet's ``CocoPanopticDataset`` order): images, the
    panoptic PNGs (segment id = R + 256·G + 256²·B) and each image's ``segments_info`` from the panoptic json, with
    category ids mapped to the contiguous class index, and the COCO ``img_id`` (for mmdet's ``CocoMetric``); the
    meta's ``thing_classes`` are the 80 things. Read the annotations with ``LoadPanopticAnnotations``.

    Typical use: ``data_root='data/coco'``, ``ann_file='annotations/panoptic_train2017.json'``,
    ``data_prefix=dict(img_path='train2017', seg_map_path='annotations/panoptic_train2017')``.
    """
    METAINFO = dict(classes=CocoPanopticDataset.METAINFO['classes'], palette=CocoPanopticDataset.METAINFO['palette'],
                    thing_classes=CocoPanopticDataset.METAINFO['thing_classes'])

    def __init__(self, ann_file: str, **kwargs) -> None:
        super().__init__(ann_file=ann_file, reduce_zero_label=False, **kwargs)

    def load_data_list(self):
        check_data_paths(self, 'Download and unzip COCO panoptic 2017 (images, panoptic json and PNGs).')
        with open(self.ann_file) as f:
            content = json.load(f)
        category_ids = sorted(category['id'] for category in content['categories'])
        if len(category_ids) != len(self.METAINFO['classes']):
            raise ValueError(f'{self.ann_file} lists {len(category_ids)} categories, COCO panoptic has '
                             f'{len(self.METAINFO["classes"])}: is it a COCO panoptic json?')
        to_class = {category_id: index for index, category_id in enumerate(category_ids)}
        images = {image['id']: image for image in content['images']}
        data_list = []
        for annotation in content['annotations']:
            image = images[annotation['image_id']]
            segments = [dict(id=segment['id'], label=to_class[segment['category_id']], iscrowd=segment['iscrowd'])
                        for segment in annotation['segments_info']]
            data_list.append(dict(img_path=osp.join(self.data_prefix['img_path'], image['file_name']),
                                  img_id=annotation['image_id'],
                                  seg_map_path=osp.join(self.data_prefix['seg_map_path'], annotation['file_name']),
                                  segments_info=segments, label_map=self.label_map, reduce_zero_label=False,
                                  seg_fields=[]))
        return sorted(data_list, key=lambda info: info['img_path'])

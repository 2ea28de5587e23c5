"""What the benchmarks scored by both mIoU and PQ share: each image's semantic map and its panoptic annotation (a
COCO-panoptic json and PNGs written by the benchmark's own script), which differ."""
import json
import os.path as osp
from typing import Sequence

from mmseg.datasets import BaseSegDataset

from .utils import check_data_paths


class PanopticBenchmarkDataset(BaseSegDataset):
    """A validation split with two ground truths: the semantic map at ``seg_map_path`` (for mIoU, loaded by the
    pipeline's label loader) and the panoptic PNG (segment id = R + 256·G + 256²·B) at ``pan_seg_map_path`` with its
    ``segments_info`` (``id``, ``label``: the class index, ``iscrowd``) for PQ; the meta's ``thing_classes`` are the
    json's ``isthing`` categories, and its ``panoptic_map_key`` tells ``PanopticQualityMetric`` where the panoptic PNG
    is. The json's categories, sorted by id, are the dataset's classes in order.

    Subclasses set ``METAINFO`` (with ``panoptic_map_key='pan_seg_map_path'``), ``PREPARE_HINT`` (how to write the
    panoptic annotation) and may override ``check_categories`` and ``image_folder`` (the folder of an image below
    ``img_path`` and of its semantic map below ``seg_map_path``).
    """
    PREPARE_HINT = ''

    def check_categories(self, categories: Sequence[dict]) -> None:
        """Fail unless the json's categories (sorted by id) are this benchmark's classes."""
        if len(categories) != len(self.METAINFO['classes']):
            raise ValueError(f'{self.ann_file} lists {len(categories)} categories, {type(self).__name__} has '
                             f'{len(self.METAINFO["classes"])} classes. {self.PREPARE_HINT}')

    def image_folder(self, image_id: str) -> str:
        return ''

    def load_data_list(self):
        if not self.data_prefix.get('pan_seg_map_path'):
            raise ValueError(f'{type(self).__name__} needs data_prefix.pan_seg_map_path, the folder of the panoptic '
                             'PNGs. See docs/datasets.md.')
        check_data_paths(self, self.PREPARE_HINT)
        panoptic_folder = self.data_prefix['pan_seg_map_path']
        with open(self.ann_file) as f:
            content = json.load(f)
        categories = sorted(content['categories'], key=lambda category: category['id'])
        self.check_categories(categories)
        to_class = {category['id']: index for index, category in enumerate(categories)}
        classes = self.METAINFO['classes']
        self._metainfo['thing_classes'] = tuple(classes[to_class[category['id']]] for category in categories
                                                if category['isthing'])
        images = {image['id']: image for image in content['images']}
        data_list = []
        for annotation in content['annotations']:
            image = images[annotation['image_id']]
            if not image['file_name'].endswith(self.img_suffix):
                raise ValueError(f'{self.ann_file}: image {image["file_name"]!r} does not end with '
                                 f'{self.img_suffix!r}: is it {type(self).__name__}\'s panoptic json?')
            folder = self.image_folder(str(annotation['image_id']))
            semantic_name = image['file_name'][:-len(self.img_suffix)] + self.seg_map_suffix
            segments = [dict(id=segment['id'], label=to_class[segment['category_id']], iscrowd=segment['iscrowd'])
                        for segment in annotation['segments_info']]
            data_list.append(dict(img_path=osp.join(self.data_prefix['img_path'], folder, image['file_name']),
                                  img_id=annotation['image_id'],
                                  seg_map_path=osp.join(self.data_prefix['seg_map_path'], folder, semantic_name),
                                  pan_seg_map_path=osp.join(panoptic_folder, annotation['file_name']),
                                  segments_info=segments, label_map=self.label_map,
                                  reduce_zero_label=self.reduce_zero_label, seg_fields=[]))
        return sorted(data_list, key=lambda info: info['img_path'])

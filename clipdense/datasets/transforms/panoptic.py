"""Panoptic annotations for mask-classification training: one mask per segment."""
import mmcv
import mmengine.fileio as fileio
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs

from clipdense.registry import TRANSFORMS

NO_SEGMENT = 255


def panoptic_ids(rgb: np.ndarray) -> np.ndarray:
    """COCO-panoptic PNG colours (H, W, 3 RGB) → segment ids R + 256·G + 256²·B (0: void)."""
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


@TRANSFORMS.register_module()
class LoadPanopticAnnotations(BaseTransform):
    """Read a COCO-panoptic PNG (segment id = R + 256·G + 256²·B) with its ``segments_info``.

    Added keys:

    * ``gt_seg_map`` (uint8): the class of every labelled pixel, 255 elsewhere (crowd regions keep their class, as
      detectron2's semantic maps of COCO panoptic do);
    * ``gt_segment_map`` (uint8): the index of each non-crowd segment (0, 1, ...), 255 on void and crowd pixels, as
      Mask2Former's and FC-CLIP's panoptic training skips crowd regions; both maps are in ``seg_fields``, so
      mmseg's resize, crop and flip move them together (mmcv's ``Pad`` pads only the label map: the segments are
      padded with 255 to its size where the head reads them);
    * ``segment_labels`` (int64 array): the class of each segment index. A segment with no pixel (none in the
      PNG, or none left after a crop) keeps its index and label: the reference trains on every non-crowd segment of
      ``segments_info``, such a segment as an empty mask.
    """

    def __init__(self, backend_args=None) -> None:
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        data = fileio.get(results['seg_map_path'], backend_args=self.backend_args)
        ids = panoptic_ids(mmcv.imfrombytes(data, flag='color', channel_order='rgb', backend='cv2'))
        semantic = np.full(ids.shape, 255, dtype=np.uint8)
        segments = np.full(ids.shape, NO_SEGMENT, dtype=np.uint8)
        labels = []
        for segment in results['segments_info']:
            inside = ids == segment['id']
            semantic[inside] = segment['label']
            if segment['iscrowd']:
                continue
            if len(labels) == NO_SEGMENT:
                raise ValueError(f'{results["seg_map_path"]} has more than {NO_SEGMENT} segments, which an 8-bit '
                                 'segment map cannot index.')
            segments[inside] = len(labels)
            labels.append(segment['label'])
        results['gt_seg_map'] = semantic
        results['gt_segment_map'] = segments
        results['segment_labels'] = np.array(labels, dtype=np.int64)
        results.setdefault('seg_fields', []).extend(['gt_seg_map', 'gt_segment_map'])
        return results


@TRANSFORMS.register_module()
class PackPanopticSegInputs(PackSegInputs):
    """mmseg's ``PackSegInputs`` that also packs ``LoadPanopticAnnotations``'s segments: the data sample gets
    ``gt_segments`` (a ``PixelData``, 1 × H × W) and the metainfo ``segment_labels``."""

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        if 'gt_segment_map' in results:
            sample = packed['data_samples']
            sample.gt_segments = PixelData(data=torch.from_numpy(results['gt_segment_map'][None].astype(np.int64)))
            sample.set_metainfo(dict(segment_labels=results['segment_labels']))
        return packed

"""mmdet's multi-level RoI extractor with the RoI operator taken from clipdense's ops or mmcv's."""
from typing import List

from mmcv import ops as mmcv_ops
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from torch import nn

from clipdense import ops as clipdense_ops
from clipdense.registry import MODELS

OPS_PACKAGES = {'clipdense': clipdense_ops, 'mmcv': mmcv_ops}


@MODELS.register_module()
class RoIExtractor(SingleRoIExtractor):
    """mmdet's ``SingleRoIExtractor`` (boxes mapped to one FPN level by scale) whose ``roi_layer`` type names its
    package: ``dict(type='clipdense.RoIAlign', ...)`` (the default package) or ``dict(type='mmcv.RoIAlign', ...)``.
    mmdet looks string types up in ``mmcv.ops`` only."""

    def build_roi_layers(self, layer_cfg: dict, featmap_strides: List[int]) -> nn.ModuleList:
        cfg = dict(layer_cfg)
        package, _, name = cfg.pop('type').rpartition('.')
        package = package or 'clipdense'
        if package not in OPS_PACKAGES or not hasattr(OPS_PACKAGES[package], name):
            raise ValueError(f'unknown RoI layer {layer_cfg["type"]!r}: use "clipdense.RoIAlign" or '
                             '"mmcv.<op>" (e.g. "mmcv.RoIAlign")')
        layer_cls = getattr(OPS_PACKAGES[package], name)
        return nn.ModuleList(layer_cls(spatial_scale=1 / stride, **cfg) for stride in featmap_strides)

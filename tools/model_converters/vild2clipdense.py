"""Convert a released ViLD or ViLD-ensemble TensorFlow checkpoint, R50 or R152 (tensorflow/tpu projects/vild, e.g.
``resnet50_vild/model.ckpt-180000``), into a clipdense checkpoint for configs/vild/ (``_base_/models/vild_r50_fpn.py``,
``vild*_r152_fpn_*.py``).

    python tools/model_converters/vild2clipdense.py SRC DST

SRC is the checkpoint prefix, its ``.index`` file or their folder; it is read without TensorFlow
(``clipdense/engine/tf_checkpoint.py``). The variable names and layouts are the reference's (read from its code and
from a graph it built, tensorflow/tpu 7dc921f):

- ``resnet{50,152}/conv2d[_N]`` + ``batch_normalization[_N]``: numbered in creation order (0 the stem, then per block
  the projection shortcut first, conv1, conv2, conv3) → mmdet's ResNet names;
- ``fpn/l{2..5}``, ``post_hoc_d{2..5}``, ``p6``, ``p{2..6}-bn`` → ``ViLDFPN``; ``rpn_head/rpn``, ``rpn-1`` (shared),
  ``rpn-l{L}-bn[-1]`` (per level), ``rpn-class``, ``rpn-box`` → ``ViLDRPNHead``;
- ``frcnn_layer_0/fast_rcnn_head/conv_{0..3}``, ``fc6``, ``fc7`` with ``batch_normalization[_1.._5]``,
  ``project-to-clip``, ``background-class-predict``, ``box-predict`` → ``ViLDBBoxHead``; the ensemble's image
  branch ``distill_conv_{0..3}``, ``distill_fc6``, ``distill_fc7`` with ``batch_normalization_6.._11``,
  ``distill-project-to-clip`` → ``roi_head.image_bbox_head``;
- ``mask_head/mask-conv-l{0..3}``, ``conv5-mask`` with ``batch_normalization[_1.._4]``, ``mask_fcn_logits`` →
  ``ViLDMaskHead``.

Layouts: convolution kernels HWIO → OIHW; dense kernels [in, out] → [out, in]; ``fc6`` reads a 7x7x256 crop
flattened channels-last, so its rows are reordered for torch's channels-first flatten; the transposed convolution's
[kh, kw, out, in] → [in, out, kh, kw]; box deltas (dy, dx, dh, dw) → mmdet's (dx, dy, dw, dh), per anchor in the
RPN. The box and mask heads' convolutions have a bias before their batch norm where mmdet's ConvModule has none: the
bias is folded into the running mean (exact in inference). Dropped: ``*/Momentum`` optimizer slots and
``global_step``.

The reference's frozen text embeddings (``class-predict/kernel``: [512, classes], LVIS's 1203 for the released
models) are written beside DST as ``DST_class_embeddings.pth``; set ``model.class_embeddings`` to it to classify the
config's vocabulary with them, as the released model does, instead of encoding it with CLIP.
"""
import argparse
import os
import re
from typing import Callable, Dict, List, Tuple

import torch

from clipdense.engine.convert import ConversionError, add_batch_norm_counters, save_converted
from clipdense.engine.tf_checkpoint import TFCheckpointError, TFCheckpointReader
from clipdense.utils import run_cli

RESNET_BLOCKS = {50: (3, 4, 6, 3), 152: (3, 8, 36, 3)}  # bottleneck blocks per stage of the released models
BATCH_NORM = {'gamma': 'weight', 'beta': 'bias', 'moving_mean': 'running_mean', 'moving_variance': 'running_var'}
FAST_RCNN = 'frcnn_layer_0/fast_rcnn_head/'
CLASS_KERNEL = FAST_RCNN + 'class-predict/kernel'
DROPPED = (r'.*/Momentum', r'global_step', CLASS_KERNEL)  # the class kernel is written to its own file
DELTA_ORDER = [1, 0, 3, 2]  # (dy, dx, dh, dw) → (dx, dy, dw, dh)


def conv(kernel: torch.Tensor) -> torch.Tensor:
    return kernel.permute(3, 2, 0, 1).contiguous()


def dense(kernel: torch.Tensor) -> torch.Tensor:
    return kernel.t().contiguous()


def channels_last_dense(kernel: torch.Tensor, size: int = 7) -> torch.Tensor:
    """fc6 on a size x size crop: rows indexed (y, x, c) in TF, columns (c, y, x) in torch."""
    rows, columns = kernel.shape
    return kernel.reshape(size, size, rows // size**2, columns).permute(3, 2, 0, 1).reshape(columns, rows).contiguous()


def deltas(anchors: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Reorder the last axis (conv kernels: output channels; biases) from anchor-major (dy, dx, dh, dw)."""
    order = torch.tensor([4 * anchor + index for anchor in range(anchors) for index in DELTA_ORDER])
    return lambda tensor: tensor[..., order].contiguous()


def resnet_names(depth: int) -> List[Tuple[str, str, str]]:
    """(TF suffix, mmdet conv, mmdet norm) of every conv/batch-norm pair of the ResNet, in creation order."""
    modules = [('conv1', 'bn1')]
    for stage, blocks in enumerate(RESNET_BLOCKS[depth], start=1):
        for block in range(blocks):
            prefix = f'layer{stage}.{block}.'
            if block == 0:
                modules.append((f'{prefix}downsample.0', f'{prefix}downsample.1'))
            modules += [(f'{prefix}conv{index}', f'{prefix}bn{index}') for index in (1, 2, 3)]
    return [(f'_{index}' if index else '', *module) for index, module in enumerate(modules)]


def variable_map(ensemble: bool = False, depth: int = 50) -> Dict[str, Tuple[str, Callable]]:
    """TF variable → (clipdense key, transform) of ViLD, or of ViLD-ensemble (``visual_feature_distill:
    double_branch``), on a ResNet of ``depth``."""
    keep = lambda tensor: tensor  # noqa: E731
    table: Dict[str, Tuple[str, Callable]] = {}

    def norm(tf_scope: str, module: str) -> None:
        for tf_name, name in BATCH_NORM.items():
            table[f'{tf_scope}/{tf_name}'] = (f'{module}.{name}', keep)

    def layer(tf_scope: str, module: str, kernel: Callable, bias: bool = True) -> None:
        table[f'{tf_scope}/kernel'] = (f'{module}.weight', kernel)
        if bias:
            table[f'{tf_scope}/bias'] = (f'{module}.bias', keep)

    for suffix, conv_module, norm_module in resnet_names(depth):
        layer(f'resnet{depth}/conv2d{suffix}', f'backbone.{conv_module}', conv, bias=False)
        norm(f'resnet{depth}/batch_normalization{suffix}', f'backbone.{norm_module}')
    for level in range(2, 6):
        layer(f'fpn/l{level}', f'neck.lateral_convs.{level - 2}', conv)
        layer(f'fpn/post_hoc_d{level}', f'neck.output_convs.{level - 2}', conv)
    layer('fpn/p6', 'neck.extra_convs.0', conv)
    for level in range(2, 7):
        norm(f'fpn/p{level}-bn', f'neck.norms.{level - 2}')
        for index in (0, 1):
            norm(f'rpn_head/rpn-l{level}-bn' + ('-1' if index else ''), f'rpn_head.level_norms.{level - 2}.{index}')
    layer('rpn_head/rpn', 'rpn_head.rpn_convs.0', conv)
    layer('rpn_head/rpn-1', 'rpn_head.rpn_convs.1', conv)
    layer('rpn_head/rpn-class', 'rpn_head.rpn_cls', conv)
    reorder = deltas(3)
    table['rpn_head/rpn-box/kernel'] = ('rpn_head.rpn_reg.weight',
                                        lambda kernel: conv(reorder(kernel)))
    table['rpn_head/rpn-box/bias'] = ('rpn_head.rpn_reg.bias', reorder)
    def tower(prefix: str, first_norm: int, head: str) -> None:
        """4 conv + 2 FC with batch norms and the projection to CLIP: the text branch, or the ensemble's image
        branch (``distill_``; its batch norms numbered on from the text branch's)."""
        for index in range(4):
            layer(f'{FAST_RCNN}{prefix}conv_{index}', f'{head}shared_convs.{index}.conv', conv)  # bias folded below
            number = first_norm + index
            norm(f'{FAST_RCNN}batch_normalization' + (f'_{number}' if number else ''), f'{head}shared_convs.{index}.bn')
        layer(f'{FAST_RCNN}{prefix}fc6', f'{head}shared_fcs.0', channels_last_dense)
        layer(f'{FAST_RCNN}{prefix}fc7', f'{head}shared_fcs.1', dense)
        norm(f'{FAST_RCNN}batch_normalization_{first_norm + 4}', f'{head}shared_fc_norms.0')
        norm(f'{FAST_RCNN}batch_normalization_{first_norm + 5}', f'{head}shared_fc_norms.1')
        projection = 'distill-project-to-clip' if prefix else 'project-to-clip'
        layer(f'{FAST_RCNN}{projection}', f'{head}fc_cls.projection', dense)

    head = 'roi_head.bbox_head.'
    tower('', 0, head)
    if ensemble:
        tower('distill_', 6, 'roi_head.image_bbox_head.')
    table[f'{FAST_RCNN}background-class-predict/kernel'] = (f'{head}fc_cls.background_embedding',
                                                            lambda kernel: kernel[:, 0].contiguous())
    box = deltas(1)
    table[f'{FAST_RCNN}box-predict/kernel'] = (f'{head}fc_reg.weight', lambda kernel: dense(box(kernel)))
    table[f'{FAST_RCNN}box-predict/bias'] = (f'{head}fc_reg.bias', box)
    mask = 'roi_head.mask_head.'
    for index in range(4):
        layer(f'mask_head/mask-conv-l{index}', f'{mask}convs.{index}.conv', conv)  # bias folded below
        norm('mask_head/batch_normalization' + (f'_{index}' if index else ''), f'{mask}convs.{index}.bn')
    layer('mask_head/conv5-mask', f'{mask}upsample', conv)  # [kh, kw, out, in] → [in, out, kh, kw]: the same permute
    norm('mask_head/batch_normalization_4', f'{mask}upsample_norm')
    layer('mask_head/mask_fcn_logits', f'{mask}conv_logits', conv)
    return table


def fold_conv_biases(converted: Dict[str, torch.Tensor]) -> None:
    """A conv bias b before a batch norm is the norm's running mean lowered by b (the heads' ConvModules have no
    bias)."""
    pattern = r'roi_head\.(bbox|image_bbox|mask)_head\.(shared_)?convs\.\d+\.conv\.bias'
    for key in [key for key in converted if re.fullmatch(pattern, key)]:
        bias = converted.pop(key)
        norm = key[:-len('conv.bias')] + 'bn.running_mean'
        converted[norm] = converted[norm] - bias


def convert(source: str, destination: str) -> Dict[str, torch.Tensor]:
    """Convert ``source`` and write ``destination``; returns the converted state dict."""
    try:
        reader = TFCheckpointReader(source)
    except TFCheckpointError as error:
        raise ConversionError(str(error)) from error
    ensemble = f'{FAST_RCNN}distill_fc6/kernel' in reader.entries
    depth = resnet_depth(reader.entries, source)
    table = variable_map(ensemble, depth)
    names = [name for name in reader.entries if not any(re.fullmatch(pattern, name) for pattern in DROPPED)]
    unknown = sorted(set(names) - set(table))
    if unknown:
        raise ConversionError(f'{source}: unexpected variable {unknown[0]!r} ({len(unknown)} in all); is it a ViLD '
                              f'or ViLD-ensemble R{depth} checkpoint?')
    missing = sorted(set(table) - set(names))
    if missing:
        raise ConversionError(f'{source} has no {missing[0]!r} ({len(missing)} missing); is it a ViLD or '
                              f'ViLD-ensemble R{depth} checkpoint?')
    converted = {}
    for name in names:
        key, transform = table[name]
        converted[key] = transform(reader.read(name).float())
    fold_conv_biases(converted)
    add_batch_norm_counters(converted)  # mmdet's batch norms count their batches; TF's do not
    save_converted(converted, destination, reader.prefix,
                   extra_meta=dict(model='ViLD-ensemble' if ensemble else 'ViLD', depth=depth,
                                   dropped_from_source=len(reader.entries) - len(names)))
    if CLASS_KERNEL in reader.entries:
        torch.save(dict(embeddings=reader.read(CLASS_KERNEL).float().t().contiguous()),
                   class_embeddings_path(destination))
    return converted


def resnet_depth(names, source: str) -> int:
    """The depth of the checkpoint's ResNet, from its variable scope (``resnet50/...``)."""
    depths = {int(match.group(1)) for match in (re.match(r'resnet(\d+)/', name) for name in names) if match}
    if len(depths) != 1 or not depths <= set(RESNET_BLOCKS):
        raise ConversionError(f'{source}: no single ResNet-{"/".join(map(str, RESNET_BLOCKS))} backbone among its '
                              f'variables (found {sorted(depths) or "none"}); is it a ViLD checkpoint?')
    return depths.pop()


def class_embeddings_path(destination: str) -> str:
    """Where the reference's class embeddings go: beside the checkpoint, ``<name>_class_embeddings.pth``."""
    return f'{os.path.splitext(destination)[0]}_class_embeddings.pth'


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('source', help='ViLD TF checkpoint: PREFIX (e.g. resnet50_vild/model.ckpt-180000), its '
                                       '.index file or their folder')
    parser.add_argument('destination', help='clipdense checkpoint to write (.pth)')
    args = parser.parse_args(argv)
    converted = convert(args.source, args.destination)
    model = 'vild-ensemble' if any(key.startswith('roi_head.image_bbox_head.') for key in converted) else 'vild'
    layer3 = len({key.split('.')[2] for key in converted if key.startswith('backbone.layer3.')})
    depth = next(depth for depth, blocks in RESNET_BLOCKS.items() if blocks[2] == layer3)
    print(f'wrote {args.destination}: {len(converted)} tensors of a {model} R{depth} (for configs/vild/{model}_r{depth}'
          '_fpn_lsj-180k_ov-*.py)')
    embeddings = class_embeddings_path(args.destination)
    if os.path.isfile(embeddings):
        print(f'wrote {embeddings}: the released class embeddings; classify with them through '
              f'--cfg-options model.class_embeddings={embeddings}')


if __name__ == '__main__':
    run_cli(main)

"""Convert a released RegionCLIP checkpoint (microsoft/RegionCLIP on detectron2, e.g.
``regionclip_pretrained-cc_rn50.pth`` or a fine-tuned ``regionclip_finetuned-coco_rn50.pth``) into a clipdense
checkpoint for configs/regionclip/.

    python tools/model_converters/regionclip2clipdense.py SRC DST

Renamed: the recognition backbone, CLIP's ModifiedResNet with the reference's names (``backbone.conv1``,
``backbone.layer1..4``, ``backbone.attnpool``) → ``backbone.tower.visual.*`` (open_clip's names are CLIP's);
detectron2's FrozenBN keeps ``weight/bias/running_mean/running_var`` and gets open_clip's ``num_batches_tracked``
(unused: the batch norms stay in eval mode); the class-agnostic box regression
``roi_heads.box_predictor.bbox_pred`` → ``roi_head.bbox_head.fc_reg``; the LVIS models' class-agnostic mask head
(detectron2's ``MaskRCNNConvUpsampleHead``) ``roi_heads.mask_head.{deconv,predictor}`` →
``roi_head.mask_head.{upsample,conv_logits}`` (``Detectron2MaskHead``).

Dropped, and counted on the output line: the text-embedding classifiers (``cls_score``, ``test_cls_score``, the zero
``cls_bg_score``: clipdense encodes the vocabulary itself), the language encoder (``lang_encoder``: its fingerprint
goes into the meta, so loading with another text tower warns), the pretraining teacher (``teacher_backbone``,
``teacher_roi_heads``) and the reference's offline localisation branch (``offline_backbone``,
``offline_proposal_generator``: whichever RPN the checkpoint was trained with; clipdense's ``offline_rpn``
loads its own ``checkpoint``, which ``regionclip_rpn2clipdense.py`` writes from the released RPN or from this file).
"""
import argparse
import re
from typing import Dict

import torch

from clipdense.engine.convert import (ConversionError, add_batch_norm_counters, read_released_checkpoint, rename_keys,
                                      require_key_prefixes, save_converted, text_tower_meta)
from clipdense.utils import run_cli

VISUAL = 'backbone.tower.visual.'
TEXT = 'text.'  # a temporary prefix for the language encoder's tensors (open_clip's names after it)
TEXT_TOWER_KEYS = r'(transformer\..*|token_embedding\.weight|positional_embedding|ln_final\..*|text_projection)'
DROPPED = (r'(roi_heads\.box_predictor\.(cls_score|test_cls_score|cls_bg_score)\..*'
           r'|lang_encoder\..*|teacher_backbone\..*|teacher_roi_heads\..*'
           r'|offline_backbone\..*|offline_proposal_generator\..*)')

RULES = [
    (r'backbone\.((conv|bn)[123]\..*|layer[1-4]\..*|attnpool\..*)', VISUAL + r'\1'),
    (r'roi_heads\.box_predictor\.bbox_pred\.(weight|bias)', r'roi_head.bbox_head.fc_reg.\1'),
    (r'roi_heads\.mask_head\.deconv\.(weight|bias)', r'roi_head.mask_head.upsample.\1'),
    (r'roi_heads\.mask_head\.predictor\.(weight|bias)', r'roi_head.mask_head.conv_logits.\1'),
    (r'lang_encoder\.' + TEXT_TOWER_KEYS, TEXT + r'\1'),
    (DROPPED, None),
]


def convert(source: str, destination: str, unsafe: bool = False) -> Dict[str, torch.Tensor]:
    """Convert ``source`` and write ``destination``; returns the converted state dict."""
    state_dict = read_released_checkpoint(source, unsafe)
    if not any(key.startswith('backbone.attnpool.') for key in state_dict):
        raise ConversionError(f'{source} is not a RegionCLIP checkpoint (it has no backbone.attnpool.* keys).')
    require_key_prefixes(state_dict, ['backbone.layer4.'], source)
    converted = rename_keys(state_dict, RULES, source)
    text = {key: converted.pop(key) for key in list(converted) if key.startswith(TEXT)}
    add_batch_norm_counters(converted)  # FrozenBN has no counter; open_clip's BatchNorm2d expects one
    dropped = [key for key in state_dict if re.fullmatch(DROPPED, key)]
    save_converted(converted, destination, source, text_tower_meta(text, TEXT, 'CLIP of the released RegionCLIP'),
                   extra_meta=dict(dropped_from_source=len(dropped)))
    return converted


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('source', help='released RegionCLIP checkpoint (.pth, detectron2 format)')
    parser.add_argument('destination', help='clipdense checkpoint to write')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow any pickled object in SRC (only for a file from a source you trust)')
    args = parser.parse_args(argv)
    converted = convert(args.source, args.destination, args.unsafe_load)
    print(f'wrote {args.destination}: {len(converted)} tensors (text classifiers, language encoder, teacher and '
          'offline RPN branch dropped)')


if __name__ == '__main__':
    run_cli(main)

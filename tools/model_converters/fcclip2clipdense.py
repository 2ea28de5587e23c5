"""Convert a released FC-CLIP checkpoint (bytedance/fc-clip on detectron2, e.g. ``fcclip_cocopan.pth``) into a
clipdense checkpoint.

    python tools/model_converters/fcclip2clipdense.py SRC DST

DST loads into the configs of configs/fcclip/:

    model = init_model('configs/fcclip/fcclip_convnext-l_coco-panoptic_ade150.py', DST)

The official keys (``backbone.clip_model.*``, ``sem_seg_head.pixel_decoder.*``, ``sem_seg_head.predictor.*``,
``void_embedding.weight``) are renamed to mmdet's Mask2Former layout, which holds the same tensors: the pixel
decoder's input projections, deformable encoder layers, FPN level and mask projection; the decoder's cross-attention,
self-attention and FFN layers (their norms become ``norms.0/1/2`` in that order) and its final norm; FC-CLIP's mask
pooling projection, class MLP, logit scale and void embedding. The frozen CLIP's vision tower is carried over; its
text tower is not (clipdense encodes vocabularies with the configured CLIP's text tower; a fingerprint of the
released one goes into the meta, so loading with another warns). The loss's ``empty_weight`` and CLIP's logit scale
(the configured CLIP's is used, the same frozen value) are dropped.
"""
import argparse
from typing import Dict

import torch

from clipdense.engine.convert import (ConversionError, read_released_checkpoint, rename_keys,
                                      require_key_prefixes, save_converted, text_tower_meta)
from clipdense.utils import run_cli

CLIP = r'backbone\.clip_model\.'
PIXEL = r'sem_seg_head\.pixel_decoder\.'
PREDICTOR = r'sem_seg_head\.predictor\.'
HEAD = 'decode_head.'
TEXT_OPEN_CLIP = 'text.'  # a temporary prefix for the text tower's tensors (open_clip's names after it)

_ENCODER_LAYER = {'norm1': 'norms.0', 'linear1': 'ffn.layers.0.0', 'linear2': 'ffn.layers.1', 'norm2': 'norms.1'}
_FFN_LAYER = {'linear1': 'ffn.layers.0.0', 'linear2': 'ffn.layers.1', 'norm': 'norms.2'}

RULES = [
    (r'criterion\.empty_weight', None),
    (CLIP + r'logit_scale', None),
    (CLIP + r'(visual\..*)', r'backbone.tower.\1'),
    (CLIP + r'(.*)', TEXT_OPEN_CLIP + r'\1'),
    # pixel decoder: input projections (coarsest level first in both), deformable encoder, FPN level, mask features
    (PIXEL + r'input_proj\.(\d+)\.0\.(weight|bias)', HEAD + r'pixel_decoder.input_convs.\1.conv.\2'),
    (PIXEL + r'input_proj\.(\d+)\.1\.(weight|bias)', HEAD + r'pixel_decoder.input_convs.\1.gn.\2'),
    (PIXEL + r'transformer\.level_embed', HEAD + 'pixel_decoder.level_encoding.weight'),
    (PIXEL + r'transformer\.encoder\.layers\.(\d+)\.self_attn\.(.*)',
     HEAD + r'pixel_decoder.encoder.layers.\1.self_attn.\2'),
    (PIXEL + r'transformer\.encoder\.layers\.(\d+)\.(norm1|linear1|linear2|norm2)\.(weight|bias)',
     lambda m: f'{HEAD}pixel_decoder.encoder.layers.{m.group(1)}.{_ENCODER_LAYER[m.group(2)]}.{m.group(3)}'),
    (PIXEL + r'mask_features\.(weight|bias)', HEAD + r'pixel_decoder.mask_feature.\1'),
    # adapter_1 / layer_1: the FPN level of the finest stage (the only one at common stride 4)
    (PIXEL + r'adapter_(\d+)\.weight',
     lambda m: f'{HEAD}pixel_decoder.lateral_convs.{int(m.group(1)) - 1}.conv.weight'),
    (PIXEL + r'adapter_(\d+)\.norm\.(weight|bias)',
     lambda m: f'{HEAD}pixel_decoder.lateral_convs.{int(m.group(1)) - 1}.gn.{m.group(2)}'),
    (PIXEL + r'layer_(\d+)\.weight',
     lambda m: f'{HEAD}pixel_decoder.output_convs.{int(m.group(1)) - 1}.conv.weight'),
    (PIXEL + r'layer_(\d+)\.norm\.(weight|bias)',
     lambda m: f'{HEAD}pixel_decoder.output_convs.{int(m.group(1)) - 1}.gn.{m.group(2)}'),
    # transformer decoder: per layer cross-attention (norms.0), self-attention (norms.1), FFN (norms.2)
    (PREDICTOR + r'transformer_cross_attention_layers\.(\d+)\.multihead_attn\.(.*)',
     HEAD + r'transformer_decoder.layers.\1.cross_attn.attn.\2'),
    (PREDICTOR + r'transformer_cross_attention_layers\.(\d+)\.norm\.(weight|bias)',
     HEAD + r'transformer_decoder.layers.\1.norms.0.\2'),
    (PREDICTOR + r'transformer_self_attention_layers\.(\d+)\.self_attn\.(.*)',
     HEAD + r'transformer_decoder.layers.\1.self_attn.attn.\2'),
    (PREDICTOR + r'transformer_self_attention_layers\.(\d+)\.norm\.(weight|bias)',
     HEAD + r'transformer_decoder.layers.\1.norms.1.\2'),
    (PREDICTOR + r'transformer_ffn_layers\.(\d+)\.(linear1|linear2|norm)\.(weight|bias)',
     lambda m: f'{HEAD}transformer_decoder.layers.{m.group(1)}.{_FFN_LAYER[m.group(2)]}.{m.group(3)}'),
    (PREDICTOR + r'decoder_norm\.(weight|bias)', HEAD + r'transformer_decoder.post_norm.\1'),
    (PREDICTOR + r'(query_feat|query_embed|level_embed)\.weight', HEAD + r'\1.weight'),
    (PREDICTOR + r'mask_embed\.layers\.(\d)\.(weight|bias)',
     lambda m: f'{HEAD}mask_embed.{2 * int(m.group(1))}.{m.group(2)}'),  # mmdet's Sequential puts ReLUs between
    (PREDICTOR + r'_mask_pooling_proj\.(\d)\.(weight|bias)', HEAD + r'mask_pooling_proj.\1.\2'),
    (PREDICTOR + r'class_embed\.layers\.(\d)\.(weight|bias)', HEAD + r'class_embed.layers.\1.\2'),
    (PREDICTOR + r'logit_scale', HEAD + 'logit_scale'),
    (r'void_embedding\.weight', HEAD + 'void_embedding.weight'),
]


def convert(source: str, destination: str, unsafe: bool = False) -> Dict[str, torch.Tensor]:
    """Convert ``source`` and write ``destination``; returns the converted state dict (without the text tower)."""
    state_dict = read_released_checkpoint(source, unsafe)
    if not any(key.startswith('sem_seg_head.predictor.') for key in state_dict):
        raise ConversionError(f'{source} is not an FC-CLIP checkpoint (it has no sem_seg_head.predictor.* keys).')
    require_key_prefixes(state_dict, ['sem_seg_head.pixel_decoder.', 'void_embedding.'], source)
    converted = rename_keys(state_dict, RULES, source)
    text = {key: converted.pop(key) for key in list(converted) if key.startswith(TEXT_OPEN_CLIP)}
    save_converted(converted, destination, source,
                   text_tower_meta(text, TEXT_OPEN_CLIP, 'CLIP of the released FC-CLIP'))
    return converted


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('source', help='released FC-CLIP checkpoint (.pth, detectron2 format)')
    parser.add_argument('destination', help='clipdense checkpoint to write')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow any pickled object in SRC (only for a file from a source you trust)')
    args = parser.parse_args(argv)
    converted = convert(args.source, args.destination, args.unsafe_load)
    print(f'wrote {args.destination}: {len(converted)} tensors')


if __name__ == '__main__':
    run_cli(main)

"""Convert a released SAN checkpoint (official, MendelXu/SAN on detectron2, or mmseg's converted one) into a
clipdense checkpoint. The format is detected from the keys.

    python tools/model_converters/san2clipdense.py SRC DST

* official: ``san_vit_b_16.pth`` / ``san_vit_large_14.pth`` (``{'model': ...}``; ``side_adapter_network.*``,
  ``clip_visual_extractor.*``, ``clip_rec_head.*``, ``ov_classifier.*``, ``criterion.*``);
* mmseg: ``san-vit-b16_20230906-fd0a7684.pth`` / ``san-vit-l14_20230907-a11e098f.pth`` (``image_encoder.*``,
  ``text_encoder.*``, ``decode_head.*``).

DST loads into the configs of configs/san/:

    model = init_model('configs/san/san_vit-b16_coco-stuff164k-640x640.py', DST,
                       cfg_options={'model.clip.pretrained': '/path/to/ViT-B-16.pt'})

The visual CLIP (both halves, with the trained positional embedding), the side adapter and the background embedding
are carried over. The text encoder is not: clipdense encodes vocabularies with the configured CLIP's text tower (a
fingerprint of the released one goes into the meta, so loading with another text tower warns). The loss's
``empty_weight`` and the text encoder's causal mask are not parameters and are dropped.
"""
import argparse
import re
from typing import Dict

import torch

from clipdense.engine.convert import (ConversionError, read_released_checkpoint, rename_keys, save_converted,
                                      text_tower_meta)
from clipdense.utils import run_cli

VISUAL = 'backbone.tower.visual.'
SIDE = 'decode_head.side_adapter_network.'
TEXT_OPEN_CLIP = 'text.'  # a temporary prefix for text-encoder tensors renamed to open_clip's names


# CLIP-block layer names of the formats -> open_clip's (mmcv's for the text tower and mmseg's recognition blocks).
_OPEN_CLIP_BLOCK = {name: name for name in ('attn.', 'ln_1.', 'ln_2.', 'mlp.c_fc.', 'mlp.c_proj.')}
_MMCV_BLOCK = {'attentions.0.attn.': 'attn.', 'norms.0.': 'ln_1.', 'norms.1.': 'ln_2.',
               'ffns.0.layers.0.0.': 'mlp.c_fc.', 'ffns.0.layers.1.': 'mlp.c_proj.'}
_MMSEG_VIT_BLOCK = {'attn.attn.': 'attn.', 'ln1.': 'ln_1.', 'ln2.': 'ln_2.', 'ffn.layers.0.0.': 'mlp.c_fc.',
                    'ffn.layers.1.': 'mlp.c_proj.'}


def _block_rule(prefix: str, names: Dict[str, str], target: str, offset: int = 0):
    """Block ``i`` under ``prefix`` with mmcv/mmseg layer names -> ``target`` open_clip block ``offset + i``."""
    pattern = prefix + r'(\d+)\.(' + '|'.join(re.escape(name) for name in names) + r')(.+)'

    def replace(match):
        return f'{target}transformer.resblocks.{offset + int(match.group(1))}.{names[match.group(2)]}{match.group(3)}'
    return pattern, replace


def official_rules(split: int):
    return [
        (r'criterion\.empty_weight', None),
        (r'clip_visual_extractor\.(class_embedding|positional_embedding|conv1\.weight|ln_pre\.(?:weight|bias))',
         VISUAL + r'\1'),
        (r'clip_visual_extractor\.resblocks\.(\d+)\.(.*)', VISUAL + r'transformer.resblocks.\1.\2'),
        # the recognition blocks are re-indexed from 0: CLIP's blocks split, split + 1, ...
        _block_rule(r'clip_rec_head\.resblocks\.', _OPEN_CLIP_BLOCK, VISUAL, offset=split),
        (r'clip_rec_head\.(ln_post\.(?:weight|bias)|proj)', VISUAL + r'\1'),
        (r'side_adapter_network\.(query_embed|query_pos_embed)', SIDE + r'\1'),
        (r'side_adapter_network\.vit_model\.pos_embed', SIDE + 'pos_embed'),
        (r'side_adapter_network\.vit_model\.patch_embed\.proj\.(weight|bias)', SIDE + r'patch_embed.projection.\1'),
        (r'side_adapter_network\.vit_model\.blocks\.(\d+)\.norm([12])\.(weight|bias)',
         SIDE + r'encode_layers.\1.ln\2.\3'),
        (r'side_adapter_network\.vit_model\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)',
         SIDE + r'encode_layers.\1.attn.attn.in_proj_\2'),
        (r'side_adapter_network\.vit_model\.blocks\.(\d+)\.attn\.proj\.(weight|bias)',
         SIDE + r'encode_layers.\1.attn.attn.out_proj.\2'),
        (r'side_adapter_network\.vit_model\.blocks\.(\d+)\.mlp\.fc1\.(weight|bias)',
         SIDE + r'encode_layers.\1.ffn.layers.0.0.\2'),
        (r'side_adapter_network\.vit_model\.blocks\.(\d+)\.mlp\.fc2\.(weight|bias)',
         SIDE + r'encode_layers.\1.ffn.layers.1.\2'),
        (r'side_adapter_network\.fusion_layers\.layer_(\d+)\.input_proj\.0\.(weight|bias)',
         SIDE + r'conv_clips.\1.0.\2'),
        (r'side_adapter_network\.fusion_layers\.layer_(\d+)\.input_proj\.1\.(weight|bias)',
         SIDE + r'conv_clips.\1.1.conv.\2'),
        (r'side_adapter_network\.(mask_decoder\..*)', SIDE + r'\1'),
        (r'ov_classifier\.bg_embed', 'decode_head.bg_embed'),
        (r'ov_classifier\.(attn_mask|logit_scale)', None),
        (r'ov_classifier\.(.*)', TEXT_OPEN_CLIP + r'\1'),
    ]


def mmseg_rules(split: int):
    return [
        (r'criterion\.empty_weight', None),
        (r'image_encoder\.cls_token', VISUAL + 'class_embedding'),
        (r'image_encoder\.pos_embed', VISUAL + 'positional_embedding'),
        (r'image_encoder\.patch_embed\.projection\.weight', VISUAL + 'conv1.weight'),
        (r'image_encoder\.ln_pre\.(weight|bias)', VISUAL + r'ln_pre.\1'),
        _block_rule(r'image_encoder\.layers\.', _MMSEG_VIT_BLOCK, VISUAL),
        _block_rule(r'decode_head\.rec_with_attnbias\.layers\.', _MMCV_BLOCK, VISUAL, offset=split),
        (r'decode_head\.rec_with_attnbias\.ln_post\.(weight|bias)', VISUAL + r'ln_post.\1'),
        (r'decode_head\.rec_with_attnbias\.proj\.weight', VISUAL + 'proj'),
        (r'decode_head\.(side_adapter_network\..*)', r'decode_head.\1'),
        (r'text_encoder\.bg_embed', 'decode_head.bg_embed'),
        (r'text_encoder\.(attn_mask|logit_scale)', None),
        _block_rule(r'text_encoder\.transformer\.', _MMCV_BLOCK, TEXT_OPEN_CLIP),
        (r'text_encoder\.(.*)', TEXT_OPEN_CLIP + r'\1'),
    ]


def detect_format(state_dict: Dict[str, torch.Tensor], source: str) -> str:
    if any(key.startswith('side_adapter_network.') for key in state_dict):
        return 'official'
    if any(key.startswith('decode_head.side_adapter_network.') for key in state_dict):
        return 'mmseg'
    raise ConversionError(f'{source} is neither an official SAN checkpoint (side_adapter_network.* keys) nor one of '
                          "mmseg's SAN port (decode_head.side_adapter_network.* keys).")


def _split(state_dict: Dict[str, torch.Tensor], pattern: str) -> int:
    """The number of feature-extracting CLIP blocks: those before the recognition blocks."""
    return len({match.group(1) for key in state_dict for match in [re.match(pattern, key)] if match})


def convert(source: str, destination: str, unsafe: bool = False) -> dict:
    """Convert ``source`` and write ``destination``; returns the converted state dict (without the text encoder)."""
    state_dict = read_released_checkpoint(source, unsafe)
    kind = detect_format(state_dict, source)
    if kind == 'official':
        split = _split(state_dict, r'clip_visual_extractor\.resblocks\.(\d+)\.')
        converted = rename_keys(state_dict, official_rules(split), source)
    else:
        split = _split(state_dict, r'image_encoder\.layers\.(\d+)\.')
        converted = rename_keys(state_dict, mmseg_rules(split), source)
        # mmseg keeps the class token as (1, 1, C), the table as (1, 1 + n, C) and proj as a Linear (out, in).
        converted[VISUAL + 'class_embedding'] = converted[VISUAL + 'class_embedding'].reshape(-1)
        converted[VISUAL + 'positional_embedding'] = converted[VISUAL + 'positional_embedding'][0]
        converted[VISUAL + 'proj'] = converted[VISUAL + 'proj'].t().contiguous()
    text = {key: converted.pop(key) for key in list(converted) if key.startswith(TEXT_OPEN_CLIP)}
    clip_name = f'CLIP of the released SAN ({kind} format)'
    save_converted(converted, destination, source, text_tower_meta(text, TEXT_OPEN_CLIP, clip_name),
                   extra_meta=dict(source_format=kind, clip_split=split))
    return converted


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('source', help='released SAN checkpoint (.pth), official or mmseg')
    parser.add_argument('destination', help='clipdense checkpoint to write')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow any pickled object in SRC (only for a file from a source you trust)')
    args = parser.parse_args(argv)
    converted = convert(args.source, args.destination, args.unsafe_load)
    print(f'wrote {args.destination}: {len(converted)} tensors')


if __name__ == '__main__':
    run_cli(main)

"""Convert a released ZegCLIP checkpoint (ZiqinZhou66/ZegCLIP, mmseg 0.x) into a clipdense checkpoint.

    python tools/model_converters/zegclip2clipdense.py SRC DST

SRC is an official release (mmcv's ``{'state_dict': ...}`` with ``backbone.*``, ``text_encoder.*``,
``decode_head.*``; positional embedding already 1025x768). DST loads into the configs of configs/zegclip/:

    model = init_model('configs/zegclip/zegclip_vit-b16_voc12aug-512x512_inductive.py', DST,
                       cfg_options={'model.clip.pretrained': '/path/to/ViT-B-16.pt'})

What is not carried over: the text encoder (clipdense encodes vocabularies with the configured CLIP's text tower; a
fingerprint of the released one goes into the meta, so loading with another text tower warns), the decoder layers'
self-attention and ``norm1`` (built by the reference's ``nn.TransformerDecoderLayer``, never run) and the loss's
unused ``empty_weight`` buffer.
"""
import argparse

from clipdense.engine.convert import (read_released_checkpoint, rename_keys, require_key_prefixes, save_converted,
                                      text_tower_meta)
from clipdense.utils import run_cli

LAYER = r'decode_head\.decoder_1\.layers\.(\d+)\.'
RULES = [
    (r'backbone\.((?:deep_)?prompt_embeddings|prompt_proj\..*|prompt_norm\..*)', r'backbone.\1'),
    (r'backbone\.(.*)', r'backbone.tower.visual.\1'),
    (r'text_encoder\..*', None),
    (r'decode_head\.q_proj\.(weight|bias)', r'decode_head.q_proj.\1'),
    (LAYER + r'multihead_attn\.(q|k|v|proj)\.(weight|bias)', r'decode_head.layers.\1.cross_attn.\2.\3'),
    (LAYER + r'(linear1|linear2|norm2|norm3)\.(weight|bias)', r'decode_head.layers.\1.\2.\3'),
    (LAYER + r'(self_attn|norm1)\..*', None),
    (r'decode_head\.loss_decode\.criterion\.empty_weight', None),
]


def convert(source: str, destination: str, unsafe: bool = False) -> dict:
    """Convert ``source`` and write ``destination``; returns the converted state dict."""
    state_dict = read_released_checkpoint(source, unsafe)
    require_key_prefixes(state_dict, ['backbone.prompt_embeddings', 'decode_head.q_proj'], source)
    converted = rename_keys(state_dict, RULES, source)
    text_tower = text_tower_meta(state_dict, 'text_encoder.', clip_name='ViT-B-16 (ZegCLIP text_encoder)')
    save_converted(converted, destination, source, text_tower)
    return converted


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('source', help='released ZegCLIP checkpoint (.pth)')
    parser.add_argument('destination', help='clipdense checkpoint to write')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow any pickled object in SRC (only for a file from a source you trust)')
    args = parser.parse_args(argv)
    converted = convert(args.source, args.destination, args.unsafe_load)
    print(f'wrote {args.destination}: {len(converted)} tensors')


if __name__ == '__main__':
    run_cli(main)

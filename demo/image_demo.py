"""Segment an image with any vocabulary and write an overlay with a legend.

    python demo/image_demo.py IMAGE CONFIG --vocab "cat,dog;puppy,sofa" --out out.png
    python demo/image_demo.py IMAGE configs/sclip/sclip_vit-b16_ade20k.py --pretrained /path/ViT-B-16.pt

``--vocab``: commas separate classes, semicolons separate synonyms of a class (``person;man;woman``); a
class-name file (one class per line, synonyms separated by ", ") works too. Without ``--vocab`` the config's
vocabulary is used. ``--model``/``--pretrained`` replace the config's CLIP (``model.clip.name`` /
``model.clip.pretrained``): an open_clip name and tag, or a local weights file such as OpenAI's ViT-B-16.pt.
``--cfg-options`` overrides other config entries, as in tools/test.py.

A mistake in the arguments (a missing file, an unknown name, an output that cannot be written) ends the demo
with one line on stderr and exit status 2, before the model runs where it can be checked beforehand.
"""
import argparse

from mmengine.config import DictAction

from clipdense.apis import inference_model, init_model, read_image
from clipdense.apis.demo_options import check_output_image, demo_cfg_options, write_output_image
from clipdense.utils import run_cli
from clipdense.utils.precision import add_inference_args
from clipdense.visualization import draw_overlay


def parse_args():
    parser = argparse.ArgumentParser(description='clipdense image demo')
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='config file of a segmentation method')
    parser.add_argument('--vocab', help='class names: "a,b;synonym,c" or a class-name file')
    parser.add_argument('--model', help='CLIP architecture (open_clip name), sets model.clip.name')
    parser.add_argument('--pretrained', help='CLIP weights: open_clip tag, file, or "none" for random weights; '
                        'sets model.clip.pretrained')
    parser.add_argument('--checkpoint', help='trained weights of the method (not needed by training-free ones)')
    parser.add_argument('--out', default='outputs/demo.png', help='where to write the overlay')
    parser.add_argument('--opacity', type=float, default=0.5)
    parser.add_argument('--device', default='cpu')
    add_inference_args(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries, e.g. model.templates=photo')
    return parser.parse_args()


def main():
    args = parse_args()
    image = read_image(args.image)
    check_output_image(args.out, 'overlay')
    options = demo_cfg_options(args.cfg_options, args.vocab, args.pretrained, args.model)
    model = init_model(args.config, args.checkpoint, device=args.device, cfg_options=options,
                       precision=args.precision, compile=args.compile)
    result = inference_model(model, image)
    labels = result.pred_sem_seg.data[0].cpu().numpy()
    overlay = draw_overlay(image, labels, model.dataset_meta['classes'], opacity=args.opacity)
    write_output_image(args.out, overlay, 'overlay')
    present = sorted({model.dataset_meta['classes'][i] for i in set(labels.flatten().tolist())})
    print(f'classes found: {", ".join(present)}')
    print(f'overlay written to {args.out}')


if __name__ == '__main__':
    run_cli(main)

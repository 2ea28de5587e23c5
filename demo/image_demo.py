"""Segment an image with any vocabulary and write an overlay with a legend.

    python demo/image_demo.py IMAGE CONFIG --vocab "cat,dog;puppy,sofa" --out out.png
    python demo/image_demo.py IMAGE configs/sclip/sclip_vit-b16_ade20k.py --pretrained /path/ViT-B-16.pt

``--vocab``: commas separate classes, semicolons separate synonyms of a class (``person;man;woman``); a
class-name file (one class per line, synonyms separated by ", ") works too. Without ``--vocab`` the config's
vocabulary is used. ``--model``/``--pretrained`` replace the config's CLIP (``model.clip.name`` /
``model.clip.pretrained``): an open_clip name and tag, or a local weights file such as OpenAI's ViT-B-16.pt.
"""
import argparse
import os

import cv2

from clipdense.apis import inference_model, init_model, read_image
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
    return parser.parse_args()


def main():
    args = parse_args()
    image = read_image(args.image)  # fails early, with the path, on a missing or unreadable image
    options = {}
    if args.model:
        options['model.clip.name'] = None if args.model.lower() == 'none' else args.model
    if args.pretrained:
        options['model.clip.pretrained'] = None if args.pretrained.lower() == 'none' else args.pretrained
    if args.vocab:
        options['model.vocabulary'] = args.vocab
    model = init_model(args.config, args.checkpoint, device=args.device, cfg_options=options)
    result = inference_model(model, image)
    labels = result.pred_sem_seg.data[0].cpu().numpy()
    overlay = draw_overlay(image, labels, model.dataset_meta['classes'], opacity=args.opacity)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if not cv2.imwrite(args.out, overlay):
        raise OSError(f'could not write {args.out}: use a .png or .jpg file name in a writable folder')
    present = sorted({model.dataset_meta['classes'][i] for i in set(labels.flatten().tolist())})
    print(f'classes found: {", ".join(present)}')
    print(f'overlay written to {args.out}')


if __name__ == '__main__':
    main()

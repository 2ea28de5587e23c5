"""Named prompt-template sets. A template is a ``str.format`` pattern with one ``{}`` for the class name."""
from typing import Callable, Dict, List, Sequence, Union

from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

# OpenAI's 80 ImageNet templates, in OpenAI's order (open_clip keeps them as lambdas).
IMAGENET_80: List[str] = [template('{}') for template in OPENAI_IMAGENET_TEMPLATES]

# MaskCLIP (tools/maskclip_utils/prompt_engineering.py): the 80 above, then five scene templates.
MASKCLIP_85: List[str] = IMAGENET_80 + [
    'there is a {} in the scene.',
    'there is the {} in the scene.',
    'this is a {} in the scene.',
    'this is the {} in the scene.',
    'this is one {} in the scene.',
]

# ZegCLIP (configs/_base_/datasets/text_embedding/get_embedding.ipynb): VOC's single prompt (no period) and the
# 15 templates of its COCO-Stuff embeddings.
ZEGCLIP_SINGLE: List[str] = ['a photo of a {}']
ZEGCLIP_15: List[str] = [
    'a photo of a {}.', 'a photo of a small {}.', 'a photo of a medium {}.', 'a photo of a large {}.',
    'This is a photo of a {}.', 'This is a photo of a small {}.', 'This is a photo of a medium {}.',
    'This is a photo of a large {}.', 'a {} in the scene.', 'a photo of a {} in the scene.',
    'There is a {} in the scene.', 'There is the {} in the scene.', 'This is a {} in the scene.',
    'This is the {} in the scene.', 'This is one {} in the scene.',
]

# ViLD's 14 templates as SAN uses them (MendelXu/SAN san/model/clip_utils/utils.py), in its order; four of them
# have no trailing period.
VILD_14: List[str] = [
    'a photo of a {}.', 'This is a photo of a {}', 'There is a {} in the scene', 'There is the {} in the scene',
    'a photo of a {} in the scene', 'a photo of a small {}.', 'a photo of a medium {}.', 'a photo of a large {}.',
    'This is a photo of a small {}.', 'This is a photo of a medium {}.', 'This is a photo of a large {}.',
    'There is a small {} in the scene.', 'There is a medium {} in the scene.', 'There is a large {} in the scene.',
]

# ViLD's 63 templates (tensorflow/tpu projects/vild, ViLD_demo.ipynb), in its order, with the demo's ``this_is``
# option applied: texts starting with "a" or "the" get "This is " in front (the start never depends on the name).
# ``{article}`` is "an" before a name starting with a lower-case vowel, else "a" (``format_prompt``).
_VILD_63_RAW: List[str] = [
    'There is {article} {} in the scene.', 'There is the {} in the scene.', 'a photo of {article} {} in the scene.',
    'a photo of the {} in the scene.', 'a photo of one {} in the scene.', 'itap of {article} {}.', 'itap of my {}.',
    'itap of the {}.', 'a photo of {article} {}.', 'a photo of my {}.', 'a photo of the {}.', 'a photo of one {}.',
    'a photo of many {}.', 'a good photo of {article} {}.', 'a good photo of the {}.', 'a bad photo of {article} {}.',
    'a bad photo of the {}.', 'a photo of a nice {}.', 'a photo of the nice {}.', 'a photo of a cool {}.',
    'a photo of the cool {}.', 'a photo of a weird {}.', 'a photo of the weird {}.', 'a photo of a small {}.',
    'a photo of the small {}.', 'a photo of a large {}.', 'a photo of the large {}.', 'a photo of a clean {}.',
    'a photo of the clean {}.', 'a photo of a dirty {}.', 'a photo of the dirty {}.', 'a bright photo of {article} {}.',
    'a bright photo of the {}.', 'a dark photo of {article} {}.', 'a dark photo of the {}.',
    'a photo of a hard to see {}.', 'a photo of the hard to see {}.', 'a low resolution photo of {article} {}.',
    'a low resolution photo of the {}.', 'a cropped photo of {article} {}.', 'a cropped photo of the {}.',
    'a close-up photo of {article} {}.', 'a close-up photo of the {}.', 'a jpeg corrupted photo of {article} {}.',
    'a jpeg corrupted photo of the {}.', 'a blurry photo of {article} {}.', 'a blurry photo of the {}.',
    'a pixelated photo of {article} {}.', 'a pixelated photo of the {}.', 'a black and white photo of the {}.',
    'a black and white photo of {article} {}.', 'a plastic {}.', 'the plastic {}.', 'a toy {}.', 'the toy {}.',
    'a plushie {}.', 'the plushie {}.', 'a cartoon {}.', 'the cartoon {}.', 'an embroidered {}.',
    'the embroidered {}.', 'a painting of the {}.', 'a painting of a {}.',
]
VILD_63: List[str] = [f'This is {template}' if template.startswith(('a', 'the')) else template
                      for template in _VILD_63_RAW]

TEMPLATE_SETS: Dict[str, List[str]] = {
    'imagenet80': IMAGENET_80,
    'maskclip85': MASKCLIP_85,
    'zegclip_single': ZEGCLIP_SINGLE,
    'zegclip15': ZEGCLIP_15,
    'vild14': VILD_14,
    'vild63': VILD_63,
    # RegionCLIP (clip_prompt_utils.py: get_prompt_templates): '{}.' then the 80 above.
    'regionclip81': ['{}.'] + IMAGENET_80,
    'photo': ['a photo of a {}.'],
    'identity': ['{}'],
}


def _vild_name(name: str) -> str:
    # ViLD's processed_name(rm_dot=True): LVIS's "_" and Objects365's "/" become words, lower case, no final dot.
    return name.replace('_', ' ').replace('/', ' or ').lower().rstrip('.')


def _regionclip_name(name: str) -> str:
    # RegionCLIP's get_cls_names (LVIS's "_" a space, no parentheses), then its prompt_engineering (commas dropped,
    # "+" a space).
    name = name.replace('_', ' ').replace('(', '').replace(')', '')
    return name.replace(',', '').replace('+', ' ')


# How a class name is written into the templates: as given, or as ViLD's demo rewrites it.
NAME_STYLES: Dict[str, Callable[[str], str]] = {
    'as_is': lambda name: name, 'vild': _vild_name,
    'regionclip': _regionclip_name}


def format_prompt(template: str, name: str, name_style: str = 'as_is') -> str:
    """``template`` filled with ``name`` (rewritten by ``name_style``); ``{article}`` becomes ViLD's article of the
    name as given ("an" before a lower-case vowel, else "a")."""
    if name_style not in NAME_STYLES:
        raise KeyError(f'unknown name style {name_style!r}; known: {sorted(NAME_STYLES)}')
    article = 'an' if name[:1] in 'aeiou' and name else 'a'
    return template.format(NAME_STYLES[name_style](name), article=article)


def resolve_templates(templates: Union[str, Sequence[str]]) -> List[str]:
    """A template-set name from ``TEMPLATE_SETS`` or an explicit list of ``{}`` patterns."""
    if isinstance(templates, str):
        if templates not in TEMPLATE_SETS:
            raise KeyError(f'unknown template set {templates!r}; known: {sorted(TEMPLATE_SETS)}, '
                           'or give a list of strings with one {} each.')
        return list(TEMPLATE_SETS[templates])
    templates = list(templates)
    if not templates:
        raise ValueError('the template list is empty; give at least one pattern such as "a photo of a {}."')
    for template in templates:
        if template.count('{}') != 1:
            raise ValueError(f'template {template!r} must contain exactly one {{}} for the class name.')
    return templates

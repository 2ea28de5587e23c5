"""Named prompt-template sets. A template is a ``str.format`` pattern with one ``{}`` for the class name."""
from typing import Dict, List, Sequence, Union

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

TEMPLATE_SETS: Dict[str, List[str]] = {
    'imagenet80': IMAGENET_80,
    'maskclip85': MASKCLIP_85,
    'zegclip_single': ZEGCLIP_SINGLE,
    'zegclip15': ZEGCLIP_15,
    'vild14': VILD_14,
    'photo': ['a photo of a {}.'],
    'identity': ['{}'],
}


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

"""Open vocabularies: classes, each with one or more names (synonyms)."""
import os
from dataclasses import dataclass
from typing import List, Sequence, Union

from clipdense.utils import UserError

VocabularySpec = Union[str, Sequence[Union[str, Sequence[str]]], 'Vocabulary']


class VocabularyError(UserError, ValueError):
    """A vocabulary that cannot be used: empty, a blank or duplicate class name."""


class VocabularyFileNotFoundError(VocabularyError, FileNotFoundError):
    """A class-name file that does not exist."""


@dataclass(frozen=True)
class Vocabulary:
    """Classes with synonyms. A class scores the maximum over its names.

    ``classes[i]`` lists the names of class ``i``; its first name is the class's display name.
    """

    classes: tuple

    def __post_init__(self):
        if not self.classes:
            raise VocabularyError('the vocabulary is empty: give at least one class name.')
        display = {}
        for index, names in enumerate(self.classes):
            if not names or any(not name.strip() for name in names):
                raise VocabularyError(f'class {index} of the vocabulary has an empty name {list(names)!r}: remove '
                                      'the extra "," or ";" (or the blank line of a class-name file).')
            first = names[0].strip()
            if first in display:
                raise VocabularyError(f'duplicate class name {first!r} (classes {display[first]} and {index}): '
                                      'merge them into one class, with synonyms if needed.')
            display[first] = index

    @property
    def shared_names(self) -> dict:
        """Names listed under more than one class (e.g. SCLIP's COCO-Object has ``bed`` among the background
        words and as a class): each occurrence is its own query, as in the references, so such classes tie
        on that name and the lower class index wins."""
        classes_of = {}
        for index, names in enumerate(self.classes):
            for name in names:
                classes_of.setdefault(name, []).append(index)
        return {name: indices for name, indices in classes_of.items() if len(set(indices)) > 1}

    @property
    def names(self) -> List[str]:
        """All names, class by class: the prompts the text encoder sees."""
        return [name for names in self.classes for name in names]

    @property
    def name_to_class(self) -> List[int]:
        """Class index of each entry of ``names``."""
        return [index for index, names in enumerate(self.classes) for _ in names]

    @property
    def class_names(self) -> List[str]:
        """One display name per class."""
        return [names[0].strip() for names in self.classes]

    def __len__(self) -> int:
        return len(self.classes)

    @classmethod
    def from_file(cls, path: str) -> 'Vocabulary':
        """A class-name file as the reference repositories write them: one class per line, synonyms
        separated by ``', '``. Only the line break is removed, so names keep any other spacing."""
        if not os.path.isfile(path):
            raise VocabularyFileNotFoundError(f'vocabulary file not found: {path}: give an existing class-name '
                                              'file (one class per line), or class names without ".txt".')
        with open(path, encoding='utf-8') as f:
            lines = [line.rstrip('\r\n') for line in f]
        while lines and not lines[-1]:
            lines.pop()
        return cls(tuple(tuple(line.split(', ')) for line in lines))

    @classmethod
    def from_string(cls, text: str) -> 'Vocabulary':
        """The command-line form: classes separated by ``,``, synonyms of a class by ``;``
        (``"person;man;woman,dog,sofa"``)."""
        if not text.strip():
            raise VocabularyError('the vocabulary is empty: give at least one class name, e.g. "cat,dog;puppy".')
        classes = []
        for item in text.split(','):
            names = tuple(name.strip() for name in item.split(';'))
            classes.append(names)
        return cls(tuple(classes))

    @classmethod
    def parse(cls, spec: VocabularySpec) -> 'Vocabulary':
        """A ``Vocabulary``, a file path, a command-line string, or a list whose items are a name or a list
        of synonyms."""
        if isinstance(spec, Vocabulary):
            return spec
        if isinstance(spec, str):
            if os.path.isfile(spec) or spec.endswith('.txt'):
                return cls.from_file(spec)  # a missing .txt file is an error, not a one-class vocabulary
            return cls.from_string(spec)
        if spec is None:
            raise VocabularyError('no vocabulary given: pass class names, a class-name file or a string.')
        return cls(tuple((item,) if isinstance(item, str) else tuple(item) for item in spec))

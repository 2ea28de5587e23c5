"""What the tools (train, test, the demo) share: the config, its overrides, checks of the paths they will read
and write, the work dir and the launcher."""
import argparse
import difflib
import gc
import inspect
import os
import os.path as osp
from typing import Iterable, Optional, Union

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import Registry
from torch.utils.data import DataLoader

from clipdense import registry
from clipdense.registry import register_all_modules
from clipdense.utils import UserError, describe_read_error

DELETE_KEY = '_delete_'  # mmengine's marker: replace the config's value instead of merging into it
# Keys mmengine reads at config levels that carry no ``type`` naming the class that takes them.
ALSO_READ_KEYS = {
    'default_hooks': ('runtime_info', 'timer', 'sampler_seed', 'logger', 'param_scheduler', 'checkpoint'),
    'optim_wrapper': ('constructor', 'paramwise_cfg'),
    'env_cfg': ('cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit'),
}
DATALOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
MAX_KEYS_LISTED = 20


class ConfigError(UserError, ValueError):
    """A config file that cannot be loaded, or an override of a key it does not have."""


class ConfigNotFoundError(ConfigError, FileNotFoundError):
    """A config path that is not a file."""


class DatasetNotFoundError(UserError, FileNotFoundError):
    """A dataset folder or split file named by the config that does not exist."""


class OutputPathError(UserError, OSError):
    """A place to write results that cannot be created or written."""


def load_config(path: Union[str, os.PathLike]) -> Config:
    """``Config.fromfile``, with a missing file or one that does not load reported as a ``ConfigError``."""
    path = str(path)
    if not osp.isfile(path):
        raise ConfigNotFoundError(f'config file not found: {path}: give the path of a config file, such as '
                                  'configs/sclip/sclip_vit-b16_ade20k.py.')
    try:
        return Config.fromfile(path)
    except Exception as error:  # noqa: BLE001 - the user's config: syntax, a missing _base_, a failing statement
        raise ConfigError(f'cannot load config {path} ({describe_read_error(error)}): fix the file, or the _base_ '
                          'files it names.') from error


def merge_cfg_options(cfg: Config, options: Optional[dict]) -> None:
    """Merge ``--cfg-options`` (``{'a.b.c': value}``) into ``cfg``, after checking that every key exists.

    A key exists when its full dotted path is in the config, or when the first part missing from the config is an
    argument of the class that builds that level: the class its ``type`` names (looked up in clipdense's
    registries), mmengine's Runner at the top level, torch's DataLoader for the dataloaders. So
    ``model.window_refinement.type=...`` adds the segmentor's ``window_refinement`` argument, while
    ``train_cfg.max_iter=...`` is an error that suggests ``max_iters``. ``<key>._delete_=True`` replaces a value
    (mmengine's rule), so anything below such a key is accepted.
    """
    if not options:
        return
    for key in options:
        problem = _missing_key_problem(cfg, key, options)
        if problem:
            raise ConfigError(f'unknown config key {key} (--cfg-options) for {cfg.filename or "the config"}: '
                              f'{problem}')
    cfg.merge_from_dict(options)


def _missing_key_problem(cfg: Config, key: str, options: dict) -> Optional[str]:
    """Why ``key`` does not name a key of ``cfg`` (see ``merge_cfg_options``), or ``None`` when it does."""
    parts = key.split('.')
    node = {name: cfg[name] for name in cfg}
    for depth, part in enumerate(parts):
        level = '.'.join(parts[:depth])
        if part == DELETE_KEY or (level and f'{level}.{DELETE_KEY}' in options):
            return None
        if isinstance(node, list):  # mmengine merges into lists by index, not into tuples
            if part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            return f'{level} is a list of {len(node)} items: index it with 0 to {len(node) - 1}.'
        if not isinstance(node, dict):
            return (f'{level} is {node!r} in the config, not a dict; to replace it by one, also pass '
                    f'{level}.{DELETE_KEY}=True.')
        if part in node:
            node = node[part]
            continue
        arguments = _arguments_of_level(node, level, options)
        if arguments is None or part in arguments:
            return None
        candidates = sorted(set(node) | arguments)
        close = difflib.get_close_matches(part, candidates, n=3)
        where = level or 'the top level'
        listed = ', '.join(candidates[:MAX_KEYS_LISTED]) + (', ...' if len(candidates) > MAX_KEYS_LISTED else '')
        hint = (f'close matches: {", ".join(f"{level}.{name}" if level else name for name in close)}' if close
                else f'keys there: {listed}')
        return f'{where} has no key {part!r} ({hint}). Check the spelling.'
    return None


def _arguments_of_level(node: dict, level: str, options: dict) -> Optional[set]:
    """Keys a config level may add: the arguments of the class that builds it. ``None`` when that class takes any
    keyword (``**kwargs``)."""
    arguments = set(ALSO_READ_KEYS.get(level, ()))
    if not level:
        builders = [_runner_class()]
    elif level in DATALOADER_KEYS:
        builders = [DataLoader]
        arguments.add('num_batch_per_epoch')  # read by mmengine's Runner.build_dataloader
    else:
        obj_type = options.get(f'{level}.type', node.get('type'))
        builders = _registered_classes(obj_type)
    for builder in builders:
        taken = _keyword_arguments(builder)
        if taken is None:
            return None
        arguments.update(taken)
    return arguments


def _keyword_arguments(builder) -> Optional[set]:
    """The keyword arguments ``builder`` (a class or a function) takes, following ``**kwargs`` up the base classes'
    ``__init__`` as they are usually passed on; ``None`` when any keyword may be meant."""
    functions = [builder]
    if inspect.isclass(builder):
        # nn.Module and object refuse keywords they do not name, whatever their signatures say.
        functions = [cls.__dict__['__init__'] for cls in builder.__mro__
                     if '__init__' in cls.__dict__ and cls not in (torch.nn.Module, object)]
    names = set()
    for function in functions:
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):  # no signature to read (a builtin): do not guess
            return None
        names.update(parameter.name for parameter in parameters if parameter.name != 'self' and
                     parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))
        if not any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
            return names
    return names if inspect.isclass(builder) else None


def _runner_class() -> type:
    from mmengine.runner import Runner
    return Runner


def _registered_classes(obj_type) -> list:
    """The classes a config ``type`` may name, across clipdense's registries (a name can be registered in
    several, e.g. a model and a dataset)."""
    if obj_type is None:
        return []
    if not isinstance(obj_type, str):
        return [obj_type] if callable(obj_type) else []
    found = []
    for candidate in vars(registry).values():
        if isinstance(candidate, Registry):
            obj_cls = candidate.get(obj_type)
            if obj_cls is not None and obj_cls not in found:
                found.append(obj_cls)
    return found


def check_writable_folder(folder: str, given_as: str) -> None:
    """Create ``folder`` if needed and check it can be written to, before any work is done for it."""
    if osp.exists(folder) and not osp.isdir(folder):
        raise OutputPathError(f'{folder} ({given_as}) is a file, not a folder: choose a folder to write to.')
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise OutputPathError(f'cannot create the folder {folder} ({given_as}): {error.strerror}: choose a folder '
                              'that can be created and written to.') from error
    if not os.access(folder, os.W_OK):
        raise OutputPathError(f'cannot write to the folder {folder} ({given_as}): permission denied: choose a '
                              'folder you can write to.')


def dataloaders_in_use(cfg: Config, stage: str) -> list:
    """The dataloader keys a ``'train'`` or ``'test'`` run reads: training validates too when the config has a
    validation loop, a dataloader and an evaluator (mmengine's rule)."""
    if stage == 'test':
        return ['test_dataloader']
    validates = all(cfg.get(key) for key in ('val_cfg', 'val_dataloader', 'val_evaluator'))
    return ['train_dataloader', 'val_dataloader'] if validates else ['train_dataloader']


def check_dataset_paths(cfg: Config, dataloader_keys: Iterable[str]) -> None:
    """Fail before the Runner starts, naming the config key to set, when a dataset folder (``data_root``,
    ``data_prefix``) or split file (``ann_file``) of these dataloaders, or an annotation file their evaluators read
    (``ann_file``, such as a COCO instance json for mask AP), does not exist."""
    for loader_key in dataloader_keys:
        loader = cfg.get(loader_key)
        if isinstance(loader, dict) and isinstance(loader.get('dataset'), dict):
            _check_dataset_paths(loader['dataset'], f'{loader_key}.dataset')
        evaluator_key = loader_key.replace('_dataloader', '_evaluator')
        evaluators = cfg.get(evaluator_key)
        evaluators = evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]
        for index, evaluator in enumerate(evaluators):
            if not isinstance(evaluator, dict):
                continue
            backend = (evaluator.get('backend_args') or {}).get('backend', 'local')
            ann_file = evaluator.get('ann_file') if backend == 'local' else None  # other backends: not checked
            key = f'{evaluator_key}.{index}.ann_file' if len(evaluators) > 1 else f'{evaluator_key}.ann_file'
            if isinstance(ann_file, str) and ann_file and not osp.isfile(ann_file):
                raise DatasetNotFoundError(f'evaluation annotation file not found: {ann_file} ({key}): prepare it '
                                           f'as docs/datasets.md describes, or point the config at it: '
                                           f'--cfg-options {key}=/path/to/file')


def _check_dataset_paths(dataset: dict, key: str) -> None:
    for index, part in enumerate(dataset.get('datasets') or []):  # ConcatDataset
        if isinstance(part, dict):
            _check_dataset_paths(part, f'{key}.datasets.{index}')
    if isinstance(dataset.get('dataset'), dict):  # RepeatDataset and other wrappers
        _check_dataset_paths(dataset['dataset'], f'{key}.dataset')
    root = dataset.get('data_root') or ''
    fix = (f'prepare the dataset as docs/datasets.md describes, or point the config at it: '
           f'--cfg-options {key}.data_root=/path/to/dataset')
    if root and not osp.isdir(root):
        raise DatasetNotFoundError(f'dataset folder not found: {root} ({key}.data_root): {fix}')
    for name, prefix in (dataset.get('data_prefix') or {}).items():
        folder = osp.join(root, prefix) if isinstance(prefix, str) and prefix else None
        if folder and not osp.isdir(folder):
            raise DatasetNotFoundError(f'dataset folder not found: {folder} ({key}.data_root={root!r} + '
                                       f'data_prefix.{name}={prefix!r}): {fix}')
    ann_file = dataset.get('ann_file')
    if isinstance(ann_file, str) and ann_file and not osp.isfile(osp.join(root, ann_file)):
        raise DatasetNotFoundError(f'dataset split file not found: {osp.join(root, ann_file)} ({key}.data_root='
                                   f'{root!r} + ann_file={ann_file!r}): {fix}')


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """The arguments both tools take: the config, ``--work-dir``, ``--cfg-options`` and the launcher."""
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and outputs go (default: work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries, e.g. model.clip.pretrained=/path/ViT-B-16.pt')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_runner_config(config: str, cfg_options: Optional[dict] = None, launcher: str = 'none',
                       work_dir: Optional[str] = None) -> Config:
    """The config with ``--cfg-options`` merged (keys checked), the launcher set and a writable work dir (default
    ``work_dirs/<config name>``); starts the CPU process group when there is no GPU."""
    register_all_modules()
    cfg = load_config(config)
    merge_cfg_options(cfg, cfg_options)
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join('work_dirs', osp.splitext(osp.basename(config))[0])
    check_writable_folder(cfg.work_dir, '--work-dir' if work_dir else 'the work dir')
    if launcher != 'none' and not torch.cuda.is_available():
        init_cpu_process_group(launcher)
        # mmengine's default wrapper pins DDP to device LOCAL_RANK, which only exists on GPUs.
        wrapper = dict(cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'))
        wrapper['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper
    return cfg


def init_cpu_process_group(launcher: str) -> None:
    """Distributed runs without a GPU communicate over gloo.

    mmengine's launchers pin every process to a CUDA device first, which fails without one; a process group
    that already exists makes mmengine's Runner skip its own initialisation.
    """
    if launcher != 'pytorch':
        raise ConfigError(f"the {launcher!r} launcher needs GPUs; on CPUs start the processes with torchrun "
                          '(tools/dist_train.sh, tools/dist_test.sh, --launcher pytorch).')
    if not dist.is_initialized():
        os.environ.setdefault('LOCAL_RANK', '0')
        dist.init_process_group(backend='gloo')
        print_log(f'no GPU: process {dist.get_rank()} of {dist.get_world_size()} communicates over gloo',
                  logger='current')


def release_process_group(finished: bool) -> None:
    """Tear the process group down before the interpreter exits: a gloo group left to interpreter shutdown, or
    destroyed while another process still talks to it, can abort the process ("terminate called without an active
    exception"). ``finished``: the run ended normally, so every process waits for the others first (after a
    failure the others may never arrive; torchrun stops them).

    The finished Runner lives on in reference cycles (its hooks and loops point back at it) until the garbage
    collector happens to run, and with it the DistributedDataParallel reducer that holds the group: collected
    after the group is destroyed, it can abort the process the same way. So it is collected here, first."""
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        if finished:
            dist.barrier()
        dist.destroy_process_group()

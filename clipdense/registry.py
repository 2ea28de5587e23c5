"""clipdense registries.

Every registry is a child of mmsegmentation's registry of the same kind (scope ``clipdense``),
so a config with ``default_scope='clipdense'`` finds clipdense modules first, then mmseg's, then
mmengine's. Names mmseg does not have are looked up in mmdetection's registry of the same kind
as well, so mmdet modules (RoI heads, assigners, ...) can be named directly; where both mmseg and
mmdet define a name (``ResNet``, ``LoadAnnotations``, ``PackDetInputs`` vs ``PackSegInputs`` ...),
the unscoped name is mmseg's and ``mmdet.<Name>`` selects mmdet's.
"""
from typing import Optional, Type

from mmdet import registry as mmdet_registry
from mmengine.registry import Registry
from mmseg import registry as mmseg_registry


class SegDetRegistry(Registry):
    """A registry whose unscoped look-ups fall back to mmdet's registry of the same kind."""

    def __init__(self, name: str, parent: Registry, detection_parent: Optional[Registry],
                 locations: Optional[list] = None):
        super().__init__(name, parent=parent, scope='clipdense', locations=locations or [])
        self.detection_parent = detection_parent

    def get(self, key: str) -> Optional[Type]:
        # mmengine imports a registry's ``locations`` lazily, but only for the registry asked, not for the
        # parents it then searches: trigger mmseg's and mmdet's (e.g. mmseg.visualization) first.
        for registry in (self.parent, self.detection_parent):
            if registry is not None:
                registry.import_from_location()
        obj_cls = super().get(key)
        if obj_cls is None and self.detection_parent is not None and isinstance(key, str) and '.' not in key:
            obj_cls = self.detection_parent.get(key)
        return obj_cls


def _child(kind: str, locations: Optional[list] = None) -> SegDetRegistry:
    upper = kind.upper()
    return SegDetRegistry(kind.lower(), parent=getattr(mmseg_registry, upper),
                          detection_parent=getattr(mmdet_registry, upper, None), locations=locations)


RUNNERS = _child('RUNNERS')
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS')
LOOPS = _child('LOOPS')
HOOKS = _child('HOOKS', ['clipdense.engine'])
LOG_PROCESSORS = _child('LOG_PROCESSORS')
OPTIMIZERS = _child('OPTIMIZERS')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS', ['clipdense.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS')
DATASETS = _child('DATASETS', ['clipdense.datasets'])
DATA_SAMPLERS = _child('DATA_SAMPLERS')
TRANSFORMS = _child('TRANSFORMS', ['clipdense.datasets'])
MODELS = _child('MODELS', ['clipdense.models'])
MODEL_WRAPPERS = _child('MODEL_WRAPPERS')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS')
TASK_UTILS = _child('TASK_UTILS', ['clipdense.models'])
METRICS = _child('METRICS', ['clipdense.evaluation'])
EVALUATOR = _child('EVALUATOR')
VISUALIZERS = _child('VISUALIZERS')
VISBACKENDS = _child('VISBACKENDS')
INFERENCERS = _child('INFERENCERS')


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every module that registers into mmseg, mmdet and clipdense.

    Args:
        init_default_scope: also make ``clipdense`` the current default scope, as configs do
            with ``default_scope='clipdense'``.
    """
    import datetime
    import warnings

    import mmdet.utils
    import mmseg.utils
    from mmengine import DefaultScope

    mmseg.utils.register_all_modules(init_default_scope=False)
    mmdet.utils.register_all_modules(init_default_scope=False)
    import clipdense.datasets  # noqa: F401
    import clipdense.engine  # noqa: F401
    import clipdense.evaluation  # noqa: F401
    import clipdense.models  # noqa: F401
    from clipdense.engine import allow_mmengine_checkpoints

    allow_mmengine_checkpoints()
    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != 'clipdense':
        if current is not None:
            warnings.warn(f'the default scope was {current.scope_name!r}; clipdense switches it '
                          "to 'clipdense' so that clipdense's registries are searched first.")
        # DefaultScope instances are named; a fresh name makes this one the current instance.
        name = f'clipdense-{datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")}'
        DefaultScope.get_instance(name, scope_name='clipdense')

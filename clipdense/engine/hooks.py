"""Runner hooks of clipdense."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from clipdense.registry import HOOKS


@HOOKS.register_module()
class CompileTowersHook(Hook):
    """``torch.compile`` the model's vision tower before evaluating (``tools/test.py --compile``)."""

    def before_test(self, runner) -> None:
        self._compile(runner)

    def before_val(self, runner) -> None:
        self._compile(runner)

    @staticmethod
    def _compile(runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.compile_towers()


@HOOKS.register_module()
class TextTowerHook(Hook):
    """Records the text tower a model is trained against in each checkpoint's meta (``meta['text_tower']``: CLIP
    name and fingerprint) and warns once when a loaded checkpoint names another one. Models without an open
    vocabulary are left alone."""

    priority = 'LOW'

    @staticmethod
    def _model(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return model if hasattr(model, 'text_tower_meta') else None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = self._model(runner)
        if model is not None:
            checkpoint.setdefault('meta', {})['text_tower'] = model.text_tower_meta()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = self._model(runner)
        if model is not None:
            model.check_text_tower_meta(checkpoint.get('meta'))

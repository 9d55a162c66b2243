"""Fail at the start of a run whose model class counts are not its dataset's."""
from typing import List

from mmengine.model import is_model_wrapper

from mmdet.engine.hooks import NumClassCheckHook
from mmdet.registry import HOOKS


def class_count_problems(model, metainfo: dict) -> List[str]:
    """What of ``model`` disagrees with the dataset ``metainfo``: each module's
    ``num_things_classes`` / ``num_stuff_classes`` against the metainfo's
    ``thing_classes`` / ``stuff_classes``, and each ``loss_cls.class_weight``
    against one weight per class plus the no-object one. Each entry names the
    config key (``model.<module>.<attribute>``) and the value to set."""
    expected = dict(num_things_classes=len(metainfo['thing_classes']),
                    num_stuff_classes=len(metainfo['stuff_classes']))
    num_classes = sum(expected.values())
    problems = []
    for name, module in model.named_modules():
        key = f'model.{name}.' if name else 'model.'
        for attr, count in expected.items():
            value = getattr(module, attr, None)
            if isinstance(value, int) and value != count:
                problems.append(f'{key}{attr}={value} (set {count})')
        weight = getattr(module, 'class_weight', None)
        if (name.endswith('loss_cls') and isinstance(weight, (list, tuple))
                and len(weight) != num_classes + 1):
            problems.append(
                f'{key}class_weight has {len(weight)} entries (set '
                f'{num_classes + 1}: one per class, then the no-object weight)')
    return problems


@HOOKS.register_module()
class PanopticClassCountCheckHook(NumClassCheckHook):
    """mmdet's ``NumClassCheckHook`` for panoptic models: before training,
    validation and testing, the model's thing / stuff counts and its
    classification loss weights must follow the dataset's metainfo
    (``thing_classes``, ``stuff_classes``), else the run stops at once with
    one line naming both numbers and the config keys to set. (A model with
    the wrong counts trains without complaint and fails at the first
    evaluation, inside the panoptic metric.)"""

    def _check_head(self, runner, mode: str) -> None:
        dataloader = getattr(runner, f'{mode}_dataloader')
        dataset = dataloader.dataset
        metainfo = dataset.metainfo
        if not ('thing_classes' in metainfo and 'stuff_classes' in metainfo):
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        problems = class_count_problems(model, metainfo)
        if problems:
            raise ValueError(
                f'The model does not fit the classes of {mode}_dataloader.'
                f'dataset ({type(dataset).__name__}, metainfo: '
                f"{len(metainfo['thing_classes'])} thing + "
                f"{len(metainfo['stuff_classes'])} stuff classes): " +
                '; '.join(problems) + '.')

    def before_test_epoch(self, runner) -> None:
        self._check_head(runner, 'test')

"""Test-time augmentation of the semantic task: multi-scale + flip, as released."""
import copy
from typing import List

from mmengine.config import Config, ConfigDict
from mmengine.model import BaseTTAModel
from mmengine.structures import PixelData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from ..tasks import METRIC_SOURCES

#: the release has test-time augmentation for the semantic task only
TTA_TASKS = ('semantic', )


def _refusal(what: str) -> str:
    return (f'Test-time augmentation is for the semantic task only (the '
            f'release has none for panoptic or instance segmentation), but '
            f'{what}: set model.test_cfg.tasks=None model.test_cfg.task='
            'semantic and a semantic evaluator (tools/test.py --tta does both)')


@MODELS.register_module()
class OneFormerTTAModel(BaseTTAModel):
    """Semantic TTA of a OneFormer, the release's protocol: every augmented
    view (``tta_pipeline``: scales x flips) is segmented, its per-class
    scores [K, H, W] resized to the image and unflipped, the scores averaged
    over the views and the label map taken from their argmax.

    Args:
        module (dict | nn.Module): the OneFormer; its ``test_cfg`` must ask
            for the semantic task only, else building fails with one line.
    """

    def __init__(self, module, data_preprocessor=None) -> None:
        super().__init__(module, data_preprocessor)
        test_cfg = self.module.test_cfg
        tasks = test_cfg.get('tasks')
        if tasks is None:
            tasks = [test_cfg.get('task')]
        if list(tasks) != list(TTA_TASKS):
            raise ValueError(_refusal(f'model.test_cfg asks for {list(tasks)}'))
        self.module.panoptic_fusion_head.test_cfg['semantic_scores'] = True

    def merge_preds(self, data_samples_list: List[List[DetDataSample]]
                    ) -> List[DetDataSample]:
        """Average the per-class scores of each image's views.

        Args:
            data_samples_list: per image, its views' predictions, each with
                ``pred_sem_seg.scores`` [K, H, W] at the image size.

        Returns:
            list[DetDataSample]: per image, the first view's sample with the
            merged ``pred_sem_seg`` (label map [1, H, W]).
        """
        merged = []
        for views in data_samples_list:
            total = None
            for view in views:
                task = view.metainfo.get('task', 'semantic')
                if task not in TTA_TASKS:
                    raise ValueError(_refusal(f"image {view.img_path} has "
                                              f"metainfo task {task!r}"))
                scores = view.pred_sem_seg.scores
                if view.metainfo.get('flip', False):
                    direction = view.metainfo['flip_direction']
                    dims = dict(horizontal=[-1], vertical=[-2],
                                diagonal=[-2, -1])[direction]
                    scores = scores.flip(dims)
                total = scores if total is None else total + scores
            sample = views[0]
            sample.pred_sem_seg = PixelData(
                sem_seg=(total / len(views)).argmax(0)[None])
            merged.append(sample)
        return merged


def semantic_tta_config(cfg: Config) -> Config:
    """Turn a OneFormer test config into its semantic TTA run, in place (what
    ``tools/test.py --tta`` does): the model wrapped by the config's
    ``tta_model`` (default ``OneFormerTTAModel``), the test set read through
    ``tta_pipeline``, the semantic task only and the semantic evaluators only.
    A config whose ``test_cfg.task`` is panoptic or instance is refused."""
    if cfg.model.get('type') != 'OneFormer':
        raise ValueError(f"{cfg.filename}: test-time augmentation needs a OneFormer "
                         f"model, not model.type={cfg.model.get('type')!r}")
    if 'tta_pipeline' not in cfg:
        raise ValueError(f'{cfg.filename}: no tta_pipeline; the paper configs '
                         'and the toy dataset base define one (scales x flips)')
    test_cfg = cfg.model.setdefault('test_cfg', ConfigDict())
    tasks = test_cfg.get('tasks')
    if tasks is None and test_cfg.get('task') not in TTA_TASKS:
        raise ValueError(_refusal(
            f"model.test_cfg.task is {test_cfg.get('task')!r}"))
    if tasks is not None and 'semantic' not in tasks:
        raise ValueError(_refusal(f'model.test_cfg.tasks is {list(tasks)}'))
    test_cfg.update(tasks=None, task='semantic')
    semantic = {evaluator for task, evaluator, *_ in METRIC_SOURCES
                if task in TTA_TASKS}
    evaluators = cfg.test_evaluator
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    cfg.test_evaluator = [e for e in evaluators if e['type'] in semantic]
    if not cfg.test_evaluator:
        raise ValueError(f'{cfg.filename}: test_evaluator has no semantic '
                         f"evaluator ({', '.join(sorted(semantic))})")
    cfg.model = ConfigDict(
        **cfg.get('tta_model', dict(type='OneFormerTTAModel')),
        module=cfg.model)
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:
        dataset = dataset.dataset
    dataset.pipeline = copy.deepcopy(cfg.tta_pipeline)
    return cfg

"""The three OneFormer tasks: the one table every module takes them from."""
from typing import Dict, NamedTuple, Sequence


class TaskSpec(NamedTuple):
    """Where one task's outputs live and how its text list is padded."""
    #: key of the fusion head's result dict of an (image, task) pair
    result_key: str
    #: ``DetDataSample`` field of the prediction
    pred_field: str
    #: text of an empty slot of the task's text list ("a/an {task} photo")
    pad_text: str
    #: the task's headline metric in the one-run table (``METRIC_SOURCES``)
    metric: str


TASK_SPECS: Dict[str, TaskSpec] = {
    'panoptic': TaskSpec('pan_results', 'pred_panoptic_seg', 'a panoptic photo',
                         'PQ'),
    'instance': TaskSpec('ins_results', 'pred_instances', 'an instance photo',
                         'AP'),
    'semantic': TaskSpec('sem_results', 'pred_sem_seg', 'a semantic photo',
                         'mIoU'),
}
#: The task names, in the order of outputs, tables and the task-token ids.
TASKS = tuple(TASK_SPECS)
#: The release's sampling order: it draws u ~ U(0, 1) and takes semantic below
#: the first threshold, instance below the second, else panoptic.
SAMPLING_ORDER = ('semantic', 'instance', 'panoptic')

# (task, evaluator, metric key prefix, [(column, key)], factor to percent). A task's
# row comes from the first of its evaluators that reported: Cityscapes configs
# score instance AP with cityscapesscripts (mmdet's CityScapesMetric, AP averaged
# over IoU 0.5:0.95, regions >= 100 px, as the released CityscapesInstanceEvaluator),
# the others with COCO's mask AP.
METRIC_SOURCES = (
    ('panoptic', 'CocoPanopticMetric', 'coco_panoptic/',
     [('PQ', 'PQ'), ('PQ_th', 'PQ_th'), ('PQ_st', 'PQ_st'), ('SQ', 'SQ'),
      ('RQ', 'RQ')], 1.0),
    ('instance', 'CityScapesMetric', 'cityscapes/',
     [('AP', 'mAP'), ('AP50', 'AP@50')], 100.0),
    ('instance', 'CocoMetric', 'coco/',
     [('AP', 'segm_mAP'), ('AP50', 'segm_mAP_50'), ('AP75', 'segm_mAP_75')],
     100.0),
    ('semantic', 'SemSegMetric', 'sem_seg/',
     [('mIoU', 'mIoU'), ('aAcc', 'aAcc')], 1.0),
)


def check_tasks(tasks: Sequence[str]) -> None:
    """Raise a ValueError naming the valid tasks if any entry is unknown."""
    unknown = sorted({t for t in tasks if t not in TASK_SPECS})
    if unknown:
        raise ValueError(f'Unknown OneFormer task(s) {unknown}; valid tasks '
                         f"are {', '.join(repr(t) for t in TASKS)}.")

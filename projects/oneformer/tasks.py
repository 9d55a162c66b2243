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


TASK_SPECS: Dict[str, TaskSpec] = {
    'panoptic': TaskSpec('pan_results', 'pred_panoptic_seg', 'a panoptic photo'),
    'instance': TaskSpec('ins_results', 'pred_instances', 'an instance photo'),
    'semantic': TaskSpec('sem_results', 'pred_sem_seg', 'a semantic photo'),
}
#: The task names, in the order of outputs, tables and the task-token ids.
TASKS = tuple(TASK_SPECS)
#: The release's sampling order: it draws u ~ U(0, 1) and takes semantic below
#: the first threshold, instance below the second, else panoptic.
SAMPLING_ORDER = ('semantic', 'instance', 'panoptic')


def check_tasks(tasks: Sequence[str]) -> None:
    """Raise a ValueError naming the valid tasks if any entry is unknown."""
    unknown = sorted({t for t in tasks if t not in TASK_SPECS})
    if unknown:
        raise ValueError(f'Unknown OneFormer task(s) {unknown}; valid tasks '
                         f"are {', '.join(repr(t) for t in TASKS)}.")

"""Multi-positive "filter" assignment of the released Panoptic SegFormer."""
from typing import Optional

import torch
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment

from mmdet.models.task_modules import AssignResult, HungarianAssigner
from mmdet.registry import TASK_UTILS


@TASK_UTILS.register_module()
class FilterHungarianAssigner(HungarianAssigner):
    """Hungarian matching repeated on the queries not matched so far.

    Round r matches each ground truth to one more query (the matched rows are
    then excluded), for min(max_pos, num_queries // num_gts) rounds, so every
    ground truth keeps up to ``max_pos`` queries. The released code uses it
    on the last location-decoder layer to choose the queries sent to the
    thing mask decoder; the location losses use round 1 only, which is
    exactly mmdet's one-to-one ``HungarianAssigner`` with the same costs.

    Returns an ``AssignResult`` whose ``gt_inds`` mark every query kept
    (1-based gt index) and 0 elsewhere.
    """

    def __init__(self, *args, max_pos: int = 3, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_pos = max_pos

    def assign(self, pred_instances: InstanceData,
               gt_instances: InstanceData, img_meta: Optional[dict] = None,
               **kwargs) -> AssignResult:
        num_gts = len(gt_instances)
        num_preds = len(pred_instances)
        device = gt_instances.labels.device
        gt_inds = torch.zeros(num_preds, dtype=torch.long, device=device)
        labels = torch.full((num_preds, ), -1, dtype=torch.long,
                            device=device)
        if num_gts == 0 or num_preds == 0:
            return AssignResult(num_gts, gt_inds, None, labels=labels)
        cost = torch.stack([
            c(pred_instances=pred_instances, gt_instances=gt_instances,
              img_meta=img_meta) for c in self.match_costs
        ]).sum(0).detach().cpu()
        free = torch.ones(num_preds, dtype=torch.bool)
        for _ in range(min(self.max_pos, num_preds // num_gts)):
            rows_left = free.nonzero().squeeze(1)
            rows, cols = linear_sum_assignment(cost[rows_left])
            rows = rows_left[torch.from_numpy(rows)]
            cols = torch.from_numpy(cols)
            free[rows] = False
            gt_inds[rows.to(device)] = cols.to(device) + 1
            labels[rows.to(device)] = gt_instances.labels[cols.to(device)]
        return AssignResult(num_gts, gt_inds, None, labels=labels)

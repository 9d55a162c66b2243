from .backbones import DiNAT  # noqa: F401
from .contrastive_loss import QueryTextContrastiveLoss
from .deformable_attention import MultiLevelDeformableAttention
from .fusion_head import OneFormerFusionHead
from .semantic_maskformer_fusion_head import SemanticMaskFormerFusionHead  # noqa: F401
from .oneformer import OneFormer
from .oneformer_head import OneFormerHead
from .pixel_decoder import OneFormerPixelDecoder
from .query_initialiser import OneFormerQueryInitialiser
from .task_token import TASKS, TaskTokenEncoder
from .test_time_augmentation import OneFormerTTAModel, semantic_tta_config
from .text_mapper import TextMapper

__all__ = [
    'TASKS', 'MultiLevelDeformableAttention', 'OneFormer',
    'OneFormerFusionHead', 'OneFormerHead', 'OneFormerPixelDecoder',
    'OneFormerQueryInitialiser', 'OneFormerTTAModel',
    'QueryTextContrastiveLoss', 'TaskTokenEncoder', 'TextMapper',
    'semantic_tta_config'
]

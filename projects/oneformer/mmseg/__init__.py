"""OneFormer in mmsegmentation: a decode head for ``EncoderDecoder``."""
from .oneformer_head import CLASS_NAMES, OneFormerSegHead

__all__ = ['CLASS_NAMES', 'OneFormerSegHead']

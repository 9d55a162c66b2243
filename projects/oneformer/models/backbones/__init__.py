from .dinat import DiNAT
from .swin import InfMaskSwinTransformer

__all__ = ['DiNAT', 'InfMaskSwinTransformer']

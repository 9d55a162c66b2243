from .dinat import DiNAT

__all__ = ['DiNAT']

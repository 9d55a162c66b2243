"""ONNX export of OneFormer (mmdet and mmseg) and onnxruntime inference."""
from .onnx_export import (OPSET, Mask2FormerGraph, OneFormerGraph,
                          SegmentorGraph, export_graph, export_onnx,
                          load_session)
from .onnx_model import OnnxOneFormer

__all__ = [
    'OPSET', 'Mask2FormerGraph', 'OneFormerGraph', 'OnnxOneFormer', 'SegmentorGraph',
    'export_graph', 'export_onnx', 'load_session'
]

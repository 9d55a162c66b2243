"""Helpers shared by the tests."""
import importlib.util
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _load_tool(relpath: str):
    """Import a script under tools/ (not a package) as a module."""
    path = osp.join(REPO, relpath)
    spec = importlib.util.spec_from_file_location(osp.splitext(osp.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_toy_dataset(root: str, num_train: int = 4, num_val: int = 2, size: int = 64,
                     seed: int = 0) -> str:
    """Write the bundled toy dataset (tools/misc/make_toy_dataset.py) under ``root``."""
    tool = _load_tool('tools/misc/make_toy_dataset.py')
    return tool.make_toy_dataset(root, num_train, num_val, size, seed)

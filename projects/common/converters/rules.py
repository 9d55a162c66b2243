"""Rule-based state-dict renaming and the conversion report, shared by every
project's checkpoint converters."""
import copy
import importlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

#: A rule maps a full-match regex to a target: a ``re`` template, a function
#: of the match, or None for a recognised key that is deliberately dropped.
Target = Union[str, Callable[[re.Match], str], None]
Rules = Sequence[Tuple[str, Target]]
StateDict = Dict[str, Tensor]

WB = r'(weight|bias)'
BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
ATTN = r'(in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)'


def seq_linear(template: str) -> Callable[[re.Match], str]:
    """Target for ``MLP.layers.{i}.{p}`` -> ``nn.Sequential`` index ``2i``.

    The released MLPs keep only Linear layers; ours interleave ReLUs.
    ``template`` gets ``{i}`` and ``{p}`` from groups 1 and 2.
    """
    return lambda m: template.format(i=2 * int(m[1]), p=m[2])


def part_rules(src: str, dst: str, parts: Sequence[Tuple[str, str,
                                                         str]]) -> Rules:
    """Rules renaming the parts of a layer.

    ``src`` is a regex prefix with one group (the layer index) that ``dst``
    refers to as ``\\1``; each part ``(name, new_name, param)`` maps
    ``{src}{name}.{param}`` to ``{dst}{new_name}.{param}``.
    """
    return [(src + re.escape(name) + r'\.' + param, dst + new + r'.\2')
            for name, new, param in parts]


@dataclass
class ConversionReport:
    """What happened to every tensor of a conversion."""
    num_mapped: int = 0
    dropped: List[str] = field(default_factory=list)
    unmapped: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[str] = field(default_factory=list)
    #: lines a converter adds about what it did beyond renaming
    notes: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unmapped or self.missing or self.unexpected
                    or self.mismatched)

    def format(self) -> str:
        lines = [f'mapped tensors: {self.num_mapped}']
        lines += self.notes
        for name in ('dropped', 'unmapped', 'missing', 'unexpected',
                     'mismatched'):
            keys = getattr(self, name)
            lines.append(f'{name}: {len(keys)}')
            lines += [f'    {k}' for k in keys]
        lines.append('OK' if self.ok else 'FAILED')
        return '\n'.join(lines)


def rename(state_dict: StateDict, rules: Rules,
           report: ConversionReport) -> StateDict:
    """Rename every key by the first rule that fully matches it.

    Keys matching no rule go to ``report.unmapped``, keys whose rule target is
    None to ``report.dropped``.
    """
    compiled = [(re.compile(pattern), target) for pattern, target in rules]
    out = OrderedDict()
    for key, value in state_dict.items():
        for pattern, target in compiled:
            match = pattern.fullmatch(key)
            if match:
                break
        else:
            report.unmapped.append(key)
            continue
        if target is None:
            report.dropped.append(key)
            continue
        new_key = match.expand(target) if isinstance(target,
                                                     str) else target(match)
        if new_key in out:
            raise ValueError(f'Two source keys map to {new_key!r}; the last '
                             f'one is {key!r}.')
        out[new_key] = value
    return out


def merge_qkv(state_dict: StateDict, pattern: str, fused: str) -> StateDict:
    """Concatenate separate q/k/v projections into ``in_proj_*`` tensors.

    Args:
        pattern (str): Regex with groups (prefix, 'q'|'k'|'v', 'weight'|
            'bias'), e.g. ``r'(.*)\\.([qkv])_proj\\.(weight|bias)'``.
        fused (str): Target name with ``{prefix}`` and ``{param}``.

    Incomplete triplets are left untouched (and end up unmapped).
    """
    regex = re.compile(pattern)
    groups: Dict[Tuple[str, str], Dict[str, str]] = {}
    for key in state_dict:
        m = regex.fullmatch(key)
        if m:
            groups.setdefault((m[1], m[3]), {})[m[2]] = key
    out = OrderedDict(state_dict)
    for (prefix, param), parts in groups.items():
        if set(parts) != {'q', 'k', 'v'}:
            continue
        shapes = {n: tuple(out[parts[n]].shape) for n in 'qkv'}
        if len(set(shapes.values())) != 1:
            raise ValueError(
                f"{parts['q']}, {parts['k']}, {parts['v']}: q/k/v projections "
                f'of one attention must have one shape, got {shapes}; the '
                'checkpoint is damaged or of another model size')
        out[fused.format(prefix=prefix, param=param)] = torch.cat(
            [out.pop(parts[n]) for n in 'qkv'])
    return out


def check_against_model(
    state_dict: StateDict,
    model_state: StateDict,
    report: ConversionReport,
    optional_prefixes: Sequence[str] = ()) -> None:
    """Record missing, unexpected and shape-mismatched keys in ``report``.

    Keys under ``optional_prefixes`` may be absent from the model (e.g. the
    training-only text mapper, which an inference model does not build).
    """
    for key, value in model_state.items():
        if key not in state_dict:
            report.missing.append(key)
        elif tuple(state_dict[key].shape) != tuple(value.shape):
            report.mismatched.append(
                f'{key}: checkpoint {tuple(state_dict[key].shape)} vs model '
                f'{tuple(value.shape)}')
    report.unexpected += [
        k for k in state_dict
        if k not in model_state and not k.startswith(tuple(optional_prefixes))
    ]


def dataset_metainfo(cfg, target: str = 'mmdet') -> Optional[dict]:
    """Metainfo of a config's test (else val, train) dataset: its class's
    ``METAINFO`` updated by the config's ``metainfo``; None without one."""
    datasets = importlib.import_module(f'{target}.registry').DATASETS
    for loader in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset')
        while dataset is not None and 'dataset' in dataset:  # wrappers
            dataset = dataset['dataset']
        if dataset is None or 'type' not in dataset:
            continue
        dataset_cls = datasets.get(dataset['type'])
        if dataset_cls is None:
            raise KeyError(f"dataset type {dataset['type']!r} of {loader} is "
                           f'not registered in {target}')
        return dataset_cls._load_metainfo(
            copy.deepcopy(dataset.get('metainfo')))
    return None


def model_state_from_config(cfg, target: str = 'mmdet') -> StateDict:
    """State dict of the (randomly initialised) model of an mmdet or mmseg
    (``target``) ``Config``, built in the current default scope."""
    models = importlib.import_module(f'{target}.registry').MODELS
    return models.build(cfg.model).state_dict()

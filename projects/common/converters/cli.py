"""The command line every checkpoint converter shares."""
import argparse
from typing import Callable, Optional, Sequence, Tuple

import torch

from .rules import (ConversionReport, StateDict, check_against_model,
                    model_state_from_config)

#: ``adapt(state_dict, report, cfg, target)``: changes the converted state dict
#: for the target config in place (e.g. reorders its classifier), may add
#: report notes, returns the checkpoint's ``meta``; a ValueError stops the
#: conversion with its message.
Adapt = Callable[[StateDict, ConversionReport, object, str], dict]


def convert_cli(description: str,
                load: Callable[[str], StateDict],
                convert: Callable[..., Tuple[StateDict, ConversionReport]],
                argv: Optional[Sequence[str]] = None,
                targets: Sequence[str] = ('mmdet', ),
                adapt: Optional[Adapt] = None,
                optional_prefixes: Callable[[str], Sequence[str]] = (
                    lambda target: ())) -> int:
    """Convert ``src`` to ``dst`` for the model of ``--config``; returns the
    exit status.

    Prints the key report; writes ``dst`` only if every source tensor was
    mapped (or deliberately dropped) and the model of ``--config`` gets every
    tensor it needs with the right shape (keys under
    ``optional_prefixes(target)`` may be absent from the model).
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='source checkpoint')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument(
        '--config',
        required=True,
        help='config of the target model, to check the key set')
    parser.add_argument(
        '--backbone', default='resnet', help='backbone key mapping')
    parser.add_argument(
        '--target',
        default=targets[0],
        choices=list(targets),
        help="the target model's library")
    args = parser.parse_args(argv)

    state_dict, report = convert(
        load(args.src), backbone=args.backbone, target=args.target)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', args.target))
    meta = {}
    if adapt is not None:
        try:
            meta = adapt(state_dict, report, cfg, args.target)
        except ValueError as err:
            print(f'{args.src} -> {args.config}: {err}')
            return 1
    check_against_model(
        state_dict,
        model_state_from_config(cfg, args.target),
        report,
        optional_prefixes=tuple(optional_prefixes(args.target)))
    print(report.format())
    if not report.ok:
        return 1
    torch.save({'state_dict': state_dict, 'meta': meta}, args.dst)
    print(f'saved {args.dst}')
    return 0

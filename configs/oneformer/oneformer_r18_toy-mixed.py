# configs/oneformer_r18_toy.py trained on three datasets that each label one way:
# the panoptic toy split, a semantic-only split (mmseg label PNGs, its own label
# order, 0 = unlabelled) and an instance-only split (COCO instances JSON of the
# three things, its own category ids and names), all of the same toy world
# (tools/misc/make_toy_dataset.py writes them). Every sample trains only the tasks
# its annotation supplies: panoptic samples the release's three-way draw,
# semantic samples the semantic task, instance samples the instance task.
# One class space (the toy metainfo); each single-task dataset maps its own labels
# into it with class_map. mmdet's MultiSourceSampler fills every batch of 4 with
# 2 panoptic, 1 semantic and 1 instance image (source_ratio). Evaluation: one
# test run over the three val splits, each scored only by the metrics of the
# tasks it has ground truth for (PerDatasetEvaluator), one table with a dataset
# column.
_base_ = ['../oneformer_r18_toy.py']

data_root = {{_base_.data_root}}
metainfo = {{_base_.metainfo}}
backend_args = None
image_size = (128, 128)

augmentation = [
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.8, 1.25),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=image_size, crop_type='absolute',
         recompute_bbox=True, allow_negative_crop=True),
]
task_sampling = [dict(type='OneFormerTaskSampling'), dict(type='PackOneFormerInputs')]
load_image = dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args)
test_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')

# Semantic-only: label value (after reduce_zero_label) -> shared class.
semantic_class_map = {0: 'sky', 1: 'wall', 2: 'grass', 3: 'sand', 4: 'circle',
                      5: 'square', 6: 'triangle'}
semantic_dataset = dict(
    type='OneFormerSemSegDataset',
    name='toy-semantic',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.png',
    seg_map_suffix='.png',
    reduce_zero_label=True,
    class_map=semantic_class_map,
    backend_args=backend_args)
load_semantic = dict(type='LoadStrictSemSegAnnotations', backend_args=backend_args)

# Instance-only: category name of the JSON -> shared (thing) class.
instance_class_map = dict(CIRCLE='circle', SQUARE='square', TRIANGLE='triangle')
instance_dataset = dict(
    type='OneFormerCocoInstanceDataset',
    name='toy-instance',
    data_root=data_root,
    metainfo=metainfo,
    class_map=instance_class_map,
    backend_args=backend_args)

train_dataloader = dict(
    batch_size=4,
    sampler=dict(_delete_=True, type='MultiSourceSampler', batch_size=4,
                 source_ratio=[2, 1, 1]),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            {{_base_.train_dataloader.dataset}},
            dict(semantic_dataset,
                 data_prefix=dict(img_path='semantic/img_dir/train',
                                  seg_map_path='semantic/ann_dir/train'),
                 num_texts={{_base_.num_texts}},
                 pipeline=[load_image, load_semantic] + augmentation +
                 task_sampling),
            dict(instance_dataset,
                 ann_file='instance/annotations/instances_train.json',
                 data_prefix=dict(img='instance/train/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=0),
                 num_texts={{_base_.num_texts}},
                 pipeline=[load_image,
                           dict(type='LoadAnnotations', with_bbox=True,
                                with_mask=True, backend_args=backend_args)] +
                 augmentation + task_sampling),
        ]))

test_resize = dict(type='Resize', scale=image_size, keep_ratio=True)
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            {{_base_.val_dataloader.dataset}},
            dict(semantic_dataset,
                 data_prefix=dict(img_path='semantic/img_dir/val',
                                  seg_map_path='semantic/ann_dir/val'),
                 test_mode=True,
                 pipeline=[load_image, test_resize, load_semantic,
                           dict(type='PackOneFormerInputs',
                                meta_keys=test_meta_keys)]),
            # CocoMetric builds the instance ground truth from the samples
            # ('instances', shared labels), as the JSON's categories are not
            # the shared classes
            dict(instance_dataset,
                 ann_file='instance/annotations/instances_val.json',
                 data_prefix=dict(img='instance/val/'),
                 test_mode=True,
                 pipeline=[load_image, test_resize,
                           dict(type='PackOneFormerInputs',
                                meta_keys=test_meta_keys + ('instances', ))]),
        ]))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='PerDatasetEvaluator',
    metrics={
        'toy': {{_base_.val_evaluator}},
        'toy-semantic': [dict(type='SemSegMetric', iou_metrics=['mIoU'],
                              prefix='sem_seg')],
        'toy-instance': [dict(type='CocoMetric', ann_file=None, metric=['segm'])],
    })
test_evaluator = val_evaluator

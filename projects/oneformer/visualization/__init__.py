from .task_grid import TASK_FIELDS, draw_task_panels, make_grid

__all__ = ['TASK_FIELDS', 'draw_task_panels', 'make_grid']

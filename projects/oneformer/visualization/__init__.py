from .task_grid import draw_task_panels, make_grid

__all__ = ['draw_task_panels', 'make_grid']

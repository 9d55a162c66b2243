from .task_grid import (draw_task_panels, make_grid, save_task_pictures,
                        task_pictures, write_pictures)

__all__ = [
    'draw_task_panels', 'make_grid', 'save_task_pictures', 'task_pictures',
    'write_pictures'
]

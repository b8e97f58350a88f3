"""Task plugins: base class and registry."""

from nca.tasks.base import (
    RESERVED_OPTIONS,
    RunContext,
    Task,
    check_task_class,
    preset_rule_values,
    preset_task_values,
)
from nca.tasks.registry import (
    TASKS,
    TaskInfo,
    create_task,
    get_task_class,
    list_tasks,
    register_task,
    resolve_task_config,
    task_info,
)

__all__ = [
    "RESERVED_OPTIONS",
    "TASKS",
    "RunContext",
    "Task",
    "TaskInfo",
    "check_task_class",
    "create_task",
    "get_task_class",
    "list_tasks",
    "preset_rule_values",
    "preset_task_values",
    "register_task",
    "resolve_task_config",
    "task_info",
]

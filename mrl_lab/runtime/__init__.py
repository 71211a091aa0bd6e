"""Where a run happens and what it keeps: the budget and device, the cache folder and its atomic
writes, and memory handed back to the operating system."""

from mrl_lab.runtime.budget import BUDGETS, Budget, default_device, get_budget
from mrl_lab.runtime.cache import cache_dir, save_atomic
from mrl_lab.runtime.memory import give_freed_memory_back

__all__ = ["BUDGETS", "Budget", "default_device", "get_budget", "cache_dir", "save_atomic", "give_freed_memory_back"]

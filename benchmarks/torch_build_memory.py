"""One process's memory with the installed PyTorch build: after ``import torch``, and after a little training.

    python benchmarks/torch_build_memory.py          # with the lab's .venv: the build ./lab installed
    /path/to/other/venv/bin/python benchmarks/torch_build_memory.py   # another build, to compare

Needs torch only (not the lab), so that a venv holding just a CPU-only torch can run it. Prints the build, the
peak resident size after the import and after 100 AdamW steps of a 384-512-256 MLP on 256-row batches, and the
proportional set size (shared pages counted once) and anonymous memory at the end, from /proc (Linux).
"""

import resource

import torch


def megabytes_from_proc(field: str) -> float:
    with open("/proc/self/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main():
    after_import = peak_rss_mb()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(384, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256))
    optimizer = torch.optim.AdamW(model.parameters())
    x = torch.randn(4096, 384)
    for step in range(100):
        batch = x[(step * 256) % 4096 :][:256]
        loss = model(batch).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only"
    print(f"torch {torch.__version__} ({build} build)")
    print(f"peak RSS after import torch: {after_import:.0f} MB; after 100 training steps: {peak_rss_mb():.0f} MB")
    print(f"now: PSS {megabytes_from_proc('Pss'):.0f} MB, anonymous {megabytes_from_proc('Anonymous'):.0f} MB")


if __name__ == "__main__":
    main()

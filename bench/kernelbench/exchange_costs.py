"""What a torch evaluation of a KernelBench-sized problem pays outside the kernels, on a GPU host:

    python3 bench/kernelbench/exchange_costs.py [EXCHANGE_DIR]

importing torch in a fresh process, starting CUDA there, making a 4096 x 393216 fp32 input
(6.4 GB, as in level-1 problems 19-32) with torch.rand on the CPU and on the GPU, and handing
such a result from one process to another the way kfoundry's run child and checker do (written
through a shared mapping into a file of the exchange directory, read back to the GPU). Needs
about 20 GB of GPU memory and 7 GB free in EXCHANGE_DIR (default /dev/shm).
"""

import os
import subprocess
import sys
import time


def seconds(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv):
    directory = argv[1] if len(argv) > 1 else "/dev/shm"
    python = sys.executable
    print("import torch, fresh process: %.2f s" % seconds(lambda: subprocess.run([python, "-c", "import torch"],
                                                                                  check=True)))
    print("import torch + CUDA start: %.2f s"
          % seconds(lambda: subprocess.run([python, "-c", "import torch; torch.zeros(1, device='cuda'); "
                                                          "torch.cuda.synchronize()"], check=True)))
    import torch
    shape = (4096, 393216)
    cpu = {}
    print("torch.rand 6.4 GB on the CPU: %.2f s" % seconds(lambda: cpu.setdefault("x", torch.rand(*shape))))
    del cpu["x"]
    gpu = {}

    def on_gpu():
        gpu["x"] = torch.rand(*shape, device="cuda")
        torch.cuda.synchronize()

    print("torch.rand 6.4 GB on the GPU: %.3f s" % seconds(on_gpu))
    x = gpu["x"]
    path = os.path.join(directory, "kf_exchange_costs.bin")

    def export():
        dst = torch.from_file(path, shared=True, size=x.numel(), dtype=x.dtype)
        dst.view(x.shape).copy_(x)
        del dst

    def read_back():
        y = torch.from_file(path, shared=False, size=x.numel(), dtype=x.dtype).to("cuda")
        torch.cuda.synchronize()
        del y

    try:
        print("hand-over, write 6.4 GB through the mapping: %.2f s" % seconds(export))
        print("hand-over, read 6.4 GB back to the GPU: %.2f s" % seconds(read_back))
    finally:
        os.remove(path)


if __name__ == "__main__":
    main(sys.argv)

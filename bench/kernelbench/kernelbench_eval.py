"""KernelBench's own evaluation of kfoundry's benchmark candidates, for comparison with
`kfoundry eval-suite`; bench/kernelbench/compare.sh runs both and compares the verdicts.

    python3 kernelbench_eval.py KERNELBENCH_CHECKOUT CANDIDATES_DIR OUT.csv [PROBLEM,...]

With a list of problem numbers only those candidates run (a long evaluation split over several
calls); each row is written to OUT.csv as soon as it is known, with its wall time in seconds.

For every candidate CANDIDATES_DIR/levelL/NNN_name.py this does what KernelBench's
scripts/run_and_check.py does in local mode, with its defaults: eval_kernel_against_ref
(5 correctness trials, 100 timed trials with CUDA events, seed 42, a fresh build directory),
then measure_ref_program_time for eager PyTorch and for torch.compile. All of it is KernelBench's
code, imported from the checkout; this file only loops over the candidates (in one process, so
torch is imported once) and writes one CSV row each. The checkout's package __init__ and utils
import LLM clients (openai, litellm, dotenv) that the evaluation never calls; the package is
loaded without them, with the two utils functions the evaluation uses given here, and pydantic
replaced by a minimal stand-in when it is not installed.
"""

import csv
import os
import sys
import tempfile
import time
import types


def load_kernelbench(checkout):
    src = os.path.join(checkout, "src", "kernelbench")
    if not os.path.isfile(os.path.join(src, "eval.py")):
        sys.exit("%s has no src/kernelbench/eval.py: point at a KernelBench checkout" % checkout)
    try:
        import pydantic  # noqa: F401
    except ImportError:
        class BaseModel:
            def __init__(self, **kwargs):
                for klass in reversed(type(self).__mro__):
                    for key in getattr(klass, "__annotations__", {}):
                        if hasattr(klass, key):
                            value = getattr(klass, key)
                            setattr(self, key, dict(value) if isinstance(value, dict) else value)
                for key, value in kwargs.items():
                    setattr(self, key, value)

            def __repr__(self):
                return "%s(%s)" % (type(self).__name__, vars(self))

        sys.modules["pydantic"] = types.SimpleNamespace(BaseModel=BaseModel)
    import torch
    package = types.ModuleType("kernelbench")
    package.__path__ = [src]
    sys.modules["kernelbench"] = package
    utils = types.ModuleType("kernelbench.utils")

    def get_gpu_vendor(device=None):
        name = torch.cuda.get_device_name(device).upper() if torch.cuda.is_available() else ""
        return "nvidia" if "NVIDIA" in name else "amd" if "AMD" in name or "MI3" in name else "unknown"

    def set_gpu_arch(archs):
        os.environ["TORCH_CUDA_ARCH_LIST"] = ";".join(archs)

    utils.get_gpu_vendor = get_gpu_vendor
    utils.set_gpu_arch = set_gpu_arch
    sys.modules["kernelbench.utils"] = utils
    package.utils = utils
    import kernelbench.eval as kb_eval
    import kernelbench.timing as kb_timing
    return kb_eval, kb_timing, utils


def main(argv):
    if len(argv) not in (4, 5):
        sys.exit("usage: kernelbench_eval.py KERNELBENCH_CHECKOUT CANDIDATES_DIR OUT.csv [PROBLEM,...]")
    checkout, candidates, out_csv = argv[1:4]
    only = {int(n) for n in argv[4].split(",")} if len(argv) == 5 else None
    fields = ["task", "verdict", "runtime_ms", "eager_ms", "compile_ms", "speedup", "seconds", "metadata"]
    with open(out_csv, "w", newline="") as f:
        csv.DictWriter(f, fieldnames=fields).writeheader()
    kb_eval, kb_timing, utils = load_kernelbench(checkout)
    import torch
    utils.set_gpu_arch(["Hopper"])
    device = torch.device("cuda:0")
    rows = []
    start_all = time.perf_counter()
    for level in sorted(os.listdir(candidates)):
        for name in sorted(os.listdir(os.path.join(candidates, level))):
            if not name.endswith(".py"):
                continue
            number, _, rest = name.partition("_")
            if only is not None and int(number) not in only:
                continue
            problem = os.path.join(checkout, "KernelBench", level, "%d_%s" % (int(number), rest))
            with open(problem) as f:
                ref_src = f.read()
            with open(os.path.join(candidates, level, name)) as f:
                kernel_src = f.read()
            t0 = time.perf_counter()
            build_dir = tempfile.mkdtemp(prefix="kb_build_")
            try:
                result = kb_eval.eval_kernel_against_ref(
                    original_model_src=ref_src, custom_model_src=kernel_src, measure_performance=True,
                    timing_method="cuda_event", verbose=False, num_correct_trials=5, num_perf_trials=100,
                    build_dir=build_dir, device=device, backend="cuda", precision=torch.float32)
            except Exception as e:  # noqa: BLE001 - run_and_check's last-level catch
                result = kb_eval.KernelExecResult(compiled=False, correctness=False,
                                                  metadata={"other_error": str(e)[:300]})
            eager = compiled = None
            if result is not None and result.correctness:
                eager = kb_timing.measure_ref_program_time(
                    ref_arch_name="Reference Program", ref_arch_src=ref_src, num_trials=100,
                    use_torch_compile=False, timing_method="cuda_event", device=device, verbose=False,
                    precision="fp32").get("mean")
                compiled = kb_timing.measure_ref_program_time(
                    ref_arch_name="Reference Program", ref_arch_src=ref_src, num_trials=100,
                    use_torch_compile=True, timing_method="cuda_event", device=device, verbose=False,
                    precision="fp32").get("mean")
            seconds = time.perf_counter() - t0
            if result is None:
                verdict = "retry"
            elif not result.compiled:
                verdict = "compile_error"
            elif not result.correctness:
                verdict = "incorrect"
            else:
                verdict = "passed"
            row = {"task": "%s/%s" % (level, name[:-3]), "verdict": verdict,
                   "runtime_ms": getattr(result, "runtime", -1.0), "eager_ms": eager, "compile_ms": compiled,
                   "speedup": (eager / result.runtime) if eager and result.runtime > 0 else "",
                   "seconds": "%.1f" % seconds,
                   "metadata": str(getattr(result, "metadata", {}))[:300].replace("\n", " ")}
            rows.append(row)
            with open(out_csv, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=fields).writerow(row)
            print("%s: %s in %.1f s" % (row["task"], verdict, seconds), flush=True)
    print("KernelBench eval of %d candidates: %.1f s" % (len(rows), time.perf_counter() - start_all))


if __name__ == "__main__":
    main(sys.argv)

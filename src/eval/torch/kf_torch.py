"""kf_torch.py: kfoundry's harness for torch tasks (KernelBench form). Stdlib and torch only.

kfoundry embeds this file, writes it into its cache directory (named by its hash) and runs it in
sandboxed children:

    python3 kf_torch.py SUBCOMMAND PLAN.json

  probe       torch version, devices, torch.compile; trusted code only.
  lint        AST checks of a candidate (no torch import): findings, and the C++/CUDA source strings
              it passes to load_inline, which kfoundry checks with its own C++ static rules.
  warm        trusted code only: runs Model once per configuration and compiles it with
              torch.compile (into the inductor cache), timing nothing.
  build       imports the candidate, which builds its load_inline extensions (cached by content).
  run         the candidate's correctness calls, runtime op audit, timing and after-timing check;
              every result is handed to the checker, and the run stops at the first it rejects.
  check       trusted code only, beside a run child: times eager Model and torch.compile(Model)
              when asked, before the run child imports the candidate; then makes the reference's
              results for the same seeds and compares every result the run child hands over, on
              the device.

Results go to the parent only through the inherited result channel (KF_RESULT_FD), never stdout:
lines in the native runner's format (P progress, C/W/T times, D <nonce> completion marker), plus
"J <json>" records for everything torch-specific. The nonce and descriptor are taken out of the
environment before any candidate code is imported, and every function the checks and the timing
depend on is captured before the candidate can patch it. Inputs are never stored: every process
makes them from the plan's seeds with the reference's get_inputs(). The verdict on correctness
comes from the checker, a process the candidate's code never runs in and the only one that holds
the reference's results; the run child hands each result over (a CUDA IPC handle the checker
copies from on the device, or raw bytes in a file of the exchange directory) and waits for the
checker's answer before the next call.
"""

import ast
import contextlib
import hashlib
import json
import math
import os
import re
import sys
import time

MONOTONIC = time.monotonic
STARTED = MONOTONIC()

# ----------------------------------------------------------------------------------------------
# The result channel.


class Channel:
    """The private result pipe. Records are single lines; J records carry JSON objects."""

    def __init__(self):
        fd = os.environ.pop("KF_RESULT_FD", None)
        self._nonce = os.environ.pop("KF_NONCE", None)
        if fd is None or self._nonce is None:
            sys.exit("kf_torch: must be started by kfoundry (KF_RESULT_FD, KF_NONCE)")
        self._fd = int(fd)
        os.set_inheritable(self._fd, False)  # compilers and other children never get it

    def record(self, line):
        data = (line + "\n").encode()
        while data:
            data = data[os.write(self._fd, data):]

    def event(self, name, /, **fields):
        fields["event"] = name
        self.record("J " + json.dumps(fields, separators=(",", ":"), allow_nan=False, default=str))

    def phase(self, name):
        """Where the process is, with its age: kfoundry's debug log shows where the time goes."""
        self.event("phase", name=name, ms=round((MONOTONIC() - STARTED) * 1e3))

    def done(self, flush_ms=0.0, correctness_ms=0.0, timing_ms=0.0):
        self.record("D %s %.9g %.9g %.9g" % (self._nonce, flush_ms, correctness_ms, timing_ms))


def trim(text, limit=6000):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "\n[... trimmed]"


# ----------------------------------------------------------------------------------------------
# lint: the candidate's AST. Findings are {rule, line, excerpt, reason}.

# PyTorch calls (torch.X, F.X, tensor.X()) that compute: inside ModelNew.forward they are a
# fallback to PyTorch. Allocation, shape and movement (view, reshape, empty, to, ...) are not here.
COMPUTE_NAMES = frozenset("""
    matmul mm bmm addmm addbmm baddbmm addmv addr mv dot vdot inner outer ger einsum tensordot kron
    chain_matmul linear bilinear conv1d conv2d conv3d conv_transpose1d conv_transpose2d
    conv_transpose3d convolution conv_tbc fold
    relu relu6 leaky_relu gelu silu selu elu celu mish hardswish hardsigmoid hardtanh hardshrink
    softshrink tanhshrink sigmoid logsigmoid tanh softplus softsign softmax log_softmax softmin glu
    prelu rrelu threshold
    sum nansum mean nanmean prod max min amax amin aminmax argmax argmin var std var_mean std_mean
    norm logsumexp cumsum cumprod cummax cummin logcumsumexp median nanmedian mode topk sort argsort
    kthvalue all any count_nonzero bincount histc
    exp exp2 expm1 log log2 log10 log1p sqrt rsqrt pow float_power square abs absolute neg negative
    reciprocal sin cos tan asin acos atan atan2 arcsin arccos arctan sinh cosh asinh acosh atanh
    erf erfc erfinv lgamma digamma clamp clip clamp_min clamp_max floor ceil round trunc frac sign
    sgn where lerp addcmul addcdiv add sub subtract mul multiply div divide true_divide floor_divide
    remainder fmod maximum minimum fmax fmin hypot logaddexp logaddexp2 xlogy sinc
    batch_norm layer_norm group_norm instance_norm local_response_norm normalize rms_norm
    max_pool1d max_pool2d max_pool3d avg_pool1d avg_pool2d avg_pool3d adaptive_max_pool1d
    adaptive_max_pool2d adaptive_max_pool3d adaptive_avg_pool1d adaptive_avg_pool2d
    adaptive_avg_pool3d lp_pool1d lp_pool2d max_unpool1d max_unpool2d max_unpool3d pixel_shuffle
    pixel_unshuffle interpolate upsample upsample_nearest upsample_bilinear grid_sample
    affine_grid pad dropout dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout
    embedding embedding_bag one_hot scaled_dot_product_attention multi_head_attention_forward
    cross_entropy nll_loss mse_loss l1_loss smooth_l1_loss huber_loss kl_div binary_cross_entropy
    binary_cross_entropy_with_logits cosine_similarity pairwise_distance pdist cdist
    triplet_margin_loss hinge_embedding_loss margin_ranking_loss cosine_embedding_loss
    soft_margin_loss multilabel_margin_loss multilabel_soft_margin_loss multi_margin_loss
    poisson_nll_loss gaussian_nll_loss ctc_loss
    cat concat concatenate stack hstack vstack dstack gather scatter scatter_add scatter_reduce
    index_select index_add index_copy index_fill index_put masked_select masked_fill masked_scatter
    take take_along_dim flip fliplr flipud roll rot90 tril triu diag diag_embed trace repeat
    repeat_interleave tile cross diff
    cholesky inverse det logdet slogdet svd qr solve lstsq eig eigh pinverse matrix_power
    matrix_exp fft ifft rfft irfft stft istft
""".split())

# Receivers whose compute functions are a fallback as well (torch paths are checked separately).
FALLBACK_LIBRARIES = ("numpy", "scipy", "cupy", "jax")

# Whole namespaces that only compute.
COMPUTE_PREFIXES = ("torch.nn.functional.", "torch.fft.", "torch.linalg.", "torch.special.",
                    "torch._refs.", "torch._prims.", "torch.sparse.")

# nn classes that only hold parameters or modules; any other nn.X is a layer that computes.
NN_HOLDERS = frozenset("Parameter ParameterList ParameterDict ModuleList ModuleDict Module Identity "
                       "Buffer UninitializedParameter".split())

FORBIDDEN_MODULES = {
    "builtins": "the interpreter's internals", "__builtin__": "the interpreter's internals",
    "ctypes": "raw memory and C functions", "cffi": "raw memory and C functions",
    "gc": "the interpreter's internals", "inspect": "the interpreter's internals",
    "importlib": "the import system", "imp": "the import system", "sys": "the interpreter's internals",
    "os": "processes, files and the environment", "posix": "processes, files and the environment",
    "subprocess": "processes", "signal": "signals", "atexit": "code that runs after the harness",
    "threading": "threads that escape the timed region", "_thread": "threads that escape the timed region",
    "multiprocessing": "processes", "concurrent": "threads and processes", "asyncio": "concurrency",
    "time": "the clock", "timeit": "the clock", "datetime": "the clock", "resource": "process limits",
    "pickle": "code hidden in data", "marshal": "code hidden in data", "dill": "code hidden in data",
    "cloudpickle": "code hidden in data", "code": "running code the checks cannot see",
    "codeop": "running code the checks cannot see", "runpy": "running code the checks cannot see",
    "types": "building code objects", "socket": "the network", "shutil": "files", "pathlib": "files",
    "io": "files", "tempfile": "files", "mmap": "raw memory", "pty": "processes",
    "faulthandler": "the interpreter's internals", "site": "the import system",
    "sysconfig": "the interpreter's internals", "torch.multiprocessing": "processes",
    "torch.distributed": "processes", "torch._C": "PyTorch's internals (dispatch, the harness's op audit)",
    "torch._dynamo": "compiling PyTorch code", "torch._inductor": "compiling PyTorch code",
    "torch._subclasses": "PyTorch's internals", "torch.utils._python_dispatch": "the harness's op audit",
    "torch.overrides": "PyTorch's dispatch", "torch._ops": "PyTorch's dispatch",
    "torch._guards": "PyTorch's internals", "torch.utils.benchmark": "the clock",
    "torch.fx": "tracing PyTorch code", "torch.jit": "compiling PyTorch code", "torch.compiler": "compiling PyTorch code",
}

# Attributes of torch.cuda (and torch) that escape the timed region or read the clock.
TIMING_ESCAPES = frozenset("Stream stream ExternalStream Event CUDAGraph graph graphs graph_pool_handle "
                           "make_graphed_callables set_stream streams _sleep".split())

# Methods through which a tensor subclass runs its own code on every operation.
TENSOR_HOOKS = frozenset(["__torch_function__", "__torch_dispatch__"])

DYNAMIC_NAMES = {
    "eval": "runs code the checks cannot see", "exec": "runs code the checks cannot see",
    "compile": "runs code the checks cannot see", "__import__": "imports modules the checks cannot see",
    "globals": "reaches the harness's objects", "locals": "reaches the harness's objects",
    "vars": "reaches the harness's objects", "open": "file I/O", "breakpoint": "stops the process",
    "input": "reads stdin",
}
DUNDER_ATTRIBUTES = frozenset("__dict__ __globals__ __code__ __builtins__ __subclasses__ __bases__ __mro__ "
                              "__class__ __closure__ __getattribute__ __setattr__ __delattr__ __import__ "
                              "__loader__ __spec__ __self__ __func__ __defaults__ __kwdefaults__ __wrapped__ "
                              "__torch_dispatch__ __torch_function__".split())
FILE_IO = frozenset(["torch.save", "torch.load", "torch.from_file", "numpy.save", "numpy.savez", "numpy.load",
                     "numpy.fromfile", "numpy.savetxt", "numpy.loadtxt", "numpy.memmap"])

REASONS = {
    "try_except": "try/except is not allowed: a kernel that fails must fail visibly, and the except branch "
                  "of a try around a custom kernel is where a fallback to PyTorch hides; remove the try statement",
    "torch_fallback": "ModelNew.forward (and what it calls) must compute with your own kernels (load_inline); "
                      "PyTorch may only allocate, reshape, view and move tensors there",
    "layer_call": "calling an nn layer runs PyTorch's implementation; keep the layer only to hold its "
                  "parameters (e.g. self.conv.weight) and compute with your own kernel",
    "torch_compile": "torch.compile, TorchScript and tracing compile the PyTorch computation itself; write "
                     "the kernel",
    "names_reference": "'Model' is the reference your ModelNew is compared with; do not subclass, import, "
                       "call or name it",
    "escapes_timing": "extra CUDA streams, events, graphs, threads or processes escape the harness's timing; "
                      "launch every kernel on the current stream inside forward",
    "monkey_patching": "changing attributes of modules or classes you did not define (torch, time, ...) can "
                       "fool the harness; modify only your own objects",
    "dynamic_code": "eval/exec, file I/O and the interpreter's internals are not allowed; compute in your own "
                    "kernels",
    "unchecked_source": "the sources passed to load_inline must be string literals (or names bound to string "
                        "literals at module level) so that kfoundry can check them",
    "missing_model_new": "the module must define class ModelNew(nn.Module) with the same constructor "
                         "arguments and forward signature as Model",
}


def dotted(node):
    """'a.b.c' for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class Linter:
    def __init__(self, source, allowed_ops):
        self.source = source
        self.lines = source.splitlines()
        self.allowed = set()
        for op in allowed_ops:
            name = op.split("::", 1)[-1].split(".", 1)[0]
            self.allowed.add(name)
        self.findings = []
        self.seen = set()
        self.sources = []
        self.aliases = {}     # local name -> dotted module path ("F" -> "torch.nn.functional")
        self.strings = {}     # module-level name -> value node (for load_inline sources)
        self.numbers = {}     # module-level name -> int/float (f-string sources)
        self.extensions = set()  # names bound to load_inline(...) results
        self.functions = {}   # module-level def name -> node
        self.classes = {}     # class name -> ClassDef

    # -- reporting
    def add(self, rule, node, why=None, line=None):
        line = line if line is not None else getattr(node, "lineno", 0)
        excerpt = ""
        if node is not None and 0 < line <= len(self.lines):
            seg = ast.get_source_segment(self.source, node) or self.lines[line - 1]
            excerpt = seg.strip().splitlines()[0][:100] if seg.strip() else ""
        key = (rule, line)  # one finding per rule and line is enough to act on
        if key in self.seen:
            return
        self.seen.add(key)
        base = REASONS.get(rule, "")
        reason = "%s: %s" % (why, base) if why and base else why or base
        self.findings.append({"rule": "torch_fallback" if rule == "layer_call" else rule, "line": line,
                              "excerpt": excerpt, "reason": reason})

    # -- name resolution
    def resolve(self, node):
        """The dotted path of a Name/Attribute chain with import aliases expanded, or None."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str):
            base = self.resolve(node.args[0])
            return base + "." + node.args[1].value if base else None
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return base + "." + node.attr if base else None
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        return None

    def is_allowed(self, name):
        return name in self.allowed or name.rstrip("_") in self.allowed

    def compute_path(self, path):
        """Why a resolved path is a PyTorch (or numpy) computation, or None."""
        root = path.split(".", 1)[0]
        last = path.rsplit(".", 1)[-1]
        if root in FALLBACK_LIBRARIES:
            return "'%s' computes outside your kernel" % path if last in COMPUTE_NAMES else None
        if root != "torch":
            return None
        if path.startswith("torch.ops."):
            parts = path.split(".")[3:]
            ops = [p for p in parts if p not in ("default", "Tensor", "Scalar", "out", "int", "dim")]
            if ops and not all(op in RUNTIME_ALLOWED_NAMES or self.is_allowed(op) for op in ops):
                return "'%s' calls a PyTorch operator" % path
            return None
        if any(path.startswith(p) for p in COMPUTE_PREFIXES):
            return None if self.is_allowed(last) else "'%s' is a PyTorch computation" % path
        name = last.rstrip("_") if last.endswith("_") and not last.startswith("_") else last
        if name in COMPUTE_NAMES and not self.is_allowed(name):
            return "'%s' is a PyTorch computation" % path
        return None

    # -- passes
    def run(self, tree):
        self.collect(tree)
        self.check_everywhere(tree)
        model_new = self.classes.get("ModelNew")
        if model_new is None:
            self.add("missing_model_new", None, line=0)
        else:
            self.check_forward(model_new)
        self.findings.sort(key=lambda f: f["line"])

    def collect(self, tree):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.check_import(a.name, node)
                    if a.asname:
                        self.aliases[a.asname] = a.name
                    else:
                        root = a.name.split(".", 1)[0]
                        self.aliases[root] = root
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    continue
                for a in node.names:
                    full = (node.module or "") + "." + a.name
                    self.check_import(full, node)
                    self.aliases[a.asname or a.name] = full
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if not isinstance(t, ast.Name):
                        continue
                    v = node.value
                    path = self.resolve(v)
                    if path and path.split(".", 1)[0] in ("torch",) + FALLBACK_LIBRARIES:
                        self.aliases[t.id] = path
                    if isinstance(v, ast.Constant) and isinstance(v.value, (int, float)) \
                            and not isinstance(v.value, bool):
                        self.numbers[t.id] = v.value
                    self.strings[t.id] = v
                    if self.is_load_inline(v):
                        self.extensions.add(t.id)

    def check_import(self, module, node):
        for banned, what in FORBIDDEN_MODULES.items():
            if module == banned or module.startswith(banned + "."):
                self.add("dynamic_code" if banned in ("builtins", "__builtin__") else "forbidden_import", node,
                         "importing '%s' is not allowed (%s); a candidate needs torch and "
                         "torch.utils.cpp_extension" % (module, what))
                return

    def is_load_inline(self, node):
        if not isinstance(node, ast.Call):
            return False
        path = self.resolve(node.func) or dotted(node.func) or ""
        return path.endswith("load_inline")

    def check_everywhere(self, tree):
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
                self.add("try_except", node, line=node.lineno)
            elif isinstance(node, ast.ClassDef):
                if node.name == "Model":
                    self.add("names_reference", node, line=node.lineno)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in TENSOR_HOOKS:
                self.add("dynamic_code", node, "defining '%s' makes tensors run your code wherever PyTorch "
                         "touches them (the harness, the op audit)" % node.name, line=node.lineno)
            elif isinstance(node, ast.Name):
                if node.id == "Model":
                    self.add("names_reference", node)
                elif node.id in DYNAMIC_NAMES and isinstance(node.ctx, ast.Load) and node.id not in self.aliases:
                    self.add("dynamic_code", node, "'%s' %s" % (node.id, DYNAMIC_NAMES[node.id]))
            elif isinstance(node, ast.alias):
                if node.name.rsplit(".", 1)[-1] == "Model" or node.asname == "Model":
                    self.add("names_reference", None, line=getattr(node, "lineno", 0))
            elif isinstance(node, ast.Constant) and node.value == "Model":
                self.add("names_reference", node)
            elif isinstance(node, ast.Attribute):
                self.check_attribute(node)
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                for t in targets:
                    self.check_store(t)
            elif isinstance(node, ast.Call):
                self.check_call(node)

    def check_attribute(self, node):
        if node.attr == "Model":
            self.add("names_reference", node)
        if node.attr in DUNDER_ATTRIBUTES:
            self.add("dynamic_code", node, "'%s' reaches interpreter internals" % node.attr)
        path = self.resolve(node)
        if not path:
            return
        for banned, what in FORBIDDEN_MODULES.items():
            if banned.startswith("torch.") and (path == banned or path.startswith(banned + ".")):
                if banned in ("torch.jit", "torch._dynamo", "torch._inductor", "torch.compiler", "torch.fx"):
                    self.add("torch_compile", node, "'%s'" % path)
                else:
                    self.add("forbidden_import", node, "'%s' is not allowed (%s)" % (path, what))
                return
        if path == "torch.compile":
            self.add("torch_compile", node, "'torch.compile'")
        elif path.startswith("torch.") and path.rsplit(".", 1)[-1] in TIMING_ESCAPES \
                and (path.startswith("torch.cuda.") or path in ("torch.Stream", "torch.Event")):
            self.add("escapes_timing", node, "'%s'" % path)
        elif path in FILE_IO or path.endswith(".tofile"):
            self.add("dynamic_code", node, "'%s' is file I/O" % path)

    def check_store(self, target):
        while isinstance(target, ast.Subscript):
            target = target.value
        if isinstance(target, ast.Attribute):
            base = target.value
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(base, ast.Name) and base.id in self.aliases:
                self.add("monkey_patching", target, "assigning to '%s'" % (dotted(target) or target.attr))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self.check_store(t)

    def check_call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Name) and first.id == "self"):
                self.add("monkey_patching", node, "'%s' on an object other than self" % node.func.id)
        path = self.resolve(node.func) or ""
        if path.endswith("cpp_extension.load") or path.endswith("cpp_extension.load_inline") \
                or self.is_load_inline(node):
            self.collect_sources(node, path)

    # -- load_inline sources
    def collect_sources(self, call, path):
        if not path.endswith("load_inline"):
            self.add("unchecked_source", call, "'%s' builds sources from files" % path)
            return
        params = ["name", "cpp_sources", "cuda_sources"]
        given = {}
        for i, arg in enumerate(call.args[:3]):
            given[params[i]] = arg
        for kw in call.keywords:
            if kw.arg in ("cpp_sources", "cuda_sources"):
                given[kw.arg] = kw.value
            elif kw.arg is None:
                self.add("unchecked_source", call, "load_inline(**kwargs)")
        for param, kind in (("cpp_sources", "cpp"), ("cuda_sources", "cuda")):
            if param not in given:
                continue
            pieces = self.resolve_strings(given[param], param, set())
            if pieces is None:
                self.add("unchecked_source", given[param], "%s of load_inline" % param)
                continue
            for name, line, text in pieces:
                self.sources.append({"kind": kind, "name": name, "line": line, "text": text})

    def resolve_strings(self, node, name, seen):
        """[(name, line, text)] for a source expression, or None when it cannot be known statically."""
        if isinstance(node, ast.Constant):
            if node.value is None:
                return []
            if isinstance(node.value, str):
                return [(name, node.lineno, node.value)]
            return None
        if isinstance(node, ast.Name):
            if node.id in seen or node.id not in self.strings:
                return None
            return self.resolve_strings(self.strings[node.id], node.id, seen | {node.id})
        if isinstance(node, (ast.List, ast.Tuple)):
            out = []
            for i, elt in enumerate(node.elts):
                got = self.resolve_strings(elt, "%s[%d]" % (name, i), seen)
                if got is None:
                    return None
                out += got
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = self.resolve_strings(node.left, name, seen)
            right = self.resolve_strings(node.right, name, seen)
            if left is None or right is None:
                return None
            # A list + list concatenates sources; str + str is one source.
            if isinstance(node.left, (ast.List, ast.Tuple)) or isinstance(node.right, (ast.List, ast.Tuple)):
                return left + right
            if len(left) == 1 and len(right) == 1:
                return [(name, left[0][1], left[0][2] + right[0][2])]
            return left + right
        if isinstance(node, ast.JoinedStr):
            text = ""
            for part in node.values:
                if isinstance(part, ast.Constant):
                    text += str(part.value)
                elif isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name) \
                        and part.value.id in self.numbers and part.format_spec is None:
                    text += str(self.numbers[part.value.id])
                elif isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Constant) \
                        and isinstance(part.value.value, (int, float)):
                    text += str(part.value.value)
                else:
                    return None
            return [(name, node.lineno, text)]
        return None

    # -- ModelNew.forward and everything it reaches
    def class_methods(self, cls):
        return {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}

    def layer_attributes(self, cls):
        """self.X = nn.Layer(...) (a PyTorch layer) and self.X = LocalClass(...) in the class's
        methods; self.X = load_inline(...) or = a module-level extension marks self.X as one."""
        layers, locals_ = {}, {}
        for node in ast.walk(cls):
            if not isinstance(node, ast.Assign):
                continue
            for t in node.targets:
                if not (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"):
                    continue
                if isinstance(node.value, ast.Name) and node.value.id in self.extensions:
                    self.extensions.add("self." + t.attr)
                if not isinstance(node.value, ast.Call):
                    continue
                path = self.resolve(node.value.func) or ""
                if path.startswith("torch.nn.") and path.rsplit(".", 1)[-1] not in NN_HOLDERS \
                        and path.rsplit(".", 1)[-1][:1].isupper():
                    layers[t.attr] = path
                elif isinstance(node.value.func, ast.Name) and node.value.func.id in self.classes:
                    locals_[t.attr] = node.value.func.id
                elif self.is_load_inline(node.value):
                    self.extensions.add("self." + t.attr)
        return layers, locals_

    def check_forward(self, model_new):
        queue = [("ModelNew", self.class_methods(model_new).get("forward"))]
        done = set()
        while queue:
            owner, fn = queue.pop()
            if fn is None or id(fn) in done:
                continue
            done.add(id(fn))
            cls = self.classes.get(owner) if owner else None
            methods = self.class_methods(cls) if cls is not None else {}
            layers, local_attrs = self.layer_attributes(cls) if cls is not None else ({}, {})
            for node in ast.walk(fn):
                if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult) or \
                        isinstance(node, ast.AugAssign) and isinstance(node.op, ast.MatMult):
                    self.add("torch_fallback", node, "the @ operator is PyTorch's matmul")
                elif isinstance(node, (ast.Attribute, ast.Name)) and isinstance(node.ctx, ast.Load):
                    path = self.resolve(node)
                    why = self.compute_path(path) if path else None
                    if why:
                        self.add("torch_fallback", node, why)
                elif isinstance(node, ast.Call):
                    if isinstance(node.func, ast.Call):
                        path = self.resolve(node.func)
                        why = self.compute_path(path) if path else None
                        if why:
                            self.add("torch_fallback", node, why)
                    self.follow_call(node, owner, methods, layers, local_attrs, queue)

    def follow_call(self, node, owner, methods, layers, local_attrs, queue):
        f = node.func
        if isinstance(f, ast.Name):
            if f.id in self.functions:
                queue.append((None, self.functions[f.id]))
            elif f.id in self.classes:
                cls = self.classes[f.id]
                queue.append((f.id, self.class_methods(cls).get("__init__")))
            return
        if not isinstance(f, ast.Attribute):
            return
        receiver = f.value
        # self.method(...), self.layer(...), self.layer.forward(...), self.local(...)
        if isinstance(receiver, ast.Name) and receiver.id == "self":
            if f.attr in methods:
                queue.append((owner, methods[f.attr]))
            if f.attr in layers:
                self.add("layer_call", node, "'self.%s(...)' runs %s" % (f.attr, layers[f.attr]))
            if f.attr in local_attrs:
                cls = self.classes[local_attrs[f.attr]]
                m = self.class_methods(cls)
                queue.append((local_attrs[f.attr], m.get("forward") or m.get("__call__")))
            return
        if isinstance(receiver, ast.Attribute) and isinstance(receiver.value, ast.Name) \
                and receiver.value.id == "self" and f.attr in ("forward", "__call__"):
            if receiver.attr in layers:
                self.add("layer_call", node, "'self.%s.%s(...)' runs %s" % (receiver.attr, f.attr,
                                                                             layers[receiver.attr]))
            return
        # LocalFunction.apply(...) (autograd.Function) and LocalClass.method(...)
        if isinstance(receiver, ast.Name) and receiver.id in self.classes:
            m = self.class_methods(self.classes[receiver.id])
            if f.attr == "apply":
                queue.append((receiver.id, m.get("forward")))
                queue.append((receiver.id, m.get("backward")))
            elif f.attr in m:
                queue.append((receiver.id, m[f.attr]))
            return
        # A method of something that is not a module: x.sum(), y.relu_(), ...
        if self.resolve(receiver) is not None:
            return  # module functions are checked by path
        name = dotted(receiver)
        if name in self.extensions or (name and name.split(".", 1)[0] in self.extensions):
            return
        method = f.attr
        base = method[:-1] if method.endswith("_") and not method.startswith("_") else method
        if base in COMPUTE_NAMES and not self.is_allowed(base):
            self.add("torch_fallback", node, "the tensor method '.%s()' is a PyTorch computation" % method)


def cmd_lint(plan, ch):
    path = plan["candidate"]
    with open(path, encoding="utf-8-sig") as f:  # a byte-order mark is not code
        source = f.read()
    try:
        tree = ast.parse(source, filename=os.path.basename(path))
    except SyntaxError as e:
        ch.event("failure", status="compile_error",
                 message="line %s: SyntaxError: %s" % (e.lineno, e.msg),
                 log="%s:%s:%s: %s\n%s" % (os.path.basename(path), e.lineno, e.offset, e.msg, (e.text or "").rstrip()))
        ch.done()
        return
    linter = Linter(source, plan.get("allowed_ops", []))
    linter.run(tree)
    for f in linter.findings:
        ch.event("finding", **f)
    for s in linter.sources:
        ch.event("source", **s)
    ch.done()


# ----------------------------------------------------------------------------------------------
# The runtime op audit: aten ops ModelNew.forward (and a backward task's backward pass) may run.
# Everything else means the candidate computed with PyTorch (however the call was reached:
# getattr, the reference module, at::matmul inside a C++ extension all go through the
# dispatcher). The *_backward names are the gradients of the allowed views (slicing, select),
# which only move data.

RUNTIME_ALLOWED_NAMES = frozenset("""
    empty empty_like empty_strided new_empty new_empty_strided zeros zeros_like new_zeros ones ones_like
    new_ones full full_like new_full scalar_tensor arange
    view _unsafe_view reshape _reshape_alias as_strided as_strided_ permute transpose transpose_ t t_
    expand expand_as squeeze squeeze_ unsqueeze unsqueeze_ select slice narrow flatten unflatten view_as
    alias detach detach_ split split_with_sizes unsafe_split chunk unbind movedim movedims swapaxes swapdims
    numpy_T unfold view_as_real view_as_complex lift lift_fresh lift_fresh_copy _conj _neg_view resolve_conj
    resolve_neg _efficientzerotensor contiguous clone copy_ _to_copy to _copy_from _copy_from_and_resize
    resize_ resize_as_ set_ _local_scalar_dense item fill_ zero_ fill is_same_size size stride sym_size
    sym_stride sym_numel sym_storage_offset is_contiguous _has_compatible_shallow_copy_type record_stream
    _pin_memory pin_memory is_pinned
    slice_backward select_backward unfold_backward as_strided_scatter
""".split())

AUDITED_NAMESPACES = ("aten", "prims", "quantized", "_quantized", "torchvision")


def cmd_probe(plan, ch):
    info = {"python": sys.version.split()[0], "executable": sys.executable}
    try:
        import torch
    except BaseException as e:  # noqa: BLE001 - any failure to import torch is the answer
        ch.event("probe", torch=None, error="%s: %s" % (type(e).__name__, e), **info)
        ch.done()
        return
    info["torch"] = torch.__version__
    info["has_compile"] = hasattr(torch, "compile")
    info["cuda_available"] = bool(torch.cuda.is_available())
    info["cuda_version"] = torch.version.cuda or ""
    if info["cuda_available"]:
        p = torch.cuda.get_device_properties(0)
        info["gpu_name"] = p.name
        info["gpu_capability"] = "%d.%d" % (p.major, p.minor)
    try:
        from torch.utils._python_dispatch import TorchDispatchMode  # noqa: F401
        info["dispatch_mode"] = True
    except ImportError:
        info["dispatch_mode"] = False
    ch.event("probe", **info)
    ch.done()


# ----------------------------------------------------------------------------------------------
# Everything below imports torch.


class Runtime:
    """torch, the device and every function the checks and timing use, captured before any
    candidate code is imported (a candidate that patches torch.cuda.Event or time.perf_counter
    patches objects this harness no longer looks at)."""

    def __init__(self, plan, ch):
        import ctypes
        import random
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode

        ch.phase("torch imported")

        if sys.byteorder != "little":
            raise SystemExit("kf_torch: tensors are exchanged little-endian; this machine is big-endian")
        self.torch = torch
        self.ctypes = ctypes
        self.random = random
        self.perf_counter = time.perf_counter
        self.device = torch.device(plan["device"])
        self.cuda = self.device.type == "cuda"
        self.clone = torch.Tensor.clone
        self.equal = torch.equal
        self.allclose = torch.allclose
        self.empty = torch.empty
        self.no_grad = torch.no_grad
        self.manual_seed = torch.manual_seed
        self.backward = torch.autograd.backward
        self.Tensor = torch.Tensor
        self.Parameter = torch.nn.Parameter
        self.sum = torch.sum
        self.from_file = torch.from_file
        self.libc = None
        if self.cuda:
            self.synchronize = torch.cuda.synchronize
            self.Event = torch.cuda.Event
            self.start_event = self.Event(enable_timing=True)
            self.stop_event = self.Event(enable_timing=True)
            props = torch.cuda.get_device_properties(self.device)
            cache_bytes = getattr(props, "L2_cache_size", 0) or (64 << 20)
            self.keep_bytes = props.total_memory // KEEP_FRACTION_GPU
        else:
            self.synchronize = lambda: None
            cache_bytes = last_level_cache_bytes()
            self.keep_bytes = KEEP_BYTES_CPU
            self.libc = tune_malloc(ctypes)
        # Reading twice the cache size evicts what the previous call left behind (reading, not
        # writing: dirty lines would be written back during the next timed call; as device_cuda.cu).
        self.flush_buffer = torch.zeros(2 * cache_bytes // 4, dtype=torch.float32, device=self.device)
        self.flush_sink = torch.zeros((), dtype=torch.float32, device=self.device)
        self.dispatch_mode = TorchDispatchMode
        self.allowed_ops = set(plan.get("allowed_ops", []))
        self.timing = plan.get("timing", {})
        self.flush_enabled = bool(self.timing.get("flush", True))
        ch.phase("device ready")
        # CUDA results travel as CUDA IPC handles (the checker copies them on the device) unless
        # the plan says otherwise or the checker could not open one; else through files.
        self.ipc = self.cuda and bool(plan.get("ipc", True))
        self.shared = []  # tensors whose handles are out, kept alive until the checker answers
        self.libcuda = None  # the driver library, for address ranges (loaded when first needed)

    def seed(self, s):
        s = int(s) & 0x7FFFFFFFFFFFFFFF
        self.random.seed(s)
        self.manual_seed(s)
        np = sys.modules.get("numpy")
        if np is not None:
            np.random.seed(s % (2 ** 32))

    # -- tensors handed from the run child to the checker, with (shape, dtype, device) in JSON:
    # on CUDA a CUDA IPC handle of a contiguous copy's storage (the checker copies it on the
    # device before it answers, while this process waits); otherwise, or when the checker cannot
    # open handles, raw bytes in a file of the exchange directory, written through a shared
    # mapping (one device-to-host copy, no Python bytes), removed by the checker once read.
    def export(self, value, directory, stem):
        if isinstance(value, self.Tensor):
            t = value.detach().resolve_conj().resolve_neg()
            if self.ipc and t.is_cuda and t.numel() > 0:
                try:
                    c = t.contiguous()
                    self.synchronize()  # the checker reads without waiting on this process's stream
                    _, handle, size, offset, ref, ref_offset, _, _ = c.untyped_storage()._share_cuda_()
                except Exception:  # noqa: BLE001 - no CUDA IPC here: files from now on
                    self.ipc = False
                else:
                    self.shared.append(c)
                    return {"t": "tensor", "shape": list(t.shape), "dtype": dtype_name(t.dtype), "device": "cuda",
                            "ipc": {"handle": handle.hex(), "size": size, "offset": offset,
                                    "ref": ref.decode("ascii", "replace"), "ref_offset": ref_offset,
                                    "element": c.storage_offset()}}
            name = stem + ".bin"
            path = os.path.join(directory, name)
            if t.numel() > 0:
                need = t.numel() * t.element_size()
                fs = os.statvfs(directory)
                if fs.f_bavail * fs.f_frsize < need + (64 << 20):
                    raise OSError("kfoundry's exchange directory %s has %d MiB free; this result needs %d MiB "
                                  "(set $KF_EXCHANGE_DIR to a larger file system)"
                                  % (directory, fs.f_bavail * fs.f_frsize >> 20, need >> 20))
                dst = self.from_file(path, shared=True, size=t.numel(), dtype=t.dtype)
                dst.view(t.shape).copy_(t)
                del dst
            else:
                open(path, "wb").close()
            return {"t": "tensor", "file": name, "shape": list(t.shape), "dtype": dtype_name(t.dtype),
                    "device": t.device.type}
        if value is None or isinstance(value, (bool, int, str)):
            return {"t": "value", "value": value}
        if isinstance(value, float):
            return {"t": "value", "value": value} if math.isfinite(value) else {"t": "float", "repr": repr(value)}
        if isinstance(value, (list, tuple)):
            return {"t": "list" if isinstance(value, list) else "tuple",
                    "items": [self.export(v, directory, "%s_%d" % (stem, i)) for i, v in enumerate(value)]}
        raise TypeError("cannot hand over a value of type %s" % type(value).__name__)

    def load(self, enc, directory):
        """A tensor the run child exported: a device copy of a CUDA IPC one, or the CPU contents
        of a file (then removed); ProtocolError when the record or the file does not add up,
        IpcUnavailable when a handle cannot be opened here."""
        torch = self.torch
        name, shape = enc.get("file"), enc.get("shape")
        dtype = getattr(torch, str(enc.get("dtype")), None)
        if not isinstance(dtype, torch.dtype) or not isinstance(shape, list) \
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ProtocolError("malformed tensor record %s" % trim(json.dumps(enc), 200))
        if "ipc" in enc:
            return self.open_ipc(enc["ipc"], dtype, shape)
        if not isinstance(name, str) or not EXCHANGE_NAME.fullmatch(name):
            raise ProtocolError("malformed tensor record %s" % trim(json.dumps(enc), 200))
        path = os.path.join(directory, name)
        numel = math.prod(shape)
        size = os.path.getsize(path)
        itemsize = torch.empty((), dtype=dtype).element_size()
        if size != numel * itemsize:
            raise ProtocolError("%s holds %d bytes, %s %s needs %d" % (name, size, enc["dtype"], shape,
                                                                      numel * itemsize))
        t = self.from_file(path, shared=False, size=numel, dtype=dtype) if numel else torch.empty(0, dtype=dtype)
        os.remove(path)
        return t.view(shape)

    def open_ipc(self, ipc, dtype, shape):
        """A device copy of the run child's tensor behind a CUDA IPC handle. Every field is
        checked first: the reference-count name and offset are where torch's deleter writes."""
        torch = self.torch
        if not self.ipc:
            raise ProtocolError("a CUDA IPC record after the checker asked for files")
        ints = ("size", "offset", "ref_offset", "element")
        if not isinstance(ipc, dict) or not isinstance(ipc.get("handle"), str) \
                or not IPC_HANDLE.fullmatch(ipc["handle"]) or not isinstance(ipc.get("ref"), str) \
                or not IPC_REF_NAME.fullmatch(ipc["ref"]) \
                or not all(isinstance(ipc.get(k), int) and not isinstance(ipc.get(k), bool) and ipc[k] >= 0
                           for k in ints) or ipc["ref_offset"] >= IPC_REF_SLOTS:
            # Files are the safe way: a record this checker does not understand asks for them.
            raise IpcUnavailable("malformed CUDA IPC record %s" % trim(json.dumps(ipc), 200))
        itemsize = torch.empty((), dtype=dtype).element_size()
        numel = math.prod(shape)
        if (ipc["element"] + numel) * itemsize > ipc["size"]:
            raise IpcUnavailable("a CUDA IPC record of %d bytes for %s %s" % (ipc["size"], dtype_name(dtype), shape))
        try:
            storage = torch.UntypedStorage._new_shared_cuda(
                self.device.index or 0, bytes.fromhex(ipc["handle"]), ipc["size"], ipc["offset"],
                ipc["ref"].encode("ascii"), ipc["ref_offset"], b"", False)  # the run child synchronized
        except Exception as e:  # noqa: BLE001
            raise IpcUnavailable("%s: %s" % (type(e).__name__, trim(e, 300)))
        # The record's numbers are the run child's word: what they address must lie inside the
        # allocation the handle opened, not in this process's own memory (the reference's
        # results) beyond it.
        ptr = storage.data_ptr()
        base, span = self.address_range(ptr)
        if base != ptr - ipc["offset"] or ptr + (ipc["element"] + numel) * itemsize > base + span:
            del storage
            raise IpcUnavailable("a CUDA IPC record that reaches outside the allocation of its handle")
        view = self.empty(0, dtype=dtype, device=self.device)
        view.set_(storage, ipc["element"], shape)  # contiguous
        copy = self.clone(view)
        self.synchronize()
        del view, storage  # the run child's block is released (its reference count goes down)
        return copy

    def address_range(self, ptr):
        """(base, size) of the device allocation holding ptr, from the driver
        (cuMemGetAddressRange); (None, 0) when the driver cannot say."""
        ctypes = self.ctypes
        if self.libcuda is None:
            try:
                self.libcuda = ctypes.CDLL("libcuda.so.1")
                self.libcuda.cuMemGetAddressRange_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64),
                                                                 ctypes.POINTER(ctypes.c_size_t), ctypes.c_uint64]
            except (OSError, AttributeError):
                self.libcuda = False
        if not self.libcuda:
            return None, 0
        base, size = ctypes.c_uint64(0), ctypes.c_size_t(0)
        if self.libcuda.cuMemGetAddressRange_v2(ctypes.byref(base), ctypes.byref(size), ctypes.c_uint64(ptr)) != 0:
            return None, 0
        return base.value, size.value

    def fresh(self, value):
        """A fresh copy of an input (nested lists and tuples kept)."""
        if isinstance(value, self.Tensor):
            return self.clone(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self.fresh(v) for v in value)
        return value

    def flatten(self, value):
        if isinstance(value, (list, tuple)):
            out = []
            for v in value:
                out += self.flatten(v)
            return out
        return [value]

    # -- poison: memory a kernel leaves unwritten must not happen to hold the right answer.
    # CUDA: blocks of the outputs' sizes are filled with NaN and freed, and the caching
    # allocator hands them out next. CPU (glibc): from poison() to end_poison() every malloc
    # returns memory filled with 0x7f bytes (M_PERTURB; 3.4e38 as float32, NaN as float16),
    # which the parent reports as never written; tune_malloc keeps large blocks on the heap
    # where this applies.
    def poison(self, specs):
        if not self.cuda:
            if self.libc is not None:
                self.libc.mallopt(M_PERTURB, 0x80)  # allocations are filled with 0x80 ^ 0xff
            return
        torch = self.torch
        blocks = []
        for dtype, numel in specs:
            for _ in range(2):
                b = self.empty(max(numel, 1), dtype=dtype, device=self.device)
                if dtype.is_floating_point:
                    b.fill_(float("nan"))
                else:
                    b.view(torch.uint8).fill_(0xA5)
                blocks.append(b)
                del b
        while blocks:
            blocks.pop()

    def end_poison(self):
        if not self.cuda and self.libc is not None:
            self.libc.mallopt(M_PERTURB, 0)

    def flush(self):
        if not self.flush_enabled:
            return 0.0
        t0 = self.perf_counter()
        self.sum(self.flush_buffer, 0, out=self.flush_sink)
        self.synchronize()
        return (self.perf_counter() - t0) * 1e3

    def timed_call(self, fn, args):
        """Milliseconds of one call. CUDA: events on the current stream, cross-checked with the
        host clock from before the start event to after the device is idle: when the host waited
        clearly longer, work ran elsewhere (another stream) and the host time counts."""
        if self.cuda:
            self.synchronize()
            h0 = self.perf_counter()
            self.start_event.record()
            out = fn(*args)
            self.stop_event.record()
            self.synchronize()
            host_ms = (self.perf_counter() - h0) * 1e3
            event_ms = self.start_event.elapsed_time(self.stop_event)
            return out, (host_ms if host_ms > 1.1 * event_ms + 0.05 else event_ms)
        h0 = self.perf_counter()
        out = fn(*args)
        return out, (self.perf_counter() - h0) * 1e3

    def time_loop(self, ch, config, fn, args, record=True):
        """Warm-up, then timed trials with a cache flush before each; (times, flush_ms)."""
        warmup = int(self.timing.get("warmup", 3))
        min_trials = int(self.timing.get("min_trials", 10))
        max_trials = int(self.timing.get("max_trials", 100))
        max_seconds = float(self.timing.get("max_seconds", 1.0))
        flush_ms = 0.0
        if record:
            ch.record("P w %d" % config)
        for _ in range(warmup):
            _, ms = self.timed_call(fn, args)
            if record:
                ch.record("W %d %.9g" % (config, ms))
        if record:
            ch.record("P t %d" % config)
        times = []
        start = self.perf_counter()
        while len(times) < max_trials:
            flush_ms += self.flush()
            _, ms = self.timed_call(fn, args)
            times.append(ms)
            if len(times) >= min_trials and self.perf_counter() - start > max_seconds:
                break
        return times, flush_ms


def last_level_cache_bytes():
    best = 0
    for i in range(8):
        try:
            with open("/sys/devices/system/cpu/cpu0/cache/index%d/size" % i) as f:
                text = f.read().strip()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text[:-1] if text[-1:] in "KMG" else text
        if digits.isdigit():
            best = max(best, int(digits) * scale)
    return best or (64 << 20)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_PERTURB = -1, -3, -6


def tune_malloc(ctypes):
    """glibc: serve blocks below 1 GiB from the heap (mmap'd blocks come back as fresh zero
    pages, which M_PERTURB does not fill) and keep freed memory. None where there is no glibc."""
    try:
        libc = ctypes.CDLL(None)
        if not libc.mallopt(M_MMAP_THRESHOLD, 1 << 30):
            libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # the largest some glibc versions accept
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
        return libc
    except (OSError, AttributeError):
        return None


def import_file(path, name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class ExtensionCache:
    """Wraps torch.utils.cpp_extension.load_inline: each extension builds in a directory named by
    the hash of everything that defines it, under a lock, once. Identical sources share one build
    across candidates; different ones never overwrite each other; a later process imports the
    built module directly (torch 1.13 rewrites its sources on every call and so rebuilds)."""

    def __init__(self, root):
        import fcntl
        import inspect
        import torch.utils.cpp_extension as cpp_extension

        self.root = root
        self.fcntl = fcntl
        self.original = cpp_extension.load_inline
        self.signature = inspect.signature(self.original)
        self.failure = None  # (name, log) of a build that failed
        os.makedirs(root, exist_ok=True)
        os.environ["TORCH_EXTENSIONS_DIR"] = root
        cpp_extension.load_inline = self.load_inline

    def load_inline(self, *args, **kwargs):
        bound = self.signature.bind(*args, **kwargs)
        arguments = dict(bound.arguments)
        key_fields = {k: v for k, v in arguments.items()
                      if k not in ("build_directory", "verbose", "keep_intermediates")}
        key = hashlib.sha256(json.dumps(key_fields, sort_keys=True, default=repr).encode()).hexdigest()[:24]
        name = str(arguments.get("name", "ext"))
        build_dir = os.path.join(self.root, "%s-%s" % ("".join(c if c.isalnum() or c == "_" else "_" for c in name),
                                                       key))
        os.makedirs(build_dir, exist_ok=True)
        marker = os.path.join(build_dir, "kf_built")
        with open(os.path.join(build_dir, "kf_lock"), "w") as lock:
            self.fcntl.flock(lock, self.fcntl.LOCK_EX)
            if arguments.get("is_python_module", True) and os.path.exists(marker):
                with open(marker) as f:
                    built = f.read().strip()
                if built and os.path.exists(built):
                    return import_file(built, os.path.basename(built).split(".", 1)[0])
            # A build killed while holding torch's own lock file leaves it behind; under this
            # lock nobody else is building here.
            stale = os.path.join(build_dir, "lock")
            if os.path.exists(stale):
                os.remove(stale)
            arguments["build_directory"] = build_dir
            try:
                module = self.original(**arguments)
            except BaseException as e:
                # Paths inside the cache say nothing to the reader: main.cpp:7:3 does.
                self.failure = (name, str(e).replace(build_dir + os.sep, ""))
                raise
            path = getattr(module, "__file__", "") or ""
            if path:
                with open(marker + ".tmp", "w") as f:
                    f.write(path)
                os.replace(marker + ".tmp", marker)
            return module


class OpAuditFactory:
    """Makes the TorchDispatchMode that records aten ops outside the allow-list."""

    def __init__(self, rt):
        # Task allowed_ops name ops as aten::sum (any overload) or aten::add.Tensor (one).
        allowed_names = set(RUNTIME_ALLOWED_NAMES)
        allowed = set()
        for op in rt.allowed_ops:
            namespace, _, rest = op.partition("::")
            if "." in rest:
                allowed.add(namespace + "." + rest)
            elif namespace == "aten":
                allowed_names.add(rest)
            else:
                allowed.add(namespace + "." + rest)
        base = rt.dispatch_mode

        class OpAudit(base):
            def __init__(self):
                super().__init__()
                self.forbidden = {}

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                full = str(func)  # "aten.mm.default"
                packet = str(getattr(func, "overloadpacket", full))  # "aten.mm"
                namespace, _, short = packet.partition(".")
                if namespace in AUDITED_NAMESPACES and short not in allowed_names \
                        and packet not in allowed and full not in allowed:
                    op = namespace + "::" + short
                    self.forbidden[op] = self.forbidden.get(op, 0) + 1
                return func(*args, **(kwargs or {}))

        self.make = OpAudit


# ----------------------------------------------------------------------------------------------
# What the baseline, the checker and the run child share: every one of them makes a
# configuration's model and each trial's inputs from the plan's seeds the same way, so the
# inputs are never stored: each process makes its own, identical copies.

# Tensors kept alive across calls (run child: input sets, and results; checker: the reference's
# results) up to this many bytes each per configuration; past it they are made again when needed.
# On a GPU, a fifth of its memory each (the run child's two and the checker's one leave the
# candidate two fifths); on the CPU a fixed amount.
KEEP_BYTES_CPU = 4 << 30
KEEP_FRACTION_GPU = 5

EXCHANGE_NAME = re.compile(r"[A-Za-z0-9_]{1,120}\.bin")
IPC_HANDLE = re.compile(r"(?:[0-9a-f]{2}){1,256}")
IPC_REF_NAME = re.compile(r"/torch_[0-9]{1,10}_[0-9]{1,20}_[0-9]{1,20}")  # at::NewProcessWideShmHandle
IPC_REF_SLOTS = 10000  # torch::CUDA_IPC_REF_COUNTER_FILE_SIZE


class IpcUnavailable(Exception):
    """The checker cannot open the run child's CUDA IPC handles; results come as files."""


class ProtocolError(Exception):
    """The run child's record does not add up: its verdict is a runtime error."""


class CandidateFailed(Exception):
    pass


class ReferenceFailed(Exception):
    """The reference raised while the checker made its results: the task's fault."""


def dtype_name(dtype):
    return str(dtype).replace("torch.", "")


def tensor_bytes(rt, values):
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, rt.Tensor))


def import_reference(plan):
    return import_file(plan["reference"], "kf_reference")


def make_model(rt, cls, get_init_inputs, cfg):
    rt.seed(cfg["model_seed"])
    init = list(get_init_inputs(**cfg["init"]))
    rt.seed(cfg["model_seed"])
    return cls(*init).to(rt.device)


def make_inputs(rt, get_inputs, cfg, t):
    """The inputs of trial t. On a GPU, get_inputs() runs with the GPU as the default device, so
    torch.rand and the like fill the tensors there (KernelBench's multi-GiB inputs take seconds
    each on one CPU core); one that cannot (it converts through numpy, say) runs on the CPU. Every
    process takes the same path, so the inputs are the same everywhere."""
    torch = rt.torch
    if rt.cuda and hasattr(torch.device, "__enter__"):
        rt.seed(cfg["trial_seeds"][t])
        try:
            with rt.device:
                return [to_device(torch, x, rt.device) for x in get_inputs(**cfg["inputs"])]
        except Exception:  # noqa: BLE001 - made on the CPU instead, the same way in every process
            pass
    rt.seed(cfg["trial_seeds"][t])
    return [to_device(torch, x, rt.device) for x in get_inputs(**cfg["inputs"])]


def make_grad_outputs(rt, outs, cfg, t):
    """The upstream gradients of a backward trial: one normal tensor per floating output."""
    torch = rt.torch
    rt.seed(cfg["trial_seeds"][t] ^ 0x5EED)
    return [torch.randn_like(o) if isinstance(o, torch.Tensor) and o.is_floating_point() else None for o in outs]


def call_with_backward(rt, fn, model, args, cfg, t, audit=None, flatten=None):
    """fn(model, args) with gradients of every floating input and parameter; (outs, grads).
    The backward pass runs under `audit` (a dispatch mode) when one is given; `flatten` turns
    the result into a list (rt.flatten by default)."""
    torch = rt.torch
    args = [leaf(torch, a) for a in args]
    model.zero_grad(set_to_none=True)
    outs = (flatten or rt.flatten)(fn(model, args))
    grad_outs = make_grad_outputs(rt, outs, cfg, t)
    pairs = [(o, g) for o, g in zip(outs, grad_outs)
             if g is not None and isinstance(o, torch.Tensor) and o.requires_grad]
    if pairs:
        with audit if audit is not None else contextlib.nullcontext():
            rt.backward([o for o, _ in pairs], [g for _, g in pairs])
    return outs, gradients(rt, args, model)


def to_device(torch, x, device):
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, (list, tuple)):
        return type(x)(to_device(torch, v, device) for v in x)
    return x


def leaf(torch, x):
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.detach().requires_grad_(True)
    return x


def gradients(rt, args, model):
    """[(what, gradient or None)]: every floating input, then every parameter, in order."""
    torch = rt.torch
    out = [("input %d" % i, a.grad) for i, a in enumerate(args)
           if isinstance(a, torch.Tensor) and a.is_floating_point()]
    return out + [("parameter %s" % name, p.grad) for name, p in model.named_parameters()]


class BoundedCache:
    """Per-key tensors kept while their total stays under the runtime's keep_bytes."""

    def __init__(self, rt):
        self.rt = rt
        self.items = {}
        self.bytes = 0

    def get(self, key):
        return self.items.get(key)

    def put(self, key, value, tensors):
        size = tensor_bytes(self.rt, tensors)
        if self.bytes + size <= self.rt.keep_bytes:
            self.items[key] = value
            self.bytes += size


# ----------------------------------------------------------------------------------------------
# warm: trusted code only, once per task before any candidate is judged. Runs Model once per
# configuration (a reference that fails is the task's fault, found first) and compiles it with
# torch.compile, timing nothing: kfoundry runs it while candidates compile, so torch.compile's
# work lands in its cache (TORCHINDUCTOR_CACHE_DIR) and the checker, which times the baseline
# alone on the device, loads compiled code instead of compiling.


def cmd_warm(plan, ch):
    rt = Runtime(plan, ch)
    torch = rt.torch
    ref = import_reference(plan)
    # Warm-ups of a suite's tasks share the device with each other: running out of its memory
    # here says nothing about the reference, which the checker runs again alone.
    oom = tuple(k for k in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None))
                if k is not None)
    for c, cfg in enumerate(plan["configs"]):
        try:
            model = make_model(rt, ref.Model, ref.get_init_inputs, cfg)
            ch.record("P c %d 0" % c)
            inputs = make_inputs(rt, ref.get_inputs, cfg, 0)
            if plan.get("backward"):
                call_with_backward(rt, lambda m, a: m(*a), model, inputs, cfg, 0)
            else:
                with rt.no_grad():
                    model(*inputs)
            rt.synchronize()
        except oom as e:
            model = inputs = None
            ch.event("warm_skipped", config=c, reason=trim(e, 300))
            continue
        if plan.get("compile_baseline"):
            compile_model(rt, ch, c, model, inputs)
        ch.phase("config %d compiled" % c)
        del model, inputs
    ch.done()


def compile_model(rt, ch, c, model, inputs):
    """torch.compile(model), compiled by a first call; None after saying why it is missing."""
    torch = rt.torch
    if not hasattr(torch, "compile"):
        ch.event("compile_unavailable", config=c, reason="torch %s has no torch.compile" % torch.__version__)
        return None
    try:
        compiled = torch.compile(model)
        with torch.no_grad():
            compiled(*inputs)
        rt.synchronize()
        return compiled
    except Exception as e:  # noqa: BLE001 - the baseline is optional; say why it is missing
        ch.event("compile_unavailable", config=c, reason="torch.compile(Model) failed: %s: %s"
                 % (type(e).__name__, trim(e, 400)))
        return None


# ----------------------------------------------------------------------------------------------
# The link between the run child and the checker: two FIFOs the parent made in the exchange
# directory, one JSON object per line each way. The run child asks, the checker answers; the
# run child waits for each answer, so it never runs ahead of a verdict and the checker reads
# every file before the run child can write the next one.


class Link:
    def __init__(self, send_path, receive_path, sender):
        # Opened in the same order on both sides (requests, then replies), so neither blocks
        # forever while the other is alive; a side that dies closes its ends and the other
        # reads end-of-file.
        if sender:
            self.out_fd = os.open(send_path, os.O_WRONLY)
            self.in_fd = os.open(receive_path, os.O_RDONLY)
        else:
            self.in_fd = os.open(receive_path, os.O_RDONLY)
            self.out_fd = os.open(send_path, os.O_WRONLY)
        self.buffer = b""

    def send(self, obj):
        data = (json.dumps(obj, separators=(",", ":"), allow_nan=False) + "\n").encode()
        while data:
            data = data[os.write(self.out_fd, data):]

    def receive(self):
        """The next object, or None at end-of-file."""
        while b"\n" not in self.buffer:
            chunk = os.read(self.in_fd, 1 << 16)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


# ----------------------------------------------------------------------------------------------
# check: trusted code only. For every call the run child reports, the reference's outputs (and
# gradients) for the same configuration and trial, made here from the same seeds, compared with
# the candidate's on this process's device. A verdict goes to the parent on the result channel
# before the run child is told to go on.

# The bytes an element holds when the kernel never wrote it: NaN fills on CUDA (canonical quiet
# NaN, 0xA5 for integers), glibc's perturbation on the CPU (0x7f in every byte).
CUDA_POISON = {"float32": b"\x00\x00\xc0\x7f", "float64": b"\x00\x00\x00\x00\x00\x00\xf8\x7f",
               "float16": b"\x00\x7e", "bfloat16": b"\xc0\x7f"}
COMPARED_DTYPES = frozenset("float32 float64 float16 bfloat16 int8 int16 int32 int64 uint8 bool".split())
CHUNK = 1 << 25


def compare_tensors(rt, expected, actual, tol, run_device):
    """The native backends' allclose (eval/compare.cc) for COMPARED_DTYPES: |a - e| <= atol +
    rtol |e| where the reference is finite (NaN/Inf there fail as non-finite), exact match where
    it is not; None when every element passes, else the mismatch report. Chunked on this
    process's device."""
    torch = rt.torch
    name = dtype_name(expected.dtype)
    e_flat, a_flat = expected.reshape(-1), actual.reshape(-1)
    n = e_flat.numel()
    atol, rtol = float(tol["atol"]), float(tol["rtol"])
    bad_count, first, max_abs, max_rel = 0, -1, 0.0, 0.0
    for s in range(0, n, CHUNK):
        e = e_flat[s:s + CHUNK].to(rt.device).double()
        a = a_flat[s:s + CHUNK].to(rt.device).double()
        fin_e, fin_a = torch.isfinite(e), torch.isfinite(a)
        err = (a - e).abs()
        both = fin_e & fin_a
        good = both & (err <= atol + rtol * e.abs())
        good |= ~fin_e & torch.where(torch.isnan(e), torch.isnan(a), a == e)
        if bool(both.any()):
            max_abs = max(max_abs, float(torch.where(both, err, torch.zeros_like(err)).max()))
            rel_ok = both & (e != 0)
            if bool(rel_ok.any()):
                rel = torch.where(rel_ok, err / torch.where(rel_ok, e.abs(), torch.ones_like(e)), torch.zeros_like(e))
                max_rel = max(max_rel, float(rel.max()))
        bad = ~good
        count = int(bad.sum())
        if count and first < 0:
            first = s + int(torch.argmax(bad.to(torch.uint8)))
        bad_count += count
    if bad_count == 0:
        return None
    ev, av = float(e_flat[first]), float(a_flat[first])
    kind = "value" if math.isfinite(ev) and math.isfinite(av) else "nonfinite"
    raw = bytes(a_flat[first:first + 1].contiguous().view(torch.uint8).tolist())
    if run_device == "cpu":
        unwritten = raw == b"\x7f" * len(raw)
    else:
        unwritten = raw == CUDA_POISON.get(name, b"\xa5" * len(raw))
    return {"bad_count": bad_count, "total": n, "first_bad_index": first, "expected": repr(ev), "actual": repr(av),
            "max_abs_error": repr(max_abs), "max_rel_error": repr(max_rel),
            "kind": "unwritten" if unwritten else kind}


class Checker:
    def __init__(self, plan, ch):
        self.rt = Runtime(plan, ch)
        self.ch = ch
        self.plan = plan
        self.configs = plan["configs"]
        self.ref = import_reference(plan)
        self.trials = int(plan["trials"])
        self.backward = bool(plan.get("backward"))
        self.tol = plan.get("tolerance", {"atol": 1e-5, "rtol": 1e-5})
        self.dir = plan.get("exchange_dir", "")  # none when it only times the baseline
        self.config = -1
        self.model = None
        self.results = None
        self.started = False  # the run child's "start" came
        self.ready = None    # (config, baseline parts) made before the run child asked to start
        self.pending = None  # the reference's failure while they were made

    def reference(self, c, t):
        """(outs, grads) of Model for configuration c, trial t: cached within keep_bytes."""
        rt = self.rt
        if c != self.config:
            self.model = None
            self.results = BoundedCache(rt)
            try:
                self.model = make_model(rt, self.ref.Model, self.ref.get_init_inputs, self.configs[c])
            except Exception as e:  # noqa: BLE001
                raise ReferenceFailed("constructing Model for config %s raised %s: %s"
                                      % (self.configs[c]["label"], type(e).__name__, trim(e, 600)))
            self.config = c
        got = self.results.get(t)
        if got is not None:
            return got
        try:
            return self.run_reference(c, t)
        except Exception as e:  # noqa: BLE001 - whatever the reference raises is the task's problem
            import traceback
            raise ReferenceFailed("the reference raised %s: %s (config %s, trial %d)\n%s"
                                  % (type(e).__name__, trim(e, 600), self.configs[c]["label"], t,
                                     trim("".join(traceback.format_exception(type(e), e, e.__traceback__)), 8000)))

    def run_reference(self, c, t):
        rt, torch = self.rt, self.rt.torch
        cfg = self.configs[c]
        inputs = make_inputs(rt, self.ref.get_inputs, cfg, t)
        if self.backward:
            outs, grads = call_with_backward(rt, lambda m, a: m(*a), self.model, inputs, cfg, t)
            grads = [(what, g.detach() if g is not None else None) for what, g in grads]
            outs = [o.detach() if isinstance(o, torch.Tensor) else o for o in outs]
        else:
            with torch.no_grad():
                outs = rt.flatten(self.model(*inputs))
            grads = None
        rt.synchronize()
        del inputs
        value = (outs, grads)
        self.results.put(t, value, list(outs) + [g for _, g in grads or []])
        return value

    def baseline_parts(self, c):
        """(model, inputs, compiled or None) of config c for timing the baseline: the reference
        built and checked once more, the first trial's inputs, torch.compile(Model) compiled."""
        if self.ready is not None and self.ready[0] == c:
            parts, self.ready = self.ready[1], None
            return parts
        cfg = self.configs[c]
        self.reference(c, 0)
        model = self.model
        try:
            inputs = make_inputs(self.rt, self.ref.get_inputs, cfg, 0)
        except Exception as e:  # noqa: BLE001
            raise ReferenceFailed("get_inputs raised %s: %s (config %s)" % (type(e).__name__, trim(e, 600),
                                                                          cfg["label"]))
        compiled = compile_model(self.rt, self.ch, c, model, inputs) if self.plan.get("compile_baseline") else None
        return model, inputs, compiled

    def prepare_baseline(self):
        """The first configuration's parts, made (and torch.compile's work done) before the run
        child asks to start: it is still importing torch, and nothing is timed yet."""
        try:
            self.ready = (0, self.baseline_parts(0))
        except ReferenceFailed as e:
            self.pending = e  # reported when the run child asks to start
        self.ch.phase("baseline prepared")

    def time_baseline(self):
        """Eager Model's and torch.compile(Model)'s times per configuration, on the first trial's
        inputs, while the run child waits for the answer to its "start" (it has not imported the
        candidate yet): nothing else runs on the device."""
        rt, ch = self.rt, self.ch
        if self.pending is not None:
            raise self.pending
        for c, cfg in enumerate(self.configs):
            model, inputs, compiled = self.baseline_parts(c)
            try:
                with rt.no_grad():
                    times, _ = rt.time_loop(ch, c, model, inputs)
            except Exception as e:  # noqa: BLE001
                raise ReferenceFailed("timing the reference raised %s: %s (config %s)"
                                      % (type(e).__name__, trim(e, 600), cfg["label"]))
            ch.record("T %d %d %s" % (c, len(times), " ".join("%.9g" % x for x in times)))
            if compiled is not None:
                try:
                    with rt.no_grad():
                        times, _ = rt.time_loop(ch, c, compiled, inputs, record=False)
                    ch.event("compile_times", config=c, times=times)
                except Exception as e:  # noqa: BLE001 - the torch.compile baseline is optional
                    ch.event("compile_unavailable", config=c, reason="timing torch.compile(Model) failed: %s: %s"
                             % (type(e).__name__, trim(e, 400)))
            del model, inputs, compiled
        if rt.cuda:  # what timing the baseline kept is the run child's to use now
            dynamo = sys.modules.get("torch._dynamo")
            if dynamo is not None:
                with contextlib.suppress(Exception):
                    dynamo.reset()
            rt.torch.cuda.empty_cache()
        ch.phase("baseline timed")

    def specs(self, c):
        outs, _ = self.reference(c, 0)
        return [{"dtype": dtype_name(o.dtype), "numel": o.numel()} for o in outs if isinstance(o, self.rt.Tensor)]

    def compare(self, what, expected, enc, c, t, when):
        """None when the candidate's value matches, else (status, message or None, mismatch)."""
        rt = self.rt
        label = self.configs[c]["label"]
        where = "%s on config %s (%s)" % (what, label, when)
        kind = enc.get("t") if isinstance(enc, dict) else None
        if not isinstance(expected, rt.Tensor) or kind != "tensor":
            want = rt.export(expected, self.dir, "unused") if not isinstance(expected, rt.Tensor) else None
            if want is None or kind != want["t"]:
                return ("wrong_shape", "%s: Model returns a %s, ModelNew a %s"
                        % (where, "tensor" if want is None else want["t"], kind), None)
            if want != enc:
                return ("wrong_value", "%s: expected %s, got %s" % (where, json.dumps(want), trim(json.dumps(enc), 200)),
                        None)
            return None
        device = self.plan["device"]
        if enc.get("device") != expected.device.type:
            return ("wrong_shape", "%s: Model returns a %s tensor, ModelNew a %s tensor"
                    % (where, expected.device.type, enc.get("device")), None)
        want_dtype, want_shape = dtype_name(expected.dtype), list(expected.shape)
        if enc.get("dtype") != want_dtype or enc.get("shape") != want_shape:
            return ("wrong_shape", "%s: expected %s %s, got %s %s" % (where, want_dtype, shape_text(want_shape),
                                                                    enc.get("dtype"), shape_text(enc.get("shape"))),
                    None)
        actual = rt.load(enc, self.dir)
        if want_dtype not in COMPARED_DTYPES:  # complex and the like: exact bytes
            same = expected.detach().reshape(-1).cpu().contiguous().view(rt.torch.uint8).equal(
                actual.reshape(-1).cpu().contiguous().view(rt.torch.uint8))
            return None if same else ("wrong_value", "%s: %s differs from the reference (compared bytewise)"
                                      % (where, want_dtype), None)
        mismatch = compare_tensors(rt, expected.detach(), actual, self.tol, device)
        if mismatch is None:
            return None
        mismatch["what"] = what
        mismatch["shape"] = want_shape
        return ("wrong_value", None, mismatch)

    def check_call(self, msg):
        c, t, pass_name = msg["config"], msg["trial"], msg["pass"]
        if not (0 <= c < len(self.configs)) or not (0 <= t <= self.trials) \
                or pass_name not in ("first", "second", "after", "timed", "recheck"):
            raise ProtocolError("a call of an unknown trial")
        outs, grads = self.reference(c, t)
        when = "the after-timing check" if pass_name == "after" else \
            "timed call %d" % msg.get("call", 0) if pass_name == "timed" else \
            "trial %d, %s call, checked again after the last call" % (t, msg.get("of")) if pass_name == "recheck" else \
            "trial %d, %s call" % (t, pass_name)
        values = msg["values"]
        label = self.configs[c]["label"]
        if len(values) != len(outs):
            return ("wrong_shape", "ModelNew.forward returned %d value%s on config %s, Model.forward returns %d"
                    % (len(values), "" if len(values) == 1 else "s", label, len(outs)), None)
        for i, (o, enc) in enumerate(zip(outs, values)):
            bad = self.compare("output" if len(outs) == 1 else "output %d" % i, o, enc, c, t, when)
            if bad:
                return bad
        if not self.backward or pass_name in ("after", "timed"):
            return None
        got = msg.get("grads")
        if not isinstance(got, list) or len(got) != len(grads):
            return ("wrong_shape", "ModelNew has %d gradients (floating inputs and parameters) on config %s, Model "
                    "has %d: create the same parameters in the same order"
                    % (len(got) if isinstance(got, list) else 0, label, len(grads)), None)
        for (what, g), enc in zip(grads, got):
            bad = self.compare("gradient of " + what, g, enc.get("value") if isinstance(enc, dict) else None,
                               c, t, when)
            if bad:
                return bad
        return None

    def check_mutation(self, msg):
        c, t, i = msg["config"], msg["trial"], msg["input"]
        if not (0 <= c < len(self.configs)) or not (0 <= t <= self.trials):
            raise ProtocolError("a mutation of an unknown trial")
        rt = self.rt
        before = make_inputs(rt, self.ref.get_inputs, self.configs[c], t)
        if not (0 <= i < len(before)) or not isinstance(before[i], rt.Tensor):
            raise ProtocolError("a mutation of an unknown input")
        enc = msg["tensor"]
        original = before[i].detach()
        if enc.get("dtype") != dtype_name(original.dtype) or enc.get("shape") != list(original.shape):
            return ("wrong_value", "input %d was modified by ModelNew.forward on config %s (trial %d); inputs are "
                    "read-only" % (i, self.configs[c]["label"], t), None)
        was = original.reshape(-1).contiguous()
        now = rt.load(enc, self.dir).reshape(-1).to(was.device)
        if was.numel() == 0:
            return None
        changed = (was.view(rt.torch.uint8).reshape(was.numel(), -1)
                   != now.contiguous().view(rt.torch.uint8).reshape(now.numel(), -1)).any(dim=1)
        count = int(changed.sum())
        if count == 0:
            return None  # NaN inputs compare unequal in torch.equal but not bytewise
        first = int(rt.torch.argmax(changed.to(rt.torch.uint8)))
        return ("wrong_value", None, {"what": str(i), "kind": "input_mutated", "bad_count": count,
                                      "total": was.numel(), "first_bad_index": first,
                                      "shape": list(original.shape),
                                      "expected": repr(float(was[first])), "actual": repr(float(now[first])),
                                      "max_abs_error": "0", "max_rel_error": "0"})


def shape_text(shape):
    return "[%s]" % ", ".join(str(d) for d in shape) if isinstance(shape, list) else str(shape)


def cmd_check(plan, ch):
    try:  # no other process of this user may trace this one or read its memory (PR_SET_DUMPABLE)
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if plan.get("baseline_only"):  # when a task's evaluator is made, before any candidate exists
        checker = Checker(plan, ch)
        try:
            checker.prepare_baseline()
            checker.time_baseline()
        except ReferenceFailed as e:
            ch.event("failure", message=str(e).split("\n", 1)[0], log=str(e))
        ch.done()
        return
    if plan.get("gated"):
        wait_for_gate(plan, ch)
    # The link first: the run child goes on (starts CUDA, imports the reference) while this
    # process prepares the baseline.
    link = Link(plan["replies"], plan["requests"], sender=False)
    checker = Checker(plan, ch)
    if plan.get("baseline"):
        checker.prepare_baseline()
    try:
        serve(checker, link, ch)
    except BrokenPipeError:
        pass  # the run child is gone (ended, or killed at its time limit): nothing left to answer
    ch.done()


def wait_for_gate(plan, ch):
    """Started ahead of time, while another candidate is measured: imports what takes long
    without touching the device, then waits for kfoundry's "go" on stdin."""
    import torch  # noqa: F401
    if plan.get("baseline") and plan.get("compile_baseline"):
        with contextlib.suppress(Exception):
            import torch._dynamo  # noqa: F401
            import torch._inductor.compile_fx  # noqa: F401
    ch.phase("waiting")
    if sys.stdin.buffer.readline() != b"go\n":
        raise SystemExit("kf_torch: the gate closed without a go")
    ch.phase("let go")


def serve(checker, link, ch):
    import traceback
    while True:
        try:
            msg = link.receive()
        except ValueError as e:  # not JSON
            msg = {"kind": "malformed: %s" % e}
        if msg is None:
            break
        if not isinstance(msg, dict):
            msg = {"kind": "malformed: not an object"}
        kind = msg.get("kind")
        try:
            if kind == "start":  # the run child's first request, and only that
                if checker.started:
                    raise ProtocolError("a second start")
                checker.started = True
                if checker.plan.get("baseline"):
                    checker.time_baseline()
                link.send({"ok": True})
                continue
            if not checker.started:
                raise ProtocolError("a request before start")
            if kind == "config":
                link.send({"ok": True, "specs": checker.specs(int(msg["config"]))})
                continue
            if kind not in ("call", "mutated"):
                raise ProtocolError("unknown request %s" % trim(json.dumps(msg), 120))
            bad = checker.check_call(msg) if kind == "call" else checker.check_mutation(msg)
        except IpcUnavailable as e:
            checker.rt.ipc = False  # a later IPC record is malformed
            ch.event("ipc_unavailable", reason=str(e))
            link.send({"ok": False, "files": True})
            continue
        except ReferenceFailed as e:
            ch.event("failure", message=str(e).split("\n", 1)[0], log=str(e))
            link.send({"ok": False})
            break
        except (ProtocolError, KeyError, TypeError, ValueError, IndexError) as e:
            ch.event("mismatch", config=-1, trial=-1, status="runtime_error",
                     message="the run child's report to the checker was malformed: %s: %s" % (type(e).__name__, e))
            link.send({"ok": False})
            break
        except Exception as e:  # noqa: BLE001 - the comparison itself failed (out of memory, ...)
            ch.event("mismatch", config=-1, trial=-1, status="runtime_error",
                     message="the checker could not compare the results: %s: %s" % (type(e).__name__, trim(e, 600)),
                     log=trim("".join(traceback.format_exception(type(e), e, e.__traceback__)), 8000))
            link.send({"ok": False})
            break
        where = {"config": msg["config"], "trial": msg["trial"], "pass": msg.get("pass", "mutated"),
                 "call": msg.get("call", 0), "of": msg.get("of", "")}
        if bad is None:
            ch.event("checked", **where)
            link.send({"ok": True})
            # The reference's next results while the run child makes its next call.
            if kind == "call" and msg.get("pass") in ("first", "second") and msg["trial"] + 1 < checker.trials:
                try:
                    checker.reference(msg["config"], msg["trial"] + 1)
                except ReferenceFailed:
                    pass  # reported when that trial is asked for
            continue
        status, message, mismatch = bad
        ch.event("mismatch", status=status, message=message, mismatch=mismatch, **where)
        link.send({"ok": False})
        break


# ----------------------------------------------------------------------------------------------
# build and run: candidate code from here on.


def import_candidate(plan, ch):
    """The candidate module, or None after reporting why it could not be imported."""
    cache = ExtensionCache(plan["extensions_dir"])
    import traceback
    try:
        module = import_file(plan["candidate"], "kf_candidate")
    except BaseException as e:  # noqa: BLE001 - whatever the candidate raises is its verdict
        if cache.failure is not None:
            name, log = cache.failure
            first = first_error_line(log)
            ch.event("failure", status="compile_error",
                     message="load_inline could not build extension '%s'%s" % (name, ": " + first if first else ""),
                     log=trim(log, 60000))
        else:
            ch.event("failure", status=plan.get("import_status", "compile_error"),
                     message="importing the candidate raised %s: %s" % (type(e).__name__, trim(e, 500)),
                     log=trim("".join(traceback.format_exception(type(e), e, e.__traceback__)), 8000))
        return None
    if not isinstance(getattr(module, "ModelNew", None), type):
        ch.event("failure", status="compile_error", message="the candidate defines no class ModelNew",
                 log="")
        return None
    return module


def first_error_line(log):
    for line in str(log).splitlines():
        if "error" in line.lower() and ("error:" in line or "Error" in line) and "Error building" not in line:
            return line.strip()[:300]
    return ""


def cmd_build(plan, ch):
    import torch  # noqa: F401 - load_inline needs torch loaded first
    if import_candidate(plan, ch) is not None:
        ch.event("built")
    ch.done()


class Run:
    """The run child's side: calls ModelNew under the op audit, hands every result to the
    checker and stops at the first one it rejects."""

    def __init__(self, plan, ch):
        # The link first: a run child started ahead of time waits here (torch imported, the
        # device untouched) until its checker is let go.
        self.link = Link(plan["requests"], plan["replies"], sender=True)
        self.rt = Runtime(plan, ch)
        self.ch = ch
        self.plan = plan
        self.audit = OpAuditFactory(self.rt)
        # The reference's input makers before any candidate code runs.
        ref = import_reference(plan)
        self.get_inputs, self.get_init_inputs = ref.get_inputs, ref.get_init_inputs
        sys.modules.pop("kf_reference", None)
        del ref
        self.dir = plan["exchange_dir"]
        self.trials = int(plan["trials"])
        self.backward = bool(plan.get("backward"))
        self.where = "construction"
        self.sent = 0

    def ask(self, request):
        self.link.send(request)
        answer = self.link.receive()
        if answer is None:
            raise CheckerGone()
        return bool(answer.get("ok")), answer

    def call(self, model, args, specs, c, t, backward):
        """One audited, poisoned call; (outs, grads)."""
        rt = self.rt
        rt.synchronize()
        rt.poison(specs)
        mode = self.audit.make()

        def forward(m, a):
            with mode:
                out, ms = rt.timed_call(m, a)
            self.ch.record("C %d %d %.9g" % (c, t, ms))
            return out

        # The backward pass is audited too: gradients computed by PyTorch (autograd of PyTorch
        # ops, or torch calls in a Function's backward) are a fallback like a forward's.
        backward_mode = self.audit.make() if backward else None
        if backward:
            outs, grads = call_with_backward(rt, forward, model, args, self.plan["configs"][c], t, backward_mode,
                                             flatten=lambda v: self.results(v, c))
        else:
            with rt.no_grad():
                outs, grads = self.results(forward(model, args), c), None
        rt.synchronize()
        rt.end_poison()
        for audited, where in ((mode, self.where), (backward_mode, self.where + ", backward pass")):
            if audited is not None and audited.forbidden:
                self.ch.event("torch_ops", config=c, trial=t, ops=audited.forbidden, where=where)
                raise CandidateFailed()
        return outs, grads

    def plain(self, values, c):
        """values, once each is a plain tensor or value: a tensor subclass (or a list or tuple
        subclass) could run the candidate's code, or defer its work, when the harness reads it."""
        rt = self.rt
        for v in values:
            kind = type(v)
            if isinstance(v, rt.Tensor) and kind not in (rt.Tensor, rt.Parameter) or \
                    isinstance(v, (list, tuple, dict)) and kind not in (list, tuple, dict):
                self.ch.event("failure", status="runtime_error",
                              message="ModelNew returned a %s on config %s, a subclass of %s: return plain tensors "
                                      "(and tuples or lists of them); a subclass runs code when the harness reads it"
                                      % (kind.__name__, self.plan["configs"][c]["label"],
                                         "torch.Tensor" if isinstance(v, rt.Tensor) else kind.__mro__[1].__name__))
                raise CandidateFailed()
        return values

    def results(self, value, c):
        """What ModelNew returned, flattened, once it and every piece of it is plain."""
        return self.plain(self.rt.flatten(self.plain([value], c)), c)

    def send(self, make_request):
        """Asks the checker about the results make_request() exports, once more through files
        when the checker cannot open CUDA IPC handles; CandidateFailed when it rejects them."""
        rt = self.rt
        try:
            ok, answer = self.ask(make_request())
            if not ok and answer.get("files") and rt.ipc:
                rt.ipc = False
                rt.shared.clear()
                ok, answer = self.ask(make_request())
        finally:
            rt.shared.clear()
        if not ok:
            raise CandidateFailed()

    def hand_over(self, outs, grads, c, t, pass_name, call=0, of=""):
        rt = self.rt
        if grads is not None:
            self.plain([g for _, g in grads], c)

        def request():
            self.sent += 1
            stem = "n%d" % self.sent
            r = {"kind": "call", "config": c, "trial": t, "pass": pass_name, "call": call, "of": of,
                 "values": [rt.export(o, self.dir, "%s_out%d" % (stem, i)) for i, o in enumerate(outs)]}
            if grads is not None:
                r["grads"] = [{"what": what, "value": rt.export(g, self.dir, "%s_g%d" % (stem, k))}
                              for k, (what, g) in enumerate(grads)]
            return r

        self.send(request)

    def check_mutation(self, args, pristine, c, t):
        rt = self.rt
        for i, (a, p) in enumerate(zip(args, pristine)):
            if isinstance(a, rt.Tensor) and isinstance(p, rt.Tensor):
                now = a.detach()
                if now.shape != p.shape or now.dtype != p.dtype or not rt.equal(now, p):
                    def request():
                        self.sent += 1
                        return {"kind": "mutated", "config": c, "trial": t, "input": i,
                                "tensor": rt.export(now, self.dir, "n%d_mutated%d" % (self.sent, i))}

                    self.send(request)

    def config(self, candidate, c, cfg, rotate):
        """Correctness, timing and the after-timing check of one configuration; its times."""
        rt, ch = self.rt, self.ch
        ok, answer = self.ask({"kind": "config", "config": c})
        if not ok:
            raise CandidateFailed()
        specs = [(getattr(rt.torch, s["dtype"]), int(s["numel"])) for s in answer["specs"]]
        self.where = "construction"
        model = make_model(rt, candidate.ModelNew, self.get_init_inputs, cfg)
        input_sets = BoundedCache(rt)

        def inputs(t):
            got = input_sets.get(t)
            if got is None:
                got = make_inputs(rt, self.get_inputs, cfg, t)
                input_sets.put(t, got, got)
            return got

        # Two passes over the trials on fresh copies, every result kept alive (within
        # keep_bytes) until the configuration is done: a forward that caches results or reuses
        # an output buffer across calls gives a wrong answer on some trial. This replaces
        # KernelBench's candidate -> reference -> candidate order: the reference runs in
        # another process, so its outputs never exist in this one.
        kept = BoundedCache(rt)
        t0 = rt.perf_counter()
        for pass_name in ("first", "second"):
            for t in range(self.trials):
                self.where = "correctness trial %d/%d, %s call" % (t + 1, self.trials, pass_name)
                ch.record("P c %d %d" % (c, t))
                pristine = inputs(t)
                args = [rt.fresh(x) for x in pristine]
                outs, grads = self.call(model, args, specs, c, t, self.backward)
                self.check_mutation(args, pristine, c, t)
                self.hand_over(outs, grads, c, t, pass_name)
                kept.put((pass_name, t), (outs, grads), list(outs) + [g for _, g in grads or []])
                del args, outs, grads
        # Every kept result must still hold what it held when it was handed over: a forward that
        # writes into a tensor it returned earlier (a reused output buffer) changes it.
        for (pass_name, t), (outs, grads) in kept.items.items():
            self.where = "the re-check of trial %d, %s call" % (t + 1, pass_name)
            self.hand_over(outs, grads, c, t, "recheck", of=pass_name)
        del kept
        ch.phase("config %d checked" % c)
        correctness_ms = (rt.perf_counter() - t0) * 1e3
        t1 = rt.perf_counter()
        self.where = "timing"
        with rt.no_grad():
            if rotate:
                # Every input set that is still kept, and at least two.
                sets = [inputs(t) for t in range(self.trials) if t < 2 or input_sets.get(t) is not None]
                times, flush_ms = self.time_rotating(c, model, sets)
            else:
                times, flush_ms = rt.time_loop(ch, c, model, inputs(0))
        ch.record("T %d %d %s" % (c, len(times), " ".join("%.9g" % x for x in times)))
        ch.phase("config %d timed" % c)
        # After timing, on an input set no earlier call saw: a forward that stopped working
        # (or returns a stale result) once it is being timed fails here.
        self.where = "the after-timing check"
        ch.record("P a %d" % c)
        pristine = make_inputs(rt, self.get_inputs, cfg, self.trials)
        args = [rt.fresh(x) for x in pristine]
        outs, _ = self.call(model, args, specs, c, self.trials, backward=False)
        self.hand_over(outs, None, c, self.trials, "after")
        return flush_ms, correctness_ms, (rt.perf_counter() - t1) * 1e3

    def time_rotating(self, c, model, sets):
        """Re-verification timing: every timed call gets fresh copies of one of the known input
        sets in turn, and its result goes to the checker after its time is taken, so a forward
        that returns stale results while being timed fails instead of looking fast."""
        rt, ch = self.rt, self.ch
        warmup = int(rt.timing.get("warmup", 3))
        min_trials = int(rt.timing.get("min_trials", 10))
        max_trials = int(rt.timing.get("max_trials", 100))
        max_seconds = float(rt.timing.get("max_seconds", 1.0))
        ch.record("P w %d" % c)
        for i in range(warmup):
            _, ms = rt.timed_call(model, [rt.fresh(x) for x in sets[i % len(sets)]])
            ch.record("W %d %.9g" % (c, ms))
        ch.record("P t %d" % c)
        times, flush_ms = [], 0.0
        start = rt.perf_counter()
        spent = 0.0  # handing results over is not part of the time budget
        while len(times) < max_trials:
            k = len(times) % len(sets)
            args = [rt.fresh(x) for x in sets[k]]
            flush_ms += rt.flush()
            out, ms = rt.timed_call(model, args)
            times.append(ms)
            h0 = rt.perf_counter()
            self.hand_over(self.results(out, c), None, c, k, "timed", call=len(times))
            spent += rt.perf_counter() - h0
            if len(times) >= min_trials and rt.perf_counter() - start - spent > max_seconds:
                break
        return times, flush_ms


class CheckerGone(Exception):
    pass


def cmd_run(plan, ch):
    import traceback
    import torch  # noqa: F401 - before the link: ahead of time when started early
    run = Run(plan, ch)
    plan["import_status"] = "runtime_error"
    try:
        ok, _ = run.ask({"kind": "start"})  # the checker may time the baseline first
    except CheckerGone:
        ok = False
    if not ok:
        ch.done()
        return
    ch.phase("started")
    candidate = import_candidate(plan, ch)
    if candidate is None:
        ch.done()
        return
    ch.phase("candidate imported")
    flush_total = correctness_ms = timing_ms = 0.0
    configs = plan["configs"]
    c = 0
    try:
        for c, cfg in enumerate(configs):
            f, cm, tm = run.config(candidate, c, cfg, bool(plan.get("rotate_timing_inputs")))
            flush_total, correctness_ms, timing_ms = flush_total + f, correctness_ms + cm, timing_ms + tm
    except CandidateFailed:
        pass
    except CheckerGone:
        ch.event("checker_gone")
    except Exception as e:  # noqa: BLE001 - the candidate's exception is its verdict
        label = configs[c]["label"] if 0 <= c < len(configs) else "?"
        ch.event("failure", status="runtime_error",
                 message="ModelNew raised %s: %s (during %s of config %s)" % (type(e).__name__, trim(e, 600),
                                                                             run.where, label),
                 log=trim("".join(traceback.format_exception(type(e), e, e.__traceback__)), 8000))
    ch.done(flush_total, correctness_ms, timing_ms)


# ----------------------------------------------------------------------------------------------

COMMANDS = {"probe": cmd_probe, "lint": cmd_lint, "warm": cmd_warm, "check": cmd_check, "build": cmd_build,
            "run": cmd_run}


def main(argv):
    if len(argv) != 3 or argv[1] not in COMMANDS:
        sys.exit("usage: kf_torch.py {%s} PLAN.json" % ",".join(COMMANDS))
    ch = Channel()
    with open(argv[2]) as f:
        plan = json.load(f)
    COMMANDS[argv[1]](plan, ch)
    if argv[1] in ("check", "warm", "probe", "lint"):
        # Trusted commands are done once their completion marker is out: tearing down torch and
        # the device context would only keep the parent waiting.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main(sys.argv)

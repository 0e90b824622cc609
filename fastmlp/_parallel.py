"""The one parallel region of the kernels, and kernels called by address from compiled code.

:func:`run_parts` runs ``kernel(q, *args)`` for every part ``q`` of a
``prange``. The kernel is called through its address, not linked into the
parallel region: Numba links every callee's machine code into each caller
and optimises and compiles it again there, and a parallel region is three
callers deep (the parfor body, its gufunc wrapper and the parallel
launcher) on top of the function holding the loop. With the kernel linked,
a cold first fit compiled the whole forward/backward tree of the epoch five
times (about 8 s of LLVM of a 34 s CPU cold fit); called by address, it is
compiled once, in the kernel's own library. The region itself
(:func:`_run_packed`) is compiled once for every kernel: the caller stores
the kernel's address and ``args`` in its frame and hands the region their
address with that of a small entry function that unpacks them.

:func:`call` and :func:`call_lazily` call any kernel by address, for a
function that several compiled functions call.

The address of a kernel compiled for the types of a call is looked up once
per process and call site (:func:`_jit_address`, with the GIL) and kept in
a global of the compiled code; compiled code cached by Numba keeps the
lookup, not an address, so a cached caller works in a new process. Both the
lookup and the call are typed from the same ``args`` in the same function,
so the pointer always has the signature it is called with.
"""

import importlib
import threading
import zlib

import llvmlite.ir as llvmir
import numpy as np
from numba import prange, types
from numba.core import cgutils
from numba.core.imputils import lower_constant
from numba.extending import intrinsic, models, register_model, typeof_impl

from ._config import pjit

_addresses = {}
_lock = threading.Lock()


class Kernel:
    """A compiled per-part function, named for :func:`run_parts` by module and qualified name.

    A Numba dispatcher passed as a value is compiled code's address of the
    Python object, which Numba cannot cache; this reference is a type only.
    """

    def __init__(self, dispatcher):
        self.module = dispatcher.py_func.__module__
        self.qualname = dispatcher.py_func.__qualname__
        self.dispatcher = dispatcher

    def __repr__(self):
        return "Kernel(%s.%s)" % (self.module, self.qualname)


class KernelType(types.Dummy):
    def __init__(self, module, qualname):
        self.module, self.qualname = module, qualname
        super().__init__(name="Kernel(%s.%s)" % (module, qualname))


@typeof_impl.register(Kernel)
def _typeof_kernel(val, c):
    return KernelType(val.module, val.qualname)


register_model(KernelType)(models.OpaqueModel)


@lower_constant(KernelType)
def _lower_kernel(context, builder, ty, pyval):
    return context.get_dummy_value()


def _dispatcher(module, qualname):
    disp = importlib.import_module(module)
    for name in qualname.split("."):
        disp = getattr(disp, name)
    return disp


def _jit_address(module, qualname, sig):
    """Address of the Numba-ABI entry of ``module.qualname`` compiled for ``sig``.

    Compiles the kernel (or loads it from the cache) if this process has
    not yet. Called from compiled code, with the GIL held.
    """
    key = (module, qualname, sig)
    addr = _addresses.get(key)
    if addr is None:
        with _lock:
            disp = _dispatcher(module, qualname)
            disp.compile(sig)
            cres = disp.overloads[sig]
            addr = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
            _addresses[key] = addr
    return addr


def _signature(args):
    return (types.intp,) + tuple(args.types)


def _address_codegen(context, builder, module, qualname, sig):
    """Code loading the address of ``module.qualname`` compiled for ``sig`` (an ``intp``).

    The address is looked up (:func:`_jit_address`) the first time the code
    runs in a process and kept in a global of the caller's module.
    """
    intp = context.get_value_type(types.intp)
    # One slot per caller module and kernel signature, zero in a new process.
    name = "fastmlp.kernel_address.%s.%s.%08x" % (
        module, qualname, zlib.crc32(str(sig).encode()))
    try:
        slot = builder.module.get_global(name)
    except KeyError:
        slot = cgutils.add_global_variable(builder.module, intp, name)
        slot.linkage = "internal"
        slot.initializer = llvmir.Constant(intp, 0)
    cached = builder.load(slot)
    with builder.if_then(cgutils.is_null(builder, cached), likely=False):
        pyapi = context.get_python_api(builder)
        gil = pyapi.gil_ensure()
        # Numba 0.59 (the declared floor) has only import_module_noblock.
        import_module = getattr(pyapi, "import_module", None) or pyapi.import_module_noblock
        mod = import_module(context.insert_const_string(builder.module, __name__))
        fn = pyapi.object_getattr_string(mod, "_jit_address")
        pyapi.decref(mod)
        args_obj = [pyapi.unserialize(pyapi.serialize_object(v))
                    for v in (module, qualname, sig)]
        addr = pyapi.call_function_objargs(fn, args_obj)
        pyapi.decref(fn)
        for v in args_obj:
            pyapi.decref(v)
        # A failed lookup (it cannot fail once typing compiled the
        # kernel) leaves 0, which the caller checks.
        with builder.if_else(cgutils.is_null(builder, addr)) as (failed, found):
            with failed:
                pyapi.err_clear()
            with found:
                builder.store(pyapi.long_as_longlong(addr), slot)
                pyapi.decref(addr)
        pyapi.gil_release(gil)
    return builder.load(slot)


def _compiled(kernel, sig):
    """The return type of ``kernel`` compiled for ``sig`` (typing compiles it)."""
    disp = _dispatcher(kernel.module, kernel.qualname)
    disp.get_call_template(sig, {})
    return disp.overloads[sig].signature.return_type


def _emit_call(context, builder, addr, restype, sig, values):
    fnty = context.call_conv.get_function_type(restype, sig)
    ptr = builder.inttoptr(addr, fnty.as_pointer())
    status, result = context.call_conv.call_function(builder, ptr, restype, sig, values)
    with cgutils.if_unlikely(builder, status.is_error):
        context.call_conv.return_status_propagate(builder, status)
    return result


@intrinsic
def call(typingctx, kernel, args):
    """``kernel(*args)`` from compiled code, the kernel called through its address.

    For a kernel that several compiled functions call (a :class:`Kernel`):
    linked into each, its code would be optimised and compiled to machine
    code again inside each caller (and inside each caller of those); called
    by address it is compiled once, in its own library. Returns what the
    kernel returns; its exceptions propagate as from a direct call. The
    call costs an indirect jump and no inlining across it, so it is for
    kernels that do a block of work per call.
    """
    if not isinstance(kernel, KernelType) or not isinstance(args, types.BaseTuple):
        return None
    sig = tuple(args.types)
    restype = _compiled(kernel, sig)

    def codegen(context, builder, signature, llargs):
        addr = _address_codegen(context, builder, kernel.module, kernel.qualname, sig)
        with cgutils.if_unlikely(builder, cgutils.is_null(builder, addr)):
            context.call_conv.return_user_exc(
                builder, RuntimeError, ("fastmlp: a compiled kernel could not be found",))
        tup = llargs[1]
        values = [builder.extract_value(tup, i) for i in range(len(sig))]
        return _emit_call(context, builder, addr, restype, sig, values)

    return restype(kernel, args), codegen


@intrinsic
def call_lazily(typingctx, kernel, args):
    """:func:`call` for a kernel returning nothing, compiled when first run, not when typed.

    For kernels on a branch that most fits never take (the activations
    beyond scikit-learn's): :func:`call` compiles the kernel when its caller
    is compiled, this one the first time a process reaches the call (or
    loads it from the cache then), so a fit that does not take the branch
    does not compile it. A kernel that fails to compile raises a
    RuntimeError here, its own error printed by Numba's compile of it in
    :func:`_jit_address`.
    """
    if not isinstance(kernel, KernelType) or not isinstance(args, types.BaseTuple):
        return None
    sig = tuple(args.types)

    def codegen(context, builder, signature, llargs):
        addr = _address_codegen(context, builder, kernel.module, kernel.qualname, sig)
        with cgutils.if_unlikely(builder, cgutils.is_null(builder, addr)):
            context.call_conv.return_user_exc(
                builder, RuntimeError,
                ("fastmlp: a compiled kernel could not be compiled or found",))
        tup = llargs[1]
        values = [builder.extract_value(tup, i) for i in range(len(sig))]
        _emit_call(context, builder, addr, types.none, sig, values)
        return context.get_dummy_value()

    return types.none(kernel, args), codegen


@intrinsic
def fetch_add(typingctx, counter, index, value):
    """``counter[index] += value`` as one atomic step; returns the value before.

    Parts that take their work from a shared counter (the next block of
    rows) instead of a fixed share: a part whose thread the machine
    deschedules then takes fewer blocks, where a fixed share keeps the other
    threads waiting for it. ``counter`` is a 1-D integer array.
    """
    if not (isinstance(counter, types.Array) and counter.ndim == 1
            and isinstance(counter.dtype, types.Integer)
            and isinstance(index, types.Integer) and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, signature, llargs):
        aryty, indexty, valuety = signature.args
        ary = context.make_array(aryty)(context, builder, llargs[0])
        i = context.cast(builder, llargs[1], indexty, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [i], wraparound=False)
        v = context.cast(builder, llargs[2], valuety, aryty.dtype)
        return builder.atomic_rmw("add", ptr, v, "seq_cst")

    return counter.dtype(counter, index, value), codegen


def _entry_codegen(context, builder, sig, packed_type):
    """The per-part entry of ``sig`` in the caller's module: ``entry(q, packed)``.

    ``packed`` is the address of a ``{kernel address, args}`` struct of
    type ``packed_type`` in the caller's frame; the entry calls the kernel
    with ``(q, *args)`` and passes its status on. It has the Numba ABI of a
    function of ``(intp, intp)`` returning nothing, the one signature
    :func:`_run_packed` calls, whatever the kernel's arguments.
    """
    name = "fastmlp.part_entry.%08x" % zlib.crc32(str(sig).encode())
    module = builder.module
    try:
        return module.get_global(name)
    except KeyError:
        pass
    entry_sig = (types.intp, types.intp)
    fn = llvmir.Function(module, context.call_conv.get_function_type(types.none, entry_sig),
                         name)
    fn.linkage = "internal"
    context.call_conv.decorate_function(fn, ["q", "packed"], entry_sig)
    b = llvmir.IRBuilder(fn.append_basic_block("entry"))
    q, packed = context.call_conv.get_arguments(fn)
    struct = b.load(b.inttoptr(packed, packed_type.as_pointer()))
    addr = b.extract_value(struct, 0)
    tup = b.extract_value(struct, 1)
    values = [q] + [b.extract_value(tup, i) for i in range(len(sig) - 1)]
    _emit_call(context, b, addr, types.none, sig, values)
    context.call_conv.return_native_none(b)
    return fn


@intrinsic
def run_parts(typingctx, n_parts, kernel, args):
    """``kernel(q, *args)`` for ``q`` in ``range(n_parts)``, on Numba's threads.

    ``kernel`` is a :class:`Kernel`, a compiled function returning nothing;
    each part works in its own slice of the arrays in ``args`` (the parts
    run at once). With one Numba thread the parts run one after the other,
    in order. For compiled code only.

    The parallel region is compiled once for every kernel and every type of
    ``args``: it is :func:`_run_packed`, which calls ``entry(q, packed)``
    for each part, where ``packed`` is the address of the kernel's address
    and ``args`` stored in the caller's frame and ``entry`` a small function
    of the caller's module that unpacks them and calls the kernel (see
    :func:`_entry_codegen`). A region per kernel and type of ``args`` was
    about 1-1.5 s of compile each (two for an adam fit, three for the
    RBM's), every one of them again for float32.
    """
    if not (isinstance(n_parts, types.Integer) and isinstance(kernel, KernelType)
            and isinstance(args, types.BaseTuple)):
        return None
    sig = _signature(args)
    if _compiled(kernel, sig) != types.none:
        raise TypeError("a per-part kernel returns nothing (%s)" % kernel.qualname)
    _compiled(_RUN_PACKED, _RUN_SIG)

    def codegen(context, builder, signature, llargs):
        n, _, tup = llargs
        n = context.cast(builder, n, signature.args[0], types.intp)
        addr = _address_codegen(context, builder, kernel.module, kernel.qualname, sig)
        run = _address_codegen(context, builder, _RUN_PACKED.module, _RUN_PACKED.qualname,
                               _RUN_SIG)
        with cgutils.if_unlikely(builder, builder.or_(cgutils.is_null(builder, addr),
                                                      cgutils.is_null(builder, run))):
            context.call_conv.return_user_exc(
                builder, RuntimeError, ("fastmlp: a compiled kernel could not be found",))
        packed_type = llvmir.LiteralStructType([addr.type, tup.type])
        slot = cgutils.alloca_once(builder, packed_type)
        struct = cgutils.make_anonymous_struct(builder, [addr, tup], packed_type)
        builder.store(struct, slot)
        entry = _entry_codegen(context, builder, sig, packed_type)
        intp = context.get_value_type(types.intp)
        _emit_call(context, builder, run, types.none, _RUN_SIG,
                   [n, builder.ptrtoint(entry, intp), builder.ptrtoint(slot, intp)])
        return context.get_dummy_value()

    return types.none(n_parts, kernel, args), codegen


@intrinsic
def _call_entry(typingctx, entry, q, packed):
    """``entry(q, packed)`` for an entry made by :func:`_entry_codegen`."""
    if not all(isinstance(t, types.Integer) for t in (entry, q, packed)):
        return None

    def codegen(context, builder, signature, llargs):
        values = [context.cast(builder, v, t, types.intp)
                  for v, t in zip(llargs[1:], signature.args[1:])]
        _emit_call(context, builder, llargs[0], types.none, (types.intp, types.intp), values)
        return context.get_dummy_value()

    return types.none(entry, q, packed), codegen


@pjit(from_python=False)
def _run_packed(n_parts, entry, packed):
    """The one parallel region: ``entry(q, packed)`` for ``q`` in ``range(n_parts)``."""
    for q in prange(n_parts):
        # np.intp: the prange index is uint64 in the threads' code.
        _call_entry(entry, np.intp(q), packed)


_RUN_PACKED = Kernel(_run_packed)
_RUN_SIG = (types.intp, types.intp, types.intp)

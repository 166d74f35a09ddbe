"""Every private torch entry point torchshade.fake uses, in one place, with why.

torch offers no public API for these; any release may move or change them.
When torch is upgraded, this is the file to check (then run the fake tests,
whose conformance subset compares with eager and torch's own fake mode).
Modules of this package use these names, never ``torch._C`` directly.
"""

from __future__ import annotations

import torch
import torch._library.fake_impl
import torch._library.simple_registry
import torch._meta_registrations
from torch._decomp import decomposition_table as decomposition_table  # aten decompositions: the op semantics with symbolic sizes
from torch._decomp import meta_table as meta_table  # torch's Python meta kernels, by op
from torch._prims_common import suggest_memory_format as suggest_memory_format  # eager's layout rule for convolution outputs

# -- running a kernel under our mode without re-entering it ----------------------
DisableTorchDispatch = torch._C._DisableTorchDispatch  # call an op below every dispatch mode
AutoDispatchBelowADInplaceOrView = torch._C._AutoDispatchBelowADInplaceOrView  # make a view without recording its base
PreserveDispatchKeyGuard = torch._C._PreserveDispatchKeyGuard  # restore the TLS dispatch keys after a meta run
set_meta_in_tls_dispatch_include = torch._C._set_meta_in_tls_dispatch_include  # "run on meta": add Meta to the TLS keys
DisablePythonDispatcher = torch._C._DisablePythonDispatcher  # ops with C++ kernels only, without its per-op lookups
EnablePythonDispatcher = torch._C._EnablePythonDispatcher  # Python meta kernels and decompositions see symbolic sizes
push_on_torch_dispatch_stack = torch._C._push_on_torch_dispatch_stack  # re-enter our mode for decompositions
pop_torch_dispatch_stack = torch._C._pop_torch_dispatch_stack  # leave it again
len_torch_dispatch_stack = torch._C._len_torch_dispatch_stack  # other modes on the stack belong in the cache key
dispatch_tls_is_dispatch_key_included = torch._C._dispatch_tls_is_dispatch_key_included  # is the Python dispatcher on (cache key)
DispatchKey = torch._C.DispatchKey  # names of dispatch keys for the query above
get_default_device = torch._C._get_default_device  # the default device is part of a cache key
disabled_torch_function_impl = torch._C._disabled_torch_function_impl  # FakeTensor skips __torch_function__ wrapping

# -- our mode as torch's FAKE dispatch mode ------------------------------------------
TorchDispatchModeKey = torch._C._TorchDispatchModeKey  # the FAKE slot C++ looks up (e.g. for lifting constants)
set_dispatch_mode = torch._C._set_dispatch_mode  # put our mode in that slot
unset_dispatch_mode = torch._C._unset_dispatch_mode  # and take whatever was there out
only_lift_cpu_tensors = torch._C._only_lift_cpu_tensors  # torch.tensor(...) inside the mode lifts CPU data only
set_only_lift_cpu_tensors = torch._C._set_only_lift_cpu_tensors  # (set while the mode is active, restored after)
ensureCUDADeviceGuardSet = torch._C._ensureCUDADeviceGuardSet  # fake CUDA on CPU-only builds needs a device guard

# -- which kernel an op has ---------------------------------------------------------------
dispatch_has_kernel_for_dispatch_key = torch._C._dispatch_has_kernel_for_dispatch_key  # CompositeImplicitAutograd?
dispatch_has_computed_kernel_for_dispatch_key = torch._C._dispatch_has_computed_kernel_for_dispatch_key  # any Meta kernel?
decompositions_module = torch._decomp.decompositions  # torch's own decompositions (vs. ones users registered)
custom_op_registry = torch._library.simple_registry.singleton  # register_fake impls of custom ops
fake_impl = torch._library.fake_impl  # the ctx getter a fake impl calls (new_dynamic_size)
meta_registrations = torch._meta_registrations  # device_hint, patched only while our kernels run (_device_hint.py)

# -- tensor bits no public API sets --------------------------------------------------------
set_conj = torch._C._set_conj  # a cache hit restores the conjugate bit
set_neg = torch._C._set_neg  # and the negative bit
unsafe_set_version_counter = torch._C._autograd._unsafe_set_version_counter  # a converted tensor keeps the real one's version

# -- convolution layout rules (eager's, asked with fake tensors) ----------------------------
select_conv_backend = torch._C._select_conv_backend  # which backend eager would pick
conv_determine_backend_memory_format = torch._C._conv_determine_backend_memory_format  # and the layout it gives

//! What a training run asks of the machine: the device of a backend, and whether a batch's
//! activations fit in memory (CPU backends allocate in host memory, and a failed allocation
//! aborts the process without a message, so the batch size is checked before the first step).

use burn::tensor::Device;
use shared::arch::{Architecture, LayerKind};

use super::config::BackendKind;
use super::trainer::TrainError;

/// The inference device for a backend (`.autodiff()` it to train).
pub fn device_for(backend: BackendKind) -> Result<Device, TrainError> {
    match backend {
        BackendKind::Flex => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(not(feature = "wgpu"))]
        BackendKind::Wgpu => Err(TrainError::Backend("wgpu")),
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => Ok(Device::cuda(0usize)),
        #[cfg(not(feature = "cuda"))]
        BackendKind::Cuda => Err(TrainError::Backend("cuda")),
    }
}

/// `f32` values kept alive per image by one training step (forward activations saved for the
/// backward pass and their gradients), estimated from the architecture: every conv keeps its
/// output three times (conv, BatchNorm, ReLU), pools and dense layers once or twice, and the
/// backward pass roughly doubles it.
pub fn training_floats_per_image(arch: &Architecture) -> usize {
    let Ok(summary) = arch.summary() else {
        return 0;
    };
    let mut shape = arch.input;
    let mut floats = 0;
    for (layer, out) in arch.layers.iter().zip(&summary) {
        floats += match &layer.kind {
            LayerKind::Conv(_) => 3 * out.output.len(),
            LayerKind::MaxPool(_) | LayerKind::Flatten => out.output.len(),
            LayerKind::Dense { .. } => 2 * out.output.len(),
            LayerKind::Inception(branches) => {
                let mut n = out.output.len();
                for b in branches {
                    let mut s = shape;
                    if let Some(p) = &b.pool
                        && let Ok((o, _)) = LayerKind::MaxPool(*p).infer(&layer.name, s)
                    {
                        n += o.len();
                        s = o;
                    }
                    for c in &b.convs {
                        if let Ok((o, _)) = LayerKind::Conv(*c).infer(&layer.name, s) {
                            n += 3 * o.len();
                            s = o;
                        }
                    }
                }
                n
            }
        };
        if layer.dropout > 0.0 {
            floats += 2 * out.output.len();
        }
        shape = out.output;
    }
    2 * floats
}

/// Memory the OS reports as available, in bytes (Linux `/proc/meminfo`); `None` elsewhere.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses a batch size whose training activations would not fit in host memory (CPU
/// backends allocate there, and an allocation failure aborts the process without a message).
pub fn check_batch_memory(arch: &Architecture, batch_size: usize, backend: BackendKind) -> Result<(), TrainError> {
    if backend != BackendKind::Flex {
        return Ok(());
    }
    let Some(available) = available_memory() else {
        return Ok(());
    };
    let per_image = training_floats_per_image(arch) as u64 * 4;
    let params = arch.num_params().unwrap_or(0) as u64 * 4 * 4; // weights, grads, Adam moments
    let needed = per_image.saturating_mul(batch_size as u64).saturating_add(params);
    let budget = available / 10 * 8;
    if needed > budget {
        let suggestion = (budget.saturating_sub(params) / per_image.max(1)).max(1) as usize;
        return Err(TrainError::OutOfMemory {
            batch_size,
            needed_mib: needed >> 20,
            available_mib: available >> 20,
            suggestion,
        });
    }
    Ok(())
}

/// Keeps freed memory in the process for the next training step (glibc only; a no-op
/// elsewhere).
///
/// A step allocates and frees every activation and gradient, blocks of up to tens of
/// megabytes. By default glibc serves blocks above a moving threshold with `mmap` and returns
/// them and the top of the heap to the kernel on `free`, so the next step gets them back as
/// fresh pages: a page fault and a zeroing per 4 KiB, about a tenth of a step on this
/// network. Serving every block from the heap (no `mmap` at all: the threshold's maximum,
/// 32 MiB, is below the largest activations of a batch of 64) and raising the trim threshold
/// to 1 GiB makes the heap keep them (`host bench-train`: README, "Training speed").
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; it is called before any other thread
    // allocates (the start of `main`).
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Makes the CPU treat subnormal floats as zero, as inputs and as results, on the calling
/// thread and on every thread of rayon's global pool (the flex backend's and the fused
/// optimiser's workers); `false` restores IEEE gradual underflow. x86-64: MXCSR's FTZ and DAZ
/// bits; aarch64: FPCR's FZ bit; a no-op on other CPU architectures.
///
/// Why: a trained network's Adam moments fill with subnormals (39% of `wild-cpu22`'s after 9
/// epochs: squared gradients below 1.2e-38), and x86 arithmetic that reads or writes one
/// takes a slow microcode path. From that checkpoint a training step took 12.4-13.0 ms an
/// image with them and 7.5 ms flushed, as from a fresh model (`host bench-train --from RUN
/// [--keep-denormals]`; README, "Training speed"): the run's epochs had grown from 188 s to
/// 320 s. Flushing loses nothing the update can see: a moment that small moves a weight by
/// less than 1e-33 beside Adam's epsilon of 1e-5. TensorFlow's CPU kernels run with the same
/// flags.
///
/// Call it at the start of `main`. A thread created afterwards inherits its creator's setting
/// (Linux copies the control register into a new thread); rayon's pool is set explicitly
/// because it may have been started before.
pub fn flush_denormals(on: bool) {
    set_flush_on_this_thread(on);
    rayon::broadcast(|_| set_flush_on_this_thread(on));
}

/// [`flush_denormals`] on the calling thread alone; returns whether this CPU architecture has
/// the switch.
#[cfg(target_arch = "x86_64")]
pub(super) fn set_flush_on_this_thread(on: bool) -> bool {
    /// MXCSR's flush-to-zero (results) and denormals-are-zero (inputs) bits.
    const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);
    let mut csr: u32 = 0;
    // SAFETY: stmxcsr/ldmxcsr read and write this thread's SSE control register (SSE is part
    // of x86-64); only the two flush bits change, the rounding mode and exception masks stay.
    unsafe {
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
        csr = if on { csr | FTZ_DAZ } else { csr & !FTZ_DAZ };
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags, readonly));
    }
    true
}

#[cfg(target_arch = "aarch64")]
pub(super) fn set_flush_on_this_thread(on: bool) -> bool {
    /// FPCR's flush-to-zero bit (inputs and results, single and double precision).
    const FZ: u64 = 1 << 24;
    let mut fpcr: u64;
    // SAFETY: mrs/msr read and write this thread's floating-point control register; only the
    // flush bit changes.
    unsafe {
        std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
        fpcr = if on { fpcr | FZ } else { fpcr & !FZ };
        std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags));
    }
    true
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(super) fn set_flush_on_this_thread(_on: bool) -> bool {
    false
}

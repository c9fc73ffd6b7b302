//! x87 FPU, MMX and SSE register state (SDM Vol. 1, chapters 8-11).

/// The floating-point and vector state FXSAVE/XSAVE cover.
#[derive(Clone, Debug, Default)]
pub(crate) struct FpuState {}

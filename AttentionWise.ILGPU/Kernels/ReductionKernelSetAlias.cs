// The group reduction set's former name, for the callers outside the reductions (AttentionHeads, LogSoftmaxNllLoss)
// until they name GpuReductionKernelSet themselves; delete this file then.
global using ReductionKernelSet = AttentionWise.Kernels.GpuReductionKernelSet;

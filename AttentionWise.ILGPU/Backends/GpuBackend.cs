using AttentionWise.Kernels;

namespace AttentionWise.Backends;

/// <summary>
/// The ops of cuda, opencl and the ILGPU simulator (cpu-sim): kernels shaped for a GPU (grid-stride loops, groups,
/// shared memory), indexing memory through <see cref="DeviceView"/>, launch shapes chosen from the device's geometry
/// (a recorder's target GPU's where one is given).
/// </summary>
internal sealed partial class GpuBackend : Backend
{
    public GpuBackend(ComputeDevice device)
        : base(device)
    {
    }

    public override BackendFamily Family => BackendFamily.Gpu;

    public override string Describe() =>
        $"GPU kernels ({Device.Multiprocessors} multiprocessors, {Device.MaxThreads} resident threads, warp {Device.WarpSize})";
}

using AttentionWise.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The attention heads' plane kernels and the weight gradients' group reduction (GpuHeadPlaneKernels), explicitly
/// grouped, for GPU-shaped devices.</summary>
[KernelFamily(BackendFamily.Gpu)]
internal sealed class GpuHeadPlaneKernelSet : IKernelSet<GpuHeadPlaneKernelSet>
{
    private GpuHeadPlaneKernelSet(KernelLoader a)
    {
        SoftmaxPlanes = a.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux, HeadPlanes>(
            GpuHeadPlaneKernels.SoftmaxPlanes);
        HeadOutputPlanes = a.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux, HeadPlanes>(
            GpuHeadPlaneKernels.HeadOutputPlanes);
        BackwardSumsPlanes = a.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux,
            HeadPlanes>(GpuHeadPlaneKernels.BackwardSumsPlanes);
        CoefficientsPlanes = a.Load<Index1D, ArrayView<float>, HeadDims, HeadAux>(GpuHeadPlaneKernels.CoefficientsPlanes);
        BackwardInputPlanes = a.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, HeadDims, HeadAux, HeadBackwardLayout, HeadPlanes>(GpuHeadPlaneKernels.BackwardInputPlanes);
        SoftmaxesPlanes = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux, HeadPlanes>(
            GpuHeadPlaneKernels.SoftmaxesPlanes);
        LineMoments = a.Load<Index1D, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux, int>(GpuHeadPlaneKernels.LineMoments);
        PlaneMoments = a.Load<Index1D, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux>(GpuHeadPlaneKernels.PlaneMoments);
        WeightGradientsGroup = a.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(
            GpuHeadPlaneKernels.WeightGradientsGroup);
    }

    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux, HeadPlanes> SoftmaxPlanes { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux, HeadPlanes> HeadOutputPlanes { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux,
        HeadPlanes> BackwardSumsPlanes { get; }
    public Action<Index1D, ArrayView<float>, HeadDims, HeadAux> CoefficientsPlanes { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        HeadDims, HeadAux, HeadBackwardLayout, HeadPlanes> BackwardInputPlanes { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux, HeadPlanes> SoftmaxesPlanes { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux, int> LineMoments { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux> PlaneMoments { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> WeightGradientsGroup { get; }

    public static GpuHeadPlaneKernelSet Load(KernelLoader loader) => new(loader);
}

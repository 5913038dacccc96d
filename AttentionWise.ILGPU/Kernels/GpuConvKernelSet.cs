using AttentionWise.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The implicit-GEMM convolution kernels of GPU-shaped devices (<see cref="GpuGemmKernels"/>, explicitly
/// grouped), and the fixed-order group combine of split weight gradients (<see cref="GpuPartialSumKernels"/>, also used
/// by the dense layer), loaded once per device.</summary>
[KernelFamily(BackendFamily.Gpu)]
internal sealed class GpuConvKernelSet : IKernelSet<GpuConvKernelSet>
{
    private GpuConvKernelSet(KernelLoader loader)
    {
        WeightGradCombineGroup = loader.LoadGrouped<ArrayView<float>, ArrayView<float>, int, int>(GpuPartialSumKernels.WeightGradCombineGroup);
        GemmWide = LoadGemm(loader, GpuGemmKernels.GemmWide);
        GemmNarrow1 = LoadGemm(loader, GpuGemmKernels.GemmNarrow<OneRow>);
        GemmNarrow2 = LoadGemm(loader, GpuGemmKernels.GemmNarrow<TwoRows>);
        GemmNarrow3 = LoadGemm(loader, GpuGemmKernels.GemmNarrow<ThreeRows>);
        GemmNarrow4 = LoadGemm(loader, GpuGemmKernels.GemmNarrow<FourRows>);
        WeightGradWide = LoadWgrad(loader, GpuGemmKernels.WeightGradWide);
        WeightGradNarrow1 = LoadWgrad(loader, GpuGemmKernels.WeightGradNarrow<OneRow>);
        WeightGradNarrow2 = LoadWgrad(loader, GpuGemmKernels.WeightGradNarrow<TwoRows>);
        WeightGradNarrow3 = LoadWgrad(loader, GpuGemmKernels.WeightGradNarrow<ThreeRows>);
        WeightGradNarrow4 = LoadWgrad(loader, GpuGemmKernels.WeightGradNarrow<FourRows>);
    }

    /// <summary>gw += Σ_s partials[s] in a fixed order, by groups of lanes × rows (split weight gradients: the
    /// convolutions' and the dense layer's; launched through <see cref="GpuPartialSums"/>).</summary>
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> WeightGradCombineGroup { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuGemmGeometry> GemmWide { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuGemmGeometry> GemmNarrow1 { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuGemmGeometry> GemmNarrow2 { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuGemmGeometry> GemmNarrow3 { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuGemmGeometry> GemmNarrow4 { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuWgradGeometry> WeightGradWide { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuWgradGeometry> WeightGradNarrow1 { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuWgradGeometry> WeightGradNarrow2 { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuWgradGeometry> WeightGradNarrow3 { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuWgradGeometry> WeightGradNarrow4 { get; }

    public static GpuConvKernelSet Load(KernelLoader loader) => new(loader);

    private static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuGemmGeometry> LoadGemm(
        KernelLoader loader, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuGemmGeometry> kernel) =>
        loader.LoadGrouped(kernel);

    private static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuWgradGeometry> LoadWgrad(
        KernelLoader loader, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, GpuWgradGeometry> kernel) =>
        loader.LoadGrouped(kernel);
}

using AttentionWise.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The cpu device's register-tiled convolution kernels (<see cref="HostConvKernels"/>), loaded once per device and
/// run by the host backend when a convolution takes neither its BLAS nor its vectorised path.</summary>
[KernelFamily(BackendFamily.Host)]
internal sealed class HostConvKernelSet : IKernelSet<HostConvKernelSet>
{
    private HostConvKernelSet(KernelLoader loader)
    {
        WeightGradCombine = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, int, LaunchLayout>(PartialSumKernels.WeightGradCombine<HostView>);
        Pad = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, HostPadGeometry>(HostConvKernels.Pad<HostView>);
        BlockWeights = loader.Load<Index2D, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(HostConvKernels.BlockWeights<HostView>);
        ForwardS1C2P4 = LoadForward(loader, HostConvKernels.ForwardS1C2P4<HostView>);
        ForwardS1C2P4K3 = LoadForward(loader, HostConvKernels.ForwardS1C2P4K3<HostView>);
        ForwardS1C1P6 = LoadForward(loader, HostConvKernels.ForwardS1C1P6<HostView>);
        ForwardS1C1P8K3 = LoadForward(loader, HostConvKernels.ForwardS1C1P8K3<HostView>);
        ForwardC4P2 = LoadForward(loader, HostConvKernels.ForwardC4P2<HostView>);
        ForwardC4P3 = LoadForward(loader, HostConvKernels.ForwardC4P3<HostView>);
        WeightGradS1C3K3 = LoadWeightGrad(loader, HostConvKernels.WeightGradS1C3K3<HostView>);
        WeightGradS1C1I2K3 = LoadWeightGrad(loader, HostConvKernels.WeightGradS1C1I2K3<HostView>);
        WeightGradC4K2 = LoadWeightGrad(loader, HostConvKernels.WeightGradC4K2<HostView>);
        BackwardInputPhased = loader.Load<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostPhaseGeometry>(
            HostConvKernels.BackwardInputPhased<HostView>);
    }

    /// <summary>gw += Σ_s partials[s] in order (the split weight gradient).</summary>
    public Action<Index1D, ArrayView<float>, ArrayView<float>, int, LaunchLayout> WeightGradCombine { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, HostPadGeometry> Pad { get; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, int, int, int, int, int> BlockWeights { get; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, int> ForwardS1C2P4 { get; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, int> ForwardS1C2P4K3 { get; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, int> ForwardS1C1P6 { get; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, int> ForwardS1C1P8K3 { get; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, int> ForwardC4P2 { get; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, int> ForwardC4P3 { get; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, HostWeightGradRange> WeightGradS1C3K3 { get; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, HostWeightGradRange> WeightGradS1C1I2K3 { get; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, HostWeightGradRange> WeightGradC4K2 { get; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostPhaseGeometry> BackwardInputPhased { get; }

    public static HostConvKernelSet Load(KernelLoader loader) => new(loader);

    private static Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, int> LoadForward(
        KernelLoader loader, Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, int> kernel) =>
        loader.Load(kernel);

    private static Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, HostWeightGradRange> LoadWeightGrad(
        KernelLoader loader, Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, HostConvGeometry, HostWeightGradRange> kernel) =>
        loader.Load(kernel);
}

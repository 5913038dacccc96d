using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The attention heads' per-row kernels and head-batchnorm kernels (HeadRowKernels, HeadNormKernels), closed
/// with each family's kernel view: the cpu device runs them with its host passes off; GPU-shaped devices for planes too
/// large for the plane kernels' shared memory, and for the steps the plane kernels leave to them.</summary>
internal sealed class HeadRowKernelSet<TView> : IKernelSet<HeadRowKernelSet<TView>>
    where TView : struct, IKernelView<TView>
{
    private HeadRowKernelSet(KernelLoader a)
    {
        PackWeights = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, int>(HeadRowKernels.PackWeights<TView>);
        RowSoftmax = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux>(
            HeadRowKernels.RowSoftmax<TView>);
        ImageFlags = a.Load<Index1D, ArrayView<float>, HeadDims, HeadAux>(HeadRowKernels.ImageFlags<TView>);
        ColumnSoftmax = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux>(
            HeadRowKernels.ColumnSoftmax<TView>);
        PairPartialSums = a.Load<Index1D, ArrayView<float>, ArrayView<float>, PairSumDims>(HeadNormKernels.PairPartialSums<TView>);
        HeadNormForwardStats = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadNormConfig>(
            HeadNormKernels.HeadNormForwardStats<TView>);
        HeadOutput = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux>(
            HeadRowKernels.HeadOutput<TView>);
        BackwardSums = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux>(
            HeadRowKernels.BackwardSums<TView>);
        HeadNormBackwardStats = a.Load<Index1D, ArrayView<float>, ArrayView<float>, HeadNormConfig>(HeadNormKernels.HeadNormBackwardStats<TView>);
        SoftmaxCoefficients = a.Load<Index1D, ArrayView<float>, HeadDims, HeadAux>(HeadNormKernels.SoftmaxCoefficients<TView>);
        BackwardInput = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux, HeadBackwardLayout>(HeadRowKernels.BackwardInput<TView>);
        WeightGradients = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, int, int>(HeadRowKernels.WeightGradients<TView>);
        Relevance = a.Load<Index1D, ArrayView<float>, ArrayView<float>, HeadDims>(HeadRowKernels.Relevance<TView>);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> PackWeights { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux> RowSoftmax { get; }
    public Action<Index1D, ArrayView<float>, HeadDims, HeadAux> ImageFlags { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux> ColumnSoftmax { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, PairSumDims> PairPartialSums { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadNormConfig> HeadNormForwardStats { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux> HeadOutput { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux> BackwardSums { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, HeadNormConfig> HeadNormBackwardStats { get; }
    public Action<Index1D, ArrayView<float>, HeadDims, HeadAux> SoftmaxCoefficients { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, HeadDims, HeadAux, HeadBackwardLayout> BackwardInput { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> WeightGradients { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, HeadDims> Relevance { get; }

    public static HeadRowKernelSet<TView> Load(KernelLoader loader) => new(loader);
}

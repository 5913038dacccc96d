using AttentionWise.Kernels;

namespace AttentionWise.Ops;

/// <summary>Deterministic reductions (<see cref="Reductions"/> and <see cref="ChannelReductions"/> check the shapes and
/// give the partials): a fixed structure that depends on the shape only (and on GPU-shaped devices on the group size),
/// then a fixed-order combine. No atomics.</summary>
internal interface IReductions
{
    /// <summary>result[index] = scale · Σ t. <paramref name="partials"/> holds one float per block of
    /// <see cref="ReductionKernels.SumBlockLength"/> elements (at least one).</summary>
    void SumTo(DeviceTensor t, DeviceTensor result, int index, float scale, DeviceTensor partials);

    /// <summary>sumA[c] (+)= Σ a over channel c and, with <paramref name="withDot"/>, sumDot[c] (+)= Σ a·(b − shift[c]);
    /// without it b, shift and sumDot are not read or written. partials: [K, 2, C].</summary>
    void ChannelSums(DeviceTensor a, DeviceTensor b, DeviceTensor shift, DeviceTensor sumA, DeviceTensor sumDot, ChannelGeometry geo, bool withDot,
        bool accumulate, DeviceTensor partials);

    /// <summary>mean[c] and biased variance[c] over channel c. partials: [K, 2, C].</summary>
    void MeanVariance(DeviceTensor x, DeviceTensor mean, DeviceTensor variance, ChannelGeometry geo, DeviceTensor partials);
}

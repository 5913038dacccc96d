using ILGPU.Algorithms;

namespace AttentionWise.Kernels;

/// <summary>
/// Batch normalisation's statistics of one channel, finalised in one place for every kernel that normalises by them
/// (BatchNorm2d's coefficients, the attention heads' batchnorm): in training the batch's mean and biased variance are
/// used and the running statistics move towards them, running = (1 − momentum)·running + momentum·batch (the variance
/// unbiased by count/(count − 1)); in evaluation the running statistics are used. The inverse standard deviation is
/// XMath.Rsqrt(variance + eps): 1/√ rounded twice (a square root, then a division) on the cpu device and the simulator,
/// the hardware's reciprocal square root on CUDA and OpenCL.
/// </summary>
internal readonly struct BatchNormStatistics
{
    private BatchNormStatistics(float mean, float invStd)
    {
        Mean = mean;
        InvStd = invStd;
    }

    /// <summary>The mean the channel is normalised with.</summary>
    public readonly float Mean;

    /// <summary>1/√(variance + eps) (XMath.Rsqrt) of the variance the channel is normalised with.</summary>
    public readonly float InvStd;

    /// <summary>Finalises channel <paramref name="c"/>'s statistics (see the type): in training (training ≠ 0) from
    /// <paramref name="batchMean"/>, <paramref name="batchVariance"/> (biased) and <paramref name="unbias"/>
    /// (count/(count − 1)), moving the running statistics; in evaluation from the running statistics.</summary>
    public static BatchNormStatistics Finalize<TView>(TView runningMean, TView runningVar, int c, int training, float batchMean, float batchVariance,
        float unbias, float momentum, float eps)
        where TView : struct, IKernelView<TView>
    {
        float mean, variance;
        if (training != 0)
        {
            mean = batchMean;
            variance = batchVariance;
            runningMean[c] = Running(runningMean[c], mean, momentum);
            runningVar[c] = Running(runningVar[c], variance * unbias, momentum);
        }
        else
        {
            mean = runningMean[c];
            variance = runningVar[c];
        }
        return new BatchNormStatistics(mean, InverseStd(variance, eps));
    }

    /// <summary>A running statistic after one batch: (1 − momentum)·running + momentum·batch (as PyTorch).</summary>
    public static float Running(float running, float batch, float momentum) => (1f - momentum) * running + momentum * batch;

    /// <summary>The inverse standard deviation 1/√(variance + eps) (XMath.Rsqrt: 1/√ rounded twice in .NET code, the
    /// hardware's reciprocal square root on CUDA and OpenCL). The cpu device's vectorised attention heads, which compute
    /// their sums in double on the host, finalise with this and <see cref="Running"/> too.</summary>
    public static float InverseStd(float variance, float eps) => XMath.Rsqrt(variance + eps);

    /// <summary>The batch mean Σx/count and biased variance max(Σx²/count − mean², 0) from a channel's sums.</summary>
    public static (float Mean, float Variance) FromSums(float sum, float sumSquares, int count)
    {
        float inv = 1f / count;
        float mean = sum * inv;
        return (mean, XMath.Max(sumSquares * inv - mean * mean, 0f));
    }

    /// <summary>count/(count − 1) in single precision, 1 for a count of 1 or less: the factor that unbiases a variance
    /// computed on the device from its count.</summary>
    public static float Unbias(int count) => count > 1 ? (float)count / (count - 1) : 1f;
}
